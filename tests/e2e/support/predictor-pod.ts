// A pod of the predictor image on the test's node: the node agent runs it as the predictor process, on a
// free port that it logs.
import assert from 'node:assert/strict';
import { CoreV1Api } from '@kubernetes/client-node';
import sharp from 'sharp';
import type { NodeAgent } from '../../../src/local/node-agent/node-agent.ts';
import { eventually, kubeConfig } from '../../support/cluster.ts';

/** Starts pod `name` serving `args` (--model, --model-name, ...); resolves to its base URL once it listens. */
export async function predictorPod(namespace: string, agent: NodeAgent, name: string, args: string[]): Promise<string> {
  await kubeConfig()
    .makeApiClient(CoreV1Api)
    .createNamespacedPod({
      namespace,
      body: {
        metadata: { name },
        spec: {
          nodeName: `agent-${namespace}`,
          restartPolicy: 'Always',
          containers: [{ name: 'predictor', image: 'ghcr.io/finetune-operator/predictor:0.1.0', args }],
        },
      },
    });
  let port = 0;
  await eventually(
    () => {
      port = Number(/listening on :(\d+)/.exec(agent.logs(namespace, name))?.[1] ?? 0);
      return port > 0;
    },
    'the predictor listening',
    60_000,
  ).catch((err: Error) => assert.fail(`${err.message}\n${agent.logs(namespace, name)}`));
  return `http://127.0.0.1:${port}`;
}

/** 28x28 grey images (a dataset's raw bytes) as PNG files. */
export function pngs(images: Uint8Array, count: number): Promise<Buffer[]> {
  return Promise.all(
    Array.from({ length: count }, (_, i) =>
      sharp(Buffer.from(images.subarray(i * 784, (i + 1) * 784)), { raw: { width: 28, height: 28, channels: 1 } })
        .png()
        .toBuffer(),
    ),
  );
}
