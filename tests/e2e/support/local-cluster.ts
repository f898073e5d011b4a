// A namespace with the whole local system: the node agent (a node with GPUs),
// the operator, and real Fashion-MNIST data with the pretrained test base.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { NodeAgent } from '../../../src/local/node-agent/node-agent.ts';
import { kubeConfig, testNamespace } from '../../support/cluster.ts';
import { jobs, startOperator } from '../../operator/support/operator-harness.ts';
import { TRANSFER_CLASSES } from '../../../src/local/quickstart/fashion-base-model.ts';
import { fashionSubset, writeIdx } from '../../../src/local/quickstart/fashion-mnist.ts';
import { pretrainedBase } from '../../trainer/support/workspace.ts';

export async function localCluster(
  t: TestContext,
  options: { gpus?: number; perClass?: number; clock?: () => Date } = {},
) {
  const root = mkdtempSync(join(tmpdir(), 'ftj-e2e-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  writeIdx(join(root, 'data'), await fashionSubset(TRANSFER_CLASSES, options.perClass ?? 30));
  const base = await pretrainedBase();
  const namespace = await testNamespace(t, 'e2e');
  const nodeName = `agent-${namespace}`;
  const agent = new NodeAgent({
    kubeConfig: kubeConfig(),
    kubeconfigPath: process.env['FTJ_TEST_KUBECONFIG']!,
    nodeName,
    capacity: { gpus: options.gpus ?? 2 },
    root,
    log: () => undefined,
  });
  await agent.start();
  t.after(() => agent.stop());
  const operator = startOperator(t, namespace, undefined, {}, options.clock);

  /** A small real fine-tune on this cluster's node; `stages` overrides the two default stages. */
  const spec = (
    name: string,
    stages: unknown[] = [
      { name: 'head', epochs: 2 },
      { name: 'fine-tune', epochs: 1, unfreeze: { policy: 'All' } },
    ],
  ) => ({
    task: { type: 'ImageClassification', numClasses: 5 },
    model: { uri: `file://${base}`, outputKind: 'Classifier', input: { shape: [28, 28, 1] }, license: 'Apache-2.0' },
    dataset: {
      uri: `file://${join(root, 'data')}`,
      format: 'IDX',
      idx: { images: 'images.idx.gz', labels: 'labels.idx.gz' },
    },
    stages,
    output: { uri: `file://${join(root, 'output', name)}` },
    resources: { gpus: 1 },
    podTemplate: { nodeSelector: { 'kubernetes.io/hostname': nodeName } },
  });
  return { root, namespace, agent, operator, api: jobs(namespace), spec };
}
