import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CoreV1Api } from '@kubernetes/client-node';
import { updatePodStatus } from '../../src/local/node-agent/pod-status.ts';
import { kubeConfig, testNamespace } from '../support/cluster.ts';

describe('pod status writes of the local kubelet stand-in', () => {
  it('retries on a conflict: another writer between the read and the write does not lose the update', async (t) => {
    const namespace = await testNamespace(t, 'pod-status');
    const core = kubeConfig().makeApiClient(CoreV1Api);
    await core.createNamespacedPod({
      namespace,
      body: { metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'x' }] } },
    });
    let replaces = 0;
    // The first replace finds the pod changed by someone else in the meantime (as the scheduler does): a real 409.
    const racing = new Proxy(core, {
      get: (target, property, receiver) =>
        property === 'replaceNamespacedPodStatus'
          ? async (request: Parameters<CoreV1Api['replaceNamespacedPodStatus']>[0]) => {
              if (replaces++ === 0)
                await core.patchNamespacedPod({
                  namespace,
                  name: 'p',
                  body: [{ op: 'add', path: '/metadata/labels', value: { touched: 'yes' } }],
                });
              return target.replaceNamespacedPodStatus(request);
            }
          : Reflect.get(target, property, receiver),
    });
    await updatePodStatus(racing, { name: 'p', namespace }, (status) => ({ ...status, phase: 'Running' }));
    assert.equal(replaces, 2, 'the first write conflicted and was retried');
    const pod = await core.readNamespacedPod({ name: 'p', namespace });
    assert.equal(pod.status?.phase, 'Running');
    assert.equal(pod.metadata?.labels?.['touched'], 'yes', "the other writer's change is kept");
  });
});
