import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { ROOT } from '../support/paths.ts';

const run = promisify(execFile);
const RULES = join(ROOT, 'helm', 'finetune-operator', 'files', 'prometheus-rules.yaml');

describe("the chart's alerts, with Prometheus' own promtool", () => {
  it('are valid rules, and each fires when it should and not before (promtool test rules)', async () => {
    const checked = await run('promtool', ['check', 'rules', RULES]);
    assert.match(checked.stdout, /SUCCESS: 8 rules found/);
    const tested = await run('promtool', ['test', 'rules', 'prometheus-rules.test.yaml'], {
      cwd: join(ROOT, 'tests', 'monitoring'),
    }).then(
      (r) => r.stdout,
      (err: { stdout?: string; stderr?: string }) => assert.fail(`${err.stdout}${err.stderr}`),
    );
    assert.match(tested, /SUCCESS/);
  });
});
