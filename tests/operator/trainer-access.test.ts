import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { before, describe, it } from 'node:test';
import { ApiException, CoreV1Api, CustomObjectsApi, KubeConfig, PatchStrategy, RbacAuthorizationV1Api, setHeaderOptions } from '@kubernetes/client-node';
import { API_VERSION, FINETUNEJOB, GROUP, TRAINER_FIELD_MANAGER, VERSION } from '../../src/api/v1alpha1/index.ts';
import { eventually, installCRDs, kubeConfig, testNamespace } from '../support/cluster.ts';
import { jobs, startOperator } from './support/operator-harness.ts';

describe('operator: the trainer\'s identity in any namespace', () => {
  before(installCRDs);

  it('provisions the trainer ServiceAccount and RoleBinding in a namespace nobody prepared; the trainer can do exactly its part', async (t) => {
    const ns = await testNamespace(t, 'op-access');
    const rbac = kubeConfig().makeApiClient(RbacAuthorizationV1Api);
    const core = kubeConfig().makeApiClient(CoreV1Api);
    // The chart's trainer ClusterRole (get its job, patch its status), under a name of this test's own.
    const clusterRole = `ftj-test-trainer-${randomBytes(3).toString('hex')}`;
    await rbac.createClusterRole({ body: { metadata: { name: clusterRole }, rules: [
      { apiGroups: [GROUP], resources: ['finetunejobs'], verbs: ['get'] },
      { apiGroups: [GROUP], resources: ['finetunejobs/status'], verbs: ['patch'] },
    ] } });
    t.after(() => rbac.deleteClusterRole({ name: clusterRole }).then(() => undefined, () => undefined));
    startOperator(t, ns, undefined, { serviceAccount: 'finetune-trainer', clusterRole });
    const api = jobs(ns);
    await api.create('anywhere');
    const [pod] = await api.waitForPods('anywhere', 1);
    assert.equal(pod!.spec!.serviceAccountName, 'finetune-trainer');
    const binding = await rbac.readNamespacedRoleBinding({ name: 'finetune-trainer', namespace: ns });
    assert.deepEqual([binding.roleRef.name, binding.subjects?.[0]?.name], [clusterRole, 'finetune-trainer']);

    // As the trainer (its ServiceAccount's token): its own status patch works, anything else is forbidden.
    let token = '';
    await eventually(async () => {
      const account = await core.readNamespacedServiceAccount({ name: 'finetune-trainer', namespace: ns });
      const secret = account.secrets?.[0]?.name;
      if (!secret) return false;
      token = Buffer.from((await core.readNamespacedSecret({ name: secret, namespace: ns })).data!['token']!, 'base64').toString();
      return token.length > 0;
    }, 'the trainer ServiceAccount\'s token');
    const admin = kubeConfig();
    const asTrainer = new KubeConfig();
    asTrainer.loadFromOptions({
      clusters: [{ name: 'c', server: admin.getCurrentCluster()!.server, skipTLSVerify: true }],
      users: [{ name: 'trainer', token }],
      contexts: [{ name: 'c', cluster: 'c', user: 'trainer' }], currentContext: 'c',
    });
    const custom = asTrainer.makeApiClient(CustomObjectsApi);
    await custom.patchNamespacedCustomObjectStatus({
      group: GROUP, version: VERSION, namespace: ns, plural: FINETUNEJOB.plural, name: 'anywhere', fieldManager: TRAINER_FIELD_MANAGER, force: true,
      body: { apiVersion: API_VERSION, kind: FINETUNEJOB.kind, metadata: { name: 'anywhere', namespace: ns }, status: { stage: 'head' } },
    }, setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply));
    assert.equal((await api.get('anywhere'))!.status!.stage, 'head');
    const listPods = await asTrainer.makeApiClient(CoreV1Api).listNamespacedPod({ namespace: ns }).then(() => 200, (err: unknown) => (err instanceof ApiException ? err.code : 0));
    assert.equal(listPods, 403, 'the trainer cannot list pods');

    // Someone deletes the ServiceAccount: the next pod is refused once, and the retry provisions it again.
    await core.deleteNamespacedServiceAccount({ name: 'finetune-trainer', namespace: ns });
    await api.create('after-cleanup');
    await api.waitForPods('after-cleanup', 1, 30_000);
    await core.readNamespacedServiceAccount({ name: 'finetune-trainer', namespace: ns });
  });
});
