// Least privilege, proven by running under it: on a control plane of this
// file's own, with the API server's audit log on and the
// OwnerReferencesPermissionEnforcement admission plugin that hardened clusters
// enable, the chart is installed with helm, the operator runs as its own
// process with the chart's arguments and its ServiceAccount's token (not the
// admin's), and trainer pods run (on the node agent) with their
// ServiceAccount's token. A job in a namespace nobody listed trains to
// Succeeded; a suspended job and a schedule's failed, pruned run exercise
// the rest. The audit log then says which verbs each identity used: none may
// be refused, and every verb the chart grants must have been used, or be
// one a check needs without a request of its own.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ApiException, CoreV1Api, CustomObjectsApi, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { API_VERSION, FINETUNESCHEDULE, GROUP, VERSION } from '../../src/api/v1alpha1/index.ts';
import { ControlPlane } from '../../src/local/control-plane/index.ts';
import { NodeAgent } from '../../src/local/node-agent/node-agent.ts';
import { TRANSFER_CLASSES } from '../../src/local/quickstart/fashion-base-model.ts';
import { fashionSubset, writeIdx } from '../../src/local/quickstart/fashion-mnist.ts';
import { jobs } from '../operator/support/operator-harness.ts';
import { eventually, kubeConfig, kubectl } from '../support/cluster.ts';
import { helm } from '../support/helm.ts';
import { ROOT } from '../support/paths.ts';
import { pretrainedBase } from '../trainer/support/workspace.ts';

const CHART = join(ROOT, 'helm', 'finetune-operator');
const OPERATOR = join(ROOT, 'src', 'operator', 'main.ts');
const RELEASE = 'fto';
const SYSTEM = 'finetune-system';
const TEAM = 'team-unlisted';

const dir = mkdtempSync(join(tmpdir(), 'ftj-least-privilege-'));
const auditLog = join(dir, 'audit.log');
writeFileSync(
  join(dir, 'audit-policy.yaml'),
  `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: Metadata
    userGroups: ["system:serviceaccounts"]
  - level: None
`,
);
const controlPlane = new ControlPlane({
  log: () => undefined,
  apiServerFlags: [
    `--audit-policy-file=${join(dir, 'audit-policy.yaml')}`,
    `--audit-log-path=${auditLog}`,
    '--enable-admission-plugins=OwnerReferencesPermissionEnforcement',
  ],
});

interface Rule {
  apiGroups?: string[];
  resources?: string[];
  verbs?: string[];
  resourceNames?: string[];
}
interface Manifest {
  kind: string;
  metadata: { name: string };
  rules?: Rule[];
  spec?: { template?: { spec?: { containers?: { args?: string[] }[] } } };
}
interface AuditEvent {
  verb: string;
  user: { username: string };
  objectRef?: { apiGroup?: string; resource?: string; subresource?: string };
  responseStatus?: { code?: number };
}

/** "group/resource[/subresource]:verb" for each verb a rule grants. */
const grantsOf = (rules: Rule[]) =>
  rules.flatMap((rule) =>
    (rule.apiGroups ?? []).flatMap((group) =>
      (rule.resources ?? []).flatMap((resource) => (rule.verbs ?? []).map((verb) => `${group}/${resource}:${verb}`)),
    ),
  );

/**
 * Grants that are needed without a request of their own, or only in a situation this run does not create;
 * each says why. Anything else the chart grants must show up in the audit log.
 */
const NEEDED_WITHOUT_A_REQUEST: Record<string, string> = {
  'finetune.dev/finetunejobs/finalizers:update':
    'OwnerReferencesPermissionEnforcement checks it when a trainer pod names its job with blockOwnerDeletion (enabled here: without it every pod create is refused)',
  'finetune.dev/finetuneschedules/finalizers:update':
    "the same check when a schedule's run names its schedule with blockOwnerDeletion",
  '/events:patch': "an event that repeats one already written updates its count (client-go's correlator)",
  'finetune.dev/finetunejobs:get':
    'a schedule whose run name is taken (409) reads that FineTuneJob to see whether it is its own',
  '/serviceaccounts:patch':
    'adopts a trainer ServiceAccount an earlier release made (adds the owner); tests/operator/trainer-access.test.ts runs it',
};

