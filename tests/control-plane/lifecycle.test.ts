import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ControlPlane, resolveBinaries } from '../../src/local/control-plane/index.ts';
import { eventually } from '../support/cluster.ts';
import { alive } from '../support/processes.ts';
import { ROOT } from '../support/paths.ts';

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
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    assert.notEqual(code, 0, 'the fixture should crash');
    const pids = JSON.parse(stdout.trim().split('\n').at(-1)!) as number[];
    assert.equal(pids.length, 4);
    await eventually(() => pids.filter(alive).length === 0, `components ${pids.join(', ')} to be gone`, 10_000);
  });

  it('kills its components when the process that started it is stopped by SIGTERM', async () => {
    const script = join(ROOT, 'tests', 'fixtures', 'control-plane-until-signalled.ts');
    const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'pipe'] });
    const pids = await new Promise<number[]>((resolve) =>
      child.stdout.on('data', (d: Buffer) => resolve(JSON.parse(d.toString().trim()) as number[])),
    );
    assert.equal(pids.length, 4);
    child.kill('SIGTERM');
    await new Promise((resolve) => child.on('exit', resolve));
    await eventually(() => pids.filter(alive).length === 0, `components ${pids.join(', ')} to be gone`, 10_000);
  });
});
