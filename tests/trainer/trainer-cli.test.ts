import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { stringify } from 'yaml';
import { TrainerExitCode } from '../../src/api/v1alpha1/index.ts';
import { ROOT } from '../support/paths.ts';
import { workspace } from './support/workspace.ts';

function trainer(specPath: string, env: Record<string, string> = {}): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      [join(ROOT, 'src', 'trainer', 'main.ts'), '--spec', specPath, '--metrics-port', '0'],
      {
        env: { ...process.env, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let output = '';
    child.stdout.on('data', (d: Buffer) => {
      output += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      output += d.toString();
    });
    child.on('exit', (code) => resolve({ code, output }));
  });
}

describe("trainer entry point (the pod's command)", () => {
  it('exits 2 (do not retry) on an invalid spec, naming the field', async (t) => {
    const ws = await workspace(t, 10);
    const path = join(ws.dir, 'job.yaml');
    writeFileSync(
      path,
      stringify({
        apiVersion: 'finetune.dev/v1alpha1',
        kind: 'FineTuneJob',
        metadata: { name: 'bad' },
        spec: { task: { type: 'ImageClassification', numClasses: 1 } },
      }),
    );
    const { code, output } = await trainer(path);
    assert.equal(code, TrainerExitCode.Permanent);
    assert.match(output, /spec\.task\.numClasses/);
    assert.match(output, /spec\.model: /);
  });

  const manifest = (ws: { dir: string; base: string; data: string }, gpus: number) =>
    stringify({
      apiVersion: 'finetune.dev/v1alpha1',
      kind: 'FineTuneJob',
      metadata: { name: 'cli', namespace: 'team' },
      spec: {
        task: { type: 'ImageClassification', numClasses: 5 },
        model: { uri: `file://${ws.base}`, outputKind: 'Classifier', input: { shape: [28, 28, 1] } },
        dataset: { uri: `file://${ws.data}`, format: 'IDX', idx: { images: 'images.idx.gz', labels: 'labels.idx.gz' } },
        stages: [{ name: 'head', epochs: 1 }],
        output: { uri: `file://${join(ws.dir, 'out')}` },
        resources: { gpus },
      },
    });

  it('exits 2 when the spec asks for a GPU and there is none, saying how to fix it', async (t) => {
    const ws = await workspace(t, 10);
    const path = join(ws.dir, 'job.yaml');
    writeFileSync(path, manifest(ws, 1));
    const { code, output } = await trainer(path, { FTJ_ALLOW_CPU: '0' });
    assert.equal(code, TrainerExitCode.Permanent);
    assert.match(output, /spec\.resources\.gpus asks for a GPU, but none is usable/);
  });

  it('trains and exports, exiting 0, logging stages and epochs', async (t) => {
    const ws = await workspace(t, 10);
    const path = join(ws.dir, 'job.yaml');
    writeFileSync(path, manifest(ws, 0));
    const { code, output } = await trainer(path);
    assert.equal(code, 0, output);
    assert.match(output, /backend wasm/);
    assert.match(output, /stage 1\/1 "head"/);
    assert.match(output, /\[head\] epoch 1\/1 loss=\d/);
    assert.ok(existsSync(join(ws.dir, 'out', 'model.json')) && existsSync(join(ws.dir, 'out', 'metadata.json')));
  });

  for (const modelToo of [false, true]) {
    it(`exits 2 naming the path when a CSV dataset is missing${modelToo ? ', and the model too (whichever fails first)' : ''}`, async (t) => {
      const ws = await workspace(t, 10);
      const path = join(ws.dir, 'job.yaml');
      const model = modelToo ? join(ws.dir, 'no-model', 'model.json') : ws.base;
      writeFileSync(
        path,
        stringify({
          apiVersion: 'finetune.dev/v1alpha1',
          kind: 'FineTuneJob',
          metadata: { name: 'missing' },
          spec: {
            task: { type: 'ImageClassification', numClasses: 2 },
            model: { uri: `file://${model}`, outputKind: 'Classifier', input: { shape: [28, 28, 1] } },
            // One column a pixel value, as the validator requires (28 x 28 x 1).
            dataset: {
              uri: `file://${join(ws.dir, 'no-such.csv')}`,
              format: 'CSV',
              fields: { label: 'label', features: Array.from({ length: 784 }, (_, i) => `p${i}`) },
            },
            output: { uri: `file://${join(ws.dir, 'out')}` },
            resources: { gpus: 0 },
          },
        }),
      );
      const { code, output } = await trainer(path);
      assert.equal(code, TrainerExitCode.Permanent, output);
      assert.match(output, /cannot read \S*no-such\.csv \(spec\.dataset\): ENOENT/);
      if (modelToo) assert.match(output, /no-model\/model\.json/);
    });
  }
});
