import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ControlPlane, resolveBinaries } from '../../src/local/control-plane/index.ts';
import { eventually } from '../support/cluster.ts';
import { ROOT } from '../support/paths.ts';

/** Running, and not a zombie waiting for the container's init to reap it. */
function alive(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] !== 'Z';
  } catch {
    return false;
  }
}

describe('control plane lifecycle', () => {
  it('stops every component and removes its directory', async () => {
    const binaries = resolveBinaries();
    assert.ok(!('missing' in binaries), 'binaries are built by npm test before this runs');
    const controlPlane = await new ControlPlane({ binaries, log: () => undefined }).start();
    const pids = controlPlane.pids;
    assert.equal(pids.length, 4);
    assert.equal((await controlPlane.get('/readyz')).status, 200);
    await controlPlane.stop();
    assert.deepEqual(pids.filter(alive), []);
    assert.equal(existsSync(controlPlane.dir), false);
  });

  it('kills its components when the process that started it crashes', async () => {
    const script = join(ROOT, 'tests', 'fixtures', 'crash-with-control-plane.ts');
    const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    assert.notEqual(code, 0, 'the fixture should crash');
    const pids = (JSON.parse(stdout.trim().split('\n').at(-1)!) as number[]);
    assert.equal(pids.length, 4);
    await eventually(() => pids.filter(alive).length === 0, `components ${pids.join(', ')} to be gone`, 10_000);
  });
});
