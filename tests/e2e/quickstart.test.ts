import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { NodeAgent } from '../../src/local/node-agent/node-agent.ts';
import { fileSystemModel } from '../../src/trainer/model/file-io-handler.ts';
import { installCRDs, kubeConfig, testNamespace } from '../support/cluster.ts';
import { jobs, startOperator } from '../operator/support/operator-harness.ts';
import { TRANSFER_CLASSES } from '../trainer/support/base-model.ts';
import { fashionSubset, writeIdx } from '../trainer/support/fashion-mnist.ts';
import { pretrainedBase } from '../trainer/support/workspace.ts';

describe('end to end: operator, real scheduler, node agent and trainer', () => {
  before(installCRDs);

  it('runs a FineTuneJob to Succeeded: both stages in .status.stages, a model that loads and predicts', async (t) => {
    const root = mkdtempSync(join(tmpdir(), 'ftj-e2e-'));
    t.after(() => rmSync(root, { recursive: true, force: true }));
    writeIdx(join(root, 'data'), await fashionSubset(TRANSFER_CLASSES, 30));
    const base = await pretrainedBase();

    const namespace = await testNamespace(t, 'e2e');
    const agent = new NodeAgent({
      kubeConfig: kubeConfig(), kubeconfigPath: process.env['FTJ_TEST_KUBECONFIG']!, nodeName: `agent-${namespace}`,
      capacity: { gpus: 2 }, root, log: () => undefined,
    });
    await agent.start();
    t.after(() => agent.stop());
    startOperator(t, namespace);
    const api = jobs(namespace);

    await api.create('quickstart', {
      task: { type: 'ImageClassification', numClasses: 5 },
      model: { uri: `file://${base}`, outputKind: 'Classifier', input: { shape: [28, 28, 1] }, license: 'Apache-2.0' },
      dataset: { uri: `file://${join(root, 'data')}`, format: 'IDX', idx: { images: 'images.idx.gz', labels: 'labels.idx.gz' } },
      stages: [{ name: 'head', epochs: 2 }, { name: 'fine-tune', epochs: 1, unfreeze: { policy: 'All' } }],
      output: { uri: `file://${join(root, 'output')}` },
      resources: { gpus: 1 },
      podTemplate: { nodeSelector: { 'kubernetes.io/hostname': `agent-${namespace}` } },
    });
    const job = await api.waitFor('quickstart', (j) => j.status?.phase === 'Succeeded' || j.status?.phase === 'Failed', 'the job to finish', 180_000);
    const logs = agent.logs(namespace, 'quickstart-trainer-1');
    assert.equal(job.status!.phase, 'Succeeded', logs);
    assert.deepEqual(job.status!.stages!.map((s) => [s.name, s.state]), [['head', 'Succeeded'], ['fine-tune', 'Succeeded']]);
    assert.ok(job.status!.stages!.every((s) => s.startTime && s.endTime && s.bestValue !== undefined));
    assert.equal(job.status!.outputURI, join(root, 'output'));
    assert.match(logs, /stage 2\/2 "fine-tune"/);

    assert.ok(existsSync(join(root, 'output', 'metadata.json')));
    await tf.setBackend('wasm');
    const model = await tf.loadLayersModel(fileSystemModel(join(root, 'output', 'model.json')));
    const predictions = tf.tidy(() => (model.predict(tf.zeros([1, 28, 28, 1])) as tf.Tensor).dataSync());
    assert.equal(predictions.length, 5);
  });
});
