import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';

const MAIN = join(import.meta.dirname, '..', '..', 'src', 'operator', 'main.ts');
const run = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, [MAIN, ...args], {
    encoding: 'utf8',
    timeout: 30_000,
    env: { ...process.env, KUBECONFIG: '/nonexistent', ...env },
  });

describe('operator flags', () => {
  it('--help lists every flag with its environment variable, and exits 0', () => {
    const result = run(['--help']);
    assert.equal(result.status, 0, result.stderr);
    for (const flag of [
      '--namespaces',
      '--workers',
      '--port',
      '--trainer-image',
      '--leader-elect',
      '--resync-seconds',
    ]) {
      assert.match(result.stdout, new RegExp(flag));
    }
    assert.match(result.stdout, /env:\s+FTJ_WORKERS/);
  });

  for (const [args, env, flag] of [
    [['--workers', 'abc'], {}, '--workers'],
    [['--workers', '0'], {}, '--workers'],
    [['--port', '70000'], {}, '--port'],
    [['--retry-base-seconds', '1.5'], {}, '--retry-base-seconds'],
    [[], { FTJ_WORKERS: 'many' }, 'FTJ_WORKERS'],
  ] as const) {
    it(`refuses ${args.join(' ') || JSON.stringify(env)} before starting, naming ${flag}`, () => {
      const result = run([...args], env);
      assert.notEqual(result.status, 0);
      assert.match(result.stderr, new RegExp(`${flag}.*expected a whole number`));
    });
  }
});