function operatorKubeconfig(token: string): string {
  const path = join(dir, 'operator.kubeconfig');
  const server = kubeConfig().getCurrentCluster()!.server;
  writeFileSync(
    path,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      'current-context': 'operator',
      clusters: [{ name: 'local', cluster: { server, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'operator', user: { token } }],
      contexts: [{ name: 'operator', context: { cluster: 'local', user: 'operator' } }],
    }),
    { mode: 0o600 },
  );
  return path;
}

describe("least privilege: the operator and its trainers run under the chart's own ServiceAccounts", () => {
  before(async () => {
    await controlPlane.start();
    process.env['FTJ_TEST_KUBECONFIG'] = controlPlane.kubeconfigPath;
  });
  after(async () => {
    await controlPlane.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('after a default helm install, a job in an unlisted namespace trains to Succeeded; every verb granted is used, none refused', async (t) => {
    // The operator's own pod must not start on the node agent's node (it would run a trainer): no node matches.
    await helm([
      'install',
      RELEASE,
      CHART,
      '-n',
      SYSTEM,
      '--create-namespace',
      '--set',
      'nodeSelector.finetune-test=no-node',
    ]);
    const manifests = (await helm(['get', 'manifest', RELEASE, '-n', SYSTEM]).then(parseAllDocuments))
      .map((d) => d.toJSON() as Manifest)
      .filter(Boolean);
    const core = kubeConfig().makeApiClient(CoreV1Api);
    const operatorAccount = `${RELEASE}-finetune-operator`;
    let token = '';
    await eventually(async () => {
      const account = await core.readNamespacedServiceAccount({ name: operatorAccount, namespace: SYSTEM });
      const secret = await core.readNamespacedSecret({ name: account.secrets![0]!.name!, namespace: SYSTEM });
      token = Buffer.from(secret.data!['token']!, 'base64').toString('utf8');
      return token.length > 0;
    }, "the operator ServiceAccount's token");

    // The operator, as the chart's Deployment runs it (its arguments; any free port), with that token only.
    const deployment = manifests.find((m) => m.kind === 'Deployment')!;
    const args = deployment.spec!.template!.spec!.containers![0]!.args!.map((a) =>
      a.startsWith('--port=') ? '--port=0' : a,
    );
    const operator = spawn(process.execPath, [OPERATOR, ...args], {
      env: {
        ...process.env,
        KUBECONFIG: operatorKubeconfig(token),
        POD_NAMESPACE: SYSTEM,
        FTJ_RETRY_BASE_SECONDS: '1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let operatorLog = '';
    operator.stdout.on('data', (d: Buffer) => {
      operatorLog += d.toString();
    });
    operator.stderr.on('data', (d: Buffer) => {
      operatorLog += d.toString();
    });
    t.after(() => {
      operator.kill('SIGKILL');
    });

    // The kubelet's part: trainers get their pod's ServiceAccount token.
    const root = mkdtempSync(join(tmpdir(), 'ftj-least-privilege-node-'));
    t.after(() => rmSync(root, { recursive: true, force: true }));
    writeIdx(join(root, 'data'), await fashionSubset(TRANSFER_CLASSES, 20));
    const base = await pretrainedBase();
    const agent = new NodeAgent({
      kubeConfig: kubeConfig(),
      kubeconfigPath: controlPlane.kubeconfigPath,
      serviceAccountTokens: true,
      nodeName: 'gpu-node',
      capacity: { gpus: 2 },
      root,
      log: () => undefined,
    });
    await agent.start();
    t.after(() => agent.stop());

    await core.createNamespace({ body: { metadata: { name: TEAM } } });
    // What a release installed earlier under another name left: a binding of its trainer role, now gone.
    const rbac = kubeConfig().makeApiClient(RbacAuthorizationV1Api);
    await rbac.createNamespacedRoleBinding({
      namespace: TEAM,
      body: {
        metadata: { name: 'finetune-trainer', labels: { 'app.kubernetes.io/managed-by': 'finetune-operator' } },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'old-finetune-operator-trainer' },
        subjects: [{ kind: 'ServiceAccount', name: 'finetune-trainer', namespace: TEAM }],
      },
    });
    const spec = (name: string, overrides: Record<string, unknown> = {}) => ({
      task: { type: 'ImageClassification', numClasses: 5 },
      model: { uri: `file://${base}`, outputKind: 'Classifier', input: { shape: [28, 28, 1] } },
      dataset: {
        uri: `file://${join(root, 'data')}`,
        format: 'IDX',
        idx: { images: 'images.idx.gz', labels: 'labels.idx.gz' },
      },
      stages: [{ name: 'head', epochs: 2 }],
      output: { uri: `file://${join(root, 'output', name)}` },
      resources: { gpus: 1 },
      ...overrides,
    });
    const api = jobs(TEAM);
    const custom = kubeConfig().makeApiClient(CustomObjectsApi);
    await custom.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: TEAM,
      plural: 'finetunejobs',
      body: { apiVersion: API_VERSION, kind: 'FineTuneJob', metadata: { name: 'flowers' }, spec: spec('flowers') },
    });
    // A long job, suspended once it runs: the operator deletes its pod.
    await custom.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: TEAM,
      plural: 'finetunejobs',
      body: {
        apiVersion: API_VERSION,
        kind: 'FineTuneJob',
        metadata: { name: 'paused' },
        spec: spec('paused', { stages: [{ name: 'head', epochs: 300 }] }),
      },
    });
    // A schedule whose run fails at once (no such dataset) and is pruned (failedJobsHistoryLimit 0).
    await custom.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: TEAM,
      plural: FINETUNESCHEDULE.plural,
      body: {
        apiVersion: API_VERSION,
        kind: FINETUNESCHEDULE.kind,
        metadata: { name: 'minutely' },
        spec: {
          schedule: '* * * * *',
          failedJobsHistoryLimit: 0,
          jobTemplate: {
            spec: spec('minutely', { dataset: { uri: 'file:///no/such/dataset', format: 'ImageFolder' } }),
          },
        },
      },
    });

    const explain = () => `operator log:\n${operatorLog.slice(-3000)}`;
    const paused = await api
      .waitForPods('paused', 1, 60_000)
      .catch((err: Error) => assert.fail(`${err.message}\n${explain()}`));
    await eventually(
      async () => (await api.pods('paused'))[0]?.status?.phase === 'Running',
      'the long job running',
      60_000,
    );
    await kubectl(['patch', 'ftj', 'paused', '-n', TEAM, '--type=merge', '-p', '{"spec":{"suspend":true}}']);
    await eventually(
      async () => (await api.pods('paused')).length === 0,
      `pod ${paused[0]!.metadata!.name} deleted on suspension`,
      90_000,
    );

    const done = await api
      .waitFor(
        'flowers',
        (job) => job.status?.phase === 'Succeeded' || job.status?.phase === 'Failed',
        'the job to finish',
        240_000,
      )
      .catch((err: Error) => assert.fail(`${err.message}\n${explain()}`));
    assert.equal(done.status!.phase, 'Succeeded', JSON.stringify(done.status?.conditions));
    assert.ok(
      done.status!.stages!.some((s) => s.name === 'head' && s.state === 'Succeeded'),
      'the trainer wrote its stages with its own token',
    );

    await eventually(
      async () => {
        const events = (await core.listNamespacedEvent({ namespace: TEAM })).items;
        return events.some((e) => e.involvedObject.kind === 'FineTuneSchedule' && e.reason === 'SuccessfulDelete');
      },
      "the schedule's failed run pruned",
      150_000,
    ).catch((err: Error) => assert.fail(`${err.message}\n${explain()}`));
    await kubectl(['patch', 'ftsched', 'minutely', '-n', TEAM, '--type=merge', '-p', '{"spec":{"suspend":true}}']);

    // What each identity did, from the API server's audit log, once the operator has stopped (SIGTERM: its
    // watches end, so each is logged, and it releases its lease).
    const exited = new Promise((resolve) => operator.once('exit', resolve));
    operator.kill('SIGTERM');
    await exited;
    const identities = {
      operator: `system:serviceaccount:${SYSTEM}:${operatorAccount}`,
      trainer: `system:serviceaccount:${TEAM}:finetune-trainer`,
    };
    const events = readFileSync(auditLog, 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as AuditEvent);
    const used = (user: string) =>
      new Set(
        events
          .filter((e) => e.user.username === user && e.objectRef?.resource)
          .map(
            (e) =>
              `${e.objectRef!.apiGroup ?? ''}/${e.objectRef!.resource}${e.objectRef!.subresource ? `/${e.objectRef!.subresource}` : ''}:${e.verb}`,
          ),
      );
    const refused = events
      .filter((e) => Object.values(identities).includes(e.user.username) && e.responseStatus?.code === 403)
      .map((e) => `${e.user.username} ${e.verb} ${e.objectRef?.resource}/${e.objectRef?.subresource ?? ''}`);
    assert.deepEqual(refused, [], 'nothing either identity did was forbidden');

    const roles = (names: string[]) =>
      manifests.filter((m) => (m.kind === 'ClusterRole' || m.kind === 'Role') && names.includes(m.metadata.name));
    const operatorRoles = roles([
      `${RELEASE}-finetune-operator`,
      `${RELEASE}-finetune-operator-leader-election`,
      `${RELEASE}-finetune-operator-cluster`,
    ]);
    const trainerRoles = roles([`${RELEASE}-finetune-operator-trainer`]);
    assert.equal(operatorRoles.length, 3);
    assert.equal(trainerRoles.length, 1);
    for (const [who, granted] of [
      ['operator', operatorRoles],
      ['trainer', trainerRoles],
    ] as const) {
      const rules = granted.flatMap((role) => role.rules ?? []);
      for (const rule of rules) {
        for (const field of [rule.apiGroups, rule.resources, rule.verbs])
          assert.ok(!field?.includes('*'), `a wildcard in ${JSON.stringify(rule)}`);
      }
      const seen = used(identities[who]);
      const unused = grantsOf(rules).filter((grant) => !seen.has(grant) && !NEEDED_WITHOUT_A_REQUEST[grant]);
      assert.deepEqual(
        unused,
        [],
        `the chart grants the ${who} verbs it never used (used: ${[...seen].sort().join(', ')})`,
      );
    }
    // And the trainer did nothing but read its job and apply its status.
    assert.deepEqual([...used(identities.trainer)].sort(), [
      'finetune.dev/finetunejobs/status:patch',
      'finetune.dev/finetunejobs:get',
    ]);

    // helm uninstall leaves the CRDs and jobs (Helm's convention), and takes the trainer's identity along.
    await helm(['uninstall', RELEASE, '-n', SYSTEM]);
    const gone = (read: Promise<unknown>) =>
      read.then(
        () => false,
        (err: unknown) => err instanceof ApiException && err.code === 404,
      );
    await eventually(
      async () =>
        (await gone(core.readNamespacedServiceAccount({ name: 'finetune-trainer', namespace: TEAM }))) &&
        (await gone(rbac.readNamespacedRoleBinding({ name: 'finetune-trainer', namespace: TEAM }))),
      'the trainer ServiceAccount and RoleBinding removed with the release',
      60_000,
    );
    assert.equal((await api.get('flowers'))?.status?.phase, 'Succeeded', 'the jobs stay');
  });
});
