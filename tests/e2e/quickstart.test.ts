import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { fileSystemModel } from '../../src/trainer/model/file-io-handler.ts';
import { installCRDs } from '../support/cluster.ts';
import { localCluster } from './support/local-cluster.ts';

describe('end to end: operator, real scheduler, node agent and trainer', () => {
  before(installCRDs);

  it('runs a FineTuneJob to Succeeded: both stages in .status.stages, a model that loads and predicts', async (t) => {
    const { root, namespace, agent, api, spec } = await localCluster(t);
    await api.create('quickstart', spec('quickstart'));
    const job = await api.waitFor(
      'quickstart',
      (j) => j.status?.phase === 'Succeeded' || j.status?.phase === 'Failed',
      'the job to finish',
      180_000,
    );
    const logs = agent.logs(namespace, 'quickstart-trainer-1');
    assert.equal(job.status!.phase, 'Succeeded', logs);
    assert.deepEqual(
      job.status!.stages!.map((s) => [s.name, s.state]),
      [
        ['head', 'Succeeded'],
        ['fine-tune', 'Succeeded'],
      ],
    );
    assert.ok(job.status!.stages!.every((s) => s.startTime && s.endTime && s.bestValue !== undefined));
    const output = join(root, 'output', 'quickstart');
    assert.equal(job.status!.outputURI, output);
    assert.match(logs, /stage 2\/2 "fine-tune"/);

    assert.ok(existsSync(join(output, 'metadata.json')));
    await tf.setBackend('wasm');
    const model = await tf.loadLayersModel(fileSystemModel(join(output, 'model.json')));
    const predictions = tf.tidy(() => (model.predict(tf.zeros([1, 28, 28, 1])) as tf.Tensor).dataSync());
    assert.equal(predictions.length, 5);
  });
});
