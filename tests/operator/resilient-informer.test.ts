import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  ApiextensionsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  type KubernetesObject,
  type KubernetesListObject,
  type V1ConfigMap,
} from '@kubernetes/client-node';
import { ResilientInformer } from '../../src/operator/runtime/resilient-informer.ts';
import { eventually, kubeConfig, testNamespace } from '../support/cluster.ts';

describe('resilient informer', () => {
  it('keeps retrying after list/watch errors and recovers once the resource is served', async (t) => {
    const kc = kubeConfig();
    const plural = `probes${randomBytes(3).toString('hex')}`;
    const group = 'test.finetune.dev';
    const custom = kc.makeApiClient(CustomObjectsApi);
    const errors: unknown[] = [];
    const added: string[] = [];
    const informer = new ResilientInformer<KubernetesObject>(
      kc,
      `/apis/${group}/v1/${plural}`,
      () =>
        custom.listClusterCustomObject({ group, version: 'v1', plural }) as Promise<
          KubernetesListObject<KubernetesObject>
        >,
      { add: (obj) => added.push(obj.metadata!.name!) },
      { onError: (err) => errors.push(err) },
    );
    t.after(() => informer.stop());

    // The resource does not exist yet: the first list fails (404), the informer backs off and retries.
    await informer.start().catch((err: unknown) => errors.push(err));
    await eventually(() => errors.length >= 1, 'a list error', 10_000);
    const ext = kc.makeApiClient(ApiextensionsV1Api);
    await ext.createCustomResourceDefinition({
      body: {
        metadata: { name: `${plural}.${group}` },
        spec: {
          group,
          scope: 'Namespaced',
          names: { plural, kind: `Probe${plural}`, singular: plural.slice(0, -1) },
          versions: [
            {
              name: 'v1',
              served: true,
              storage: true,
              schema: { openAPIV3Schema: { type: 'object', x_kubernetes_preserve_unknown_fields: true } },
            },
          ],
        },
      },
    });
    t.after(() =>
      ext.deleteCustomResourceDefinition({ name: `${plural}.${group}` }).then(
        () => undefined,
        () => undefined,
      ),
    );
    await eventually(
      async () => {
        await custom
          .createNamespacedCustomObject({
            group,
            version: 'v1',
            namespace: 'default',
            plural,
            body: { apiVersion: `${group}/v1`, kind: `Probe${plural}`, metadata: { name: 'seen' } },
          })
          .catch(() => undefined);
        return added.includes('seen');
      },
      'the informer to recover and see the object',
      40_000,
    );
    assert.ok(errors.length >= 1);
    assert.ok(informer.hasSynced);
  });

  it('indexes cached objects by a key, following label changes and deletions', async (t) => {
    const kc = kubeConfig();
    const namespace = await testNamespace(t, 'index');
    const core = kc.makeApiClient(CoreV1Api);
    const informer = new ResilientInformer<V1ConfigMap>(
      kc,
      `/api/v1/namespaces/${namespace}/configmaps`,
      () => core.listNamespacedConfigMap({ namespace, labelSelector: 'team' }),
      {},
      { labelSelector: 'team', indexBy: (cm) => cm.metadata?.labels?.['team'] },
    );
    t.after(() => informer.stop());
    const create = (name: string, team: string) =>
      core.createNamespacedConfigMap({ namespace, body: { metadata: { name, labels: { team } } } });
    await create('a', 'red');
    await informer.start();
    await create('b', 'red');
    await create('c', 'blue');
    const names = (team: string) =>
      informer
        .byIndex(team)
        .map((cm) => cm.metadata!.name)
        .sort()
        .join(',');
    await eventually(() => names('red') === 'a,b' && names('blue') === 'c', 'listed and watched objects indexed');
    await core.patchNamespacedConfigMap({
      namespace,
      name: 'b',
      body: [{ op: 'replace', path: '/metadata/labels/team', value: 'blue' }],
    });
    await eventually(() => names('red') === 'a' && names('blue') === 'b,c', 'a relabelled object moves to its new key');
    await core.deleteNamespacedConfigMap({ namespace, name: 'a' });
    await eventually(() => names('red') === '' && names('blue') === 'b,c', 'a deleted object leaves the index');
  });

  it('lists from the API server\'s watch cache the first time (resourceVersion "0", as client-go\'s reflector)', async (t) => {
    const kc = kubeConfig();
    const namespace = await testNamespace(t, 'listrv');
    const core = kc.makeApiClient(CoreV1Api);
    await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'listed' } } });
    const asked: (string | undefined)[] = [];
    const informer = new ResilientInformer<V1ConfigMap>(
      kc,
      `/api/v1/namespaces/${namespace}/configmaps`,
      (resourceVersion) => {
        asked.push(resourceVersion);
        return core.listNamespacedConfigMap({ namespace, resourceVersion });
      },
      {},
    );
    t.after(() => informer.stop());
    await informer.start();
    assert.ok(informer.get('listed', namespace), 'the listed object is cached');
    assert.deepEqual(asked, ['0']);
  });

  it('stays stopped when stopped while it lists (client-node alone would start its watch anyway)', async (t) => {
    const kc = kubeConfig();
    const namespace = await testNamespace(t, 'stop');
    const core = kc.makeApiClient(CoreV1Api);
    const seen: string[] = [];
    const informer = new ResilientInformer<V1ConfigMap>(
      kc,
      `/api/v1/namespaces/${namespace}/configmaps`,
      () => core.listNamespacedConfigMap({ namespace }),
      { add: (cm) => seen.push(cm.metadata!.name!) },
    );
    const starting = informer.start();
    await informer.stop(); // while the list is in flight
    await starting.catch(() => undefined);
    await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'after-stop' } } });
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.ok(!seen.includes('after-stop'), 'a stopped informer received a watch event');
  });
});
