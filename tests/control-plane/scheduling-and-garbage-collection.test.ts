import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { before, describe, it } from 'node:test';
import { CoordinationV1Api, CoreV1Api, CustomObjectsApi, type V1Pod } from '@kubernetes/client-node';
import { API_VERSION, FINETUNEJOB, GROUP, VERSION } from '../../src/api/v1alpha1/index.ts';
import { registerNode } from '../../src/local/control-plane/index.ts';
import { minimalSpec } from '../api/spec-fixtures.ts';
import { eventually, installCRDs, kubeConfig, testNamespace } from '../support/cluster.ts';

function gpuPod(name: string, node: string): V1Pod {
  return {
    metadata: { name },
    spec: {
      nodeSelector: { 'kubernetes.io/hostname': node },
      containers: [
        { name: 'trainer', image: 'finetune/trainer:test', resources: { limits: { 'nvidia.com/gpu': '1' } } },
      ],
    },
  };
}

describe('the control plane does what the operator relies on', () => {
  before(installCRDs);

  it('schedules GPU pods by nvidia.com/gpu capacity: two fit a 2-GPU node, the third waits', async (t) => {
    const namespace = await testNamespace(t, 'gpu');
    const node = `gpu-node-${randomBytes(3).toString('hex')}`;
    const unregister = await registerNode(kubeConfig(), node, { gpus: 2 });
    t.after(unregister);
    // The kubelet-style heartbeat that keeps the node-lifecycle controller from tainting the node.
    const lease = await kubeConfig()
      .makeApiClient(CoordinationV1Api)
      .readNamespacedLease({ name: node, namespace: 'kube-node-lease' });
    assert.ok(Date.now() - new Date(lease.spec!.renewTime!).getTime() < 15_000, 'the node lease was renewed just now');
    const core = kubeConfig().makeApiClient(CoreV1Api);
    for (const name of ['a', 'b', 'c']) await core.createNamespacedPod({ namespace, body: gpuPod(name, node) });

    await eventually(async () => {
      const pods = (await core.listNamespacedPod({ namespace })).items;
      return pods.filter((p) => p.spec?.nodeName === node).length === 2;
    }, 'two pods bound');
    await eventually(async () => {
      const events = (await core.listNamespacedEvent({ namespace })).items;
      return events.some(
        (e) => e.reason === 'FailedScheduling' && /Insufficient nvidia\.com\/gpu/.test(e.message ?? ''),
      );
    }, 'FailedScheduling for the third pod');
    const pods = (await core.listNamespacedPod({ namespace })).items;
    assert.equal(pods.filter((p) => !p.spec?.nodeName).length, 1);
  });

  it('garbage-collects a pod owned by a FineTuneJob when the job is deleted', async (t) => {
    const namespace = await testNamespace(t, 'gc');
    const custom = kubeConfig().makeApiClient(CustomObjectsApi);
    const core = kubeConfig().makeApiClient(CoreV1Api);
    const job = (await custom.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace,
      plural: FINETUNEJOB.plural,
      body: { apiVersion: API_VERSION, kind: FINETUNEJOB.kind, metadata: { name: 'owner' }, spec: minimalSpec() },
    })) as { metadata: { uid: string } };
    await core.createNamespacedPod({
      namespace,
      body: {
        ...gpuPod('owned', 'no-such-node'),
        metadata: {
          name: 'owned',
          ownerReferences: [
            {
              apiVersion: API_VERSION,
              kind: FINETUNEJOB.kind,
              name: 'owner',
              uid: job.metadata.uid,
              controller: true,
              blockOwnerDeletion: true,
            },
          ],
        },
      },
    });
    await custom.deleteNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace,
      plural: FINETUNEJOB.plural,
      name: 'owner',
    });
    await eventually(
      async () => (await core.listNamespacedPod({ namespace })).items.length === 0,
      'the owned pod to be collected',
      60_000,
    );
  });
});
