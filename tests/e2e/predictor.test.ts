// Train, evaluate, serve, on the local control plane: a FineTuneJob trains on the node agent, then a pod
// of the predictor image (run by the node agent as the predictor process) serves its output; the job's
// test images, sent as PNG files, get the accuracy the job reported.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { CoreV1Api } from '@kubernetes/client-node';
import sharp from 'sharp';
import { TRANSFER_CLASSES } from '../../src/local/quickstart/fashion-base-model.ts';
import { fashionSubset, writeIdx } from '../../src/local/quickstart/fashion-mnist.ts';
import { eventually, installCRDs, kubeConfig } from '../support/cluster.ts';
import { localCluster } from './support/local-cluster.ts';

describe('end to end: train, evaluate, serve', () => {
  before(installCRDs);

  it("a predictor pod serves the job's model: its test images get the job's evaluation accuracy", async (t) => {
    const { root, namespace, agent, api, spec } = await localCluster(t, { perClass: 40 });
    const test = await fashionSubset(TRANSFER_CLASSES, 10, 0, 't10k');
    writeIdx(join(root, 'test'), test);
    await api.create('served', {
      ...spec('served', [{ name: 'head', epochs: 2 }]),
      evaluation: { uri: `file://${join(root, 'test')}` },
    });
    const job = await api.waitFor(
      'served',
      (j) => j.status?.phase === 'Succeeded' || j.status?.phase === 'Failed',
      'the job to finish',
      180_000,
    );
    assert.equal(job.status!.phase, 'Succeeded', JSON.stringify(job.status?.conditions));
    const accuracy = job.status!.evaluation!.accuracy;

    const core = kubeConfig().makeApiClient(CoreV1Api);
    await core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name: 'fashion-predictor' },
        spec: {
          nodeName: `agent-${namespace}`,
          restartPolicy: 'Always',
          containers: [
            {
              name: 'predictor',
              image: 'ghcr.io/finetune-operator/predictor:0.1.0',
              args: ['--model', job.status!.outputURI!, '--model-name', 'fashion'],
            },
          ],
        },
      },
    });
    let port = 0;
    await eventually(
      () => {
        port = Number(/listening on :(\d+)/.exec(agent.logs(namespace, 'fashion-predictor'))?.[1] ?? 0);
        return port > 0;
      },
      'the predictor listening',
      60_000,
    ).catch((err: Error) => assert.fail(`${err.message}\n${agent.logs(namespace, 'fashion-predictor')}`));

    const images = await Promise.all(
      Array.from({ length: test.count }, (_, i) =>
        sharp(Buffer.from(test.images.subarray(i * 784, (i + 1) * 784)), {
          raw: { width: 28, height: 28, channels: 1 },
        })
          .png()
          .toBuffer(),
      ),
    );
    const response = await fetch(`http://127.0.0.1:${port}/v2/models/fashion/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        inputs: [
          { name: 'image', datatype: 'BYTES', shape: [test.count], data: images.map((b) => b.toString('base64')) },
        ],
        parameters: { top_k: 1 },
      }),
    });
    assert.equal(response.status, 200);
    const top = ((await response.json()) as { outputs: { name: string; data: string[] }[] }).outputs.find(
      (o) => o.name === 'top_classes',
    )!.data;
    const right = top.filter((label, i) => label === String(test.labels[i])).length;
    assert.equal(right / test.count, accuracy, 'served on its test images, the model scores what the job reported');
  });
});
