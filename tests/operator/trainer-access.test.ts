import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { before, describe, it, type TestContext } from 'node:test';
import {
  ApiException,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  PatchStrategy,
  RbacAuthorizationV1Api,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { API_VERSION, FINETUNEJOB, GROUP, TRAINER_FIELD_MANAGER, VERSION } from '../../src/api/v1alpha1/index.ts';
import { eventually, installCRDs, kubeConfig, testNamespace } from '../support/cluster.ts';
import { jobs, startOperator } from './support/operator-harness.ts';

/** The chart's trainer ClusterRole (get its job, patch its status), under a name of the test's own, deleted after it. */
async function trainerClusterRole(t: TestContext): Promise<string> {
  const rbac = kubeConfig().makeApiClient(RbacAuthorizationV1Api);
  const name = `ftj-test-trainer-${randomBytes(3).toString('hex')}`;
  await rbac.createClusterRole({
    body: {
      metadata: { name },
      rules: [
        { apiGroups: [GROUP], resources: ['finetunejobs'], verbs: ['get'] },
        { apiGroups: [GROUP], resources: ['finetunejobs/status'], verbs: ['patch'] },
      ],
    },
  });
  t.after(() =>
    rbac.deleteClusterRole({ name }).then(
      () => undefined,
      () => undefined,
    ),
  );
  return name;
}

describe("operator: the trainer's identity in any namespace", () => {
  before(installCRDs);

  it('provisions the trainer ServiceAccount and RoleBinding in a namespace nobody prepared; the trainer can do exactly its part', async (t) => {
    const ns = await testNamespace(t, 'op-access');
    const rbac = kubeConfig().makeApiClient(RbacAuthorizationV1Api);
    const core = kubeConfig().makeApiClient(CoreV1Api);
    const clusterRole = await trainerClusterRole(t);
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
      token = Buffer.from(
        (await core.readNamespacedSecret({ name: secret, namespace: ns })).data!['token']!,
        'base64',
      ).toString();
      return token.length > 0;
    }, "the trainer ServiceAccount's token");
    const admin = kubeConfig();
    const asTrainer = new KubeConfig();
    asTrainer.loadFromOptions({
      clusters: [{ name: 'c', server: admin.getCurrentCluster()!.server, skipTLSVerify: true }],
      users: [{ name: 'trainer', token }],
      contexts: [{ name: 'c', cluster: 'c', user: 'trainer' }],
      currentContext: 'c',
    });
    const custom = asTrainer.makeApiClient(CustomObjectsApi);
    await custom.patchNamespacedCustomObjectStatus(
      {
        group: GROUP,
        version: VERSION,
        namespace: ns,
        plural: FINETUNEJOB.plural,
        name: 'anywhere',
        fieldManager: TRAINER_FIELD_MANAGER,
        force: true,
        body: {
          apiVersion: API_VERSION,
          kind: FINETUNEJOB.kind,
          metadata: { name: 'anywhere', namespace: ns },
          status: { stage: 'head' },
        },
      },
      setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
    );
    assert.equal((await api.get('anywhere'))!.status!.stage, 'head');
    const listPods = await asTrainer
      .makeApiClient(CoreV1Api)
      .listNamespacedPod({ namespace: ns })
      .then(
        () => 200,
        (err: unknown) => (err instanceof ApiException ? err.code : 0),
      );
    assert.equal(listPods, 403, 'the trainer cannot list pods');

    // Both belong to the trainer ClusterRole: deleting it (helm uninstall) takes them along.
    const account = await core.readNamespacedServiceAccount({ name: 'finetune-trainer', namespace: ns });
    assert.deepEqual(
      account.metadata?.ownerReferences?.map((ref) => `${ref.kind}/${ref.name}`),
      [`ClusterRole/${clusterRole}`],
    );
    assert.deepEqual(
      binding.metadata?.ownerReferences?.map((ref) => `${ref.kind}/${ref.name}`),
      [`ClusterRole/${clusterRole}`],
    );

    // Someone deletes the ServiceAccount: the next pod is refused once, and the retry provisions it again.
    await core.deleteNamespacedServiceAccount({ name: 'finetune-trainer', namespace: ns });
    await api.create('after-cleanup');
    await api.waitForPods('after-cleanup', 1, 30_000);
    await core.readNamespacedServiceAccount({ name: 'finetune-trainer', namespace: ns });
  });

  it('converges what an earlier release left (a binding of a role that is gone, no owner), and uninstalling removes it', async (t) => {
    const ns = await testNamespace(t, 'op-access-old');
    const rbac = kubeConfig().makeApiClient(RbacAuthorizationV1Api);
    const core = kubeConfig().makeApiClient(CoreV1Api);
    const clusterRole = await trainerClusterRole(t);
    // What an operator of a release installed under another name made, before owners existed.
    const labels = { 'app.kubernetes.io/managed-by': 'finetune-operator', 'app.kubernetes.io/component': 'trainer' };
    await core.createNamespacedServiceAccount({
      namespace: ns,
      body: { metadata: { name: 'finetune-trainer', labels } },
    });
    await rbac.createNamespacedRoleBinding({
      namespace: ns,
      body: {
        metadata: { name: 'finetune-trainer', labels },
        roleRef: {
          apiGroup: 'rbac.authorization.k8s.io',
          kind: 'ClusterRole',
          name: 'old-release-finetune-operator-trainer',
        },
        subjects: [{ kind: 'ServiceAccount', name: 'finetune-trainer', namespace: ns }],
      },
    });
    // A team's own binding of another name is not the operator's: it stays as it is.
    await rbac.createNamespacedRoleBinding({
      namespace: ns,
      body: {
        metadata: { name: 'team-own' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' },
        subjects: [{ kind: 'ServiceAccount', name: 'finetune-trainer', namespace: ns }],
      },
    });
    const uidBefore = (await core.readNamespacedServiceAccount({ name: 'finetune-trainer', namespace: ns })).metadata!
      .uid;
    startOperator(t, ns, undefined, { serviceAccount: 'finetune-trainer', clusterRole });
    await jobs(ns).create('reinstalled');
    await jobs(ns).waitForPods('reinstalled', 1);

    const binding = await rbac.readNamespacedRoleBinding({ name: 'finetune-trainer', namespace: ns });
    assert.equal(binding.roleRef.name, clusterRole, "the binding now names this release's role");
    const account = await core.readNamespacedServiceAccount({ name: 'finetune-trainer', namespace: ns });
    assert.equal(
      account.metadata!.uid,
      uidBefore,
      'the ServiceAccount is adopted, not re-created (its token stays valid)',
    );
    for (const owned of [binding, account]) {
      assert.deepEqual(
        owned.metadata?.ownerReferences?.map((ref) => `${ref.kind}/${ref.name}`),
        [`ClusterRole/${clusterRole}`],
      );
    }
    assert.equal((await rbac.readNamespacedRoleBinding({ name: 'team-own', namespace: ns })).roleRef.name, 'view');

    await rbac.deleteClusterRole({ name: clusterRole });
    const gone = (read: Promise<unknown>) =>
      read.then(
        () => false,
        (err: unknown) => err instanceof ApiException && err.code === 404,
      );
    await eventually(
      async () =>
        (await gone(core.readNamespacedServiceAccount({ name: 'finetune-trainer', namespace: ns }))) &&
        (await gone(rbac.readNamespacedRoleBinding({ name: 'finetune-trainer', namespace: ns }))),
      'the garbage collector removing both with their role',
      60_000,
    );
  });
});
