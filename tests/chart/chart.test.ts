import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { CoreV1Api } from '@kubernetes/client-node';
import { parse, parseAllDocuments } from 'yaml';
import { installCRDs, kubeConfig, kubectl, testNamespace } from '../support/cluster.ts';
import { helm } from '../support/helm.ts';
import { ROOT } from '../support/paths.ts';

const CHART = join(ROOT, 'helm', 'finetune-operator');
type Rule = { apiGroups?: string[]; resources?: string[]; verbs?: string[]; resourceNames?: string[] };
type Manifest = {
  kind: string;
  metadata: { name: string; namespace?: string };
  rules?: Rule[];
  spec?: { ports?: { protocol?: string }[] };
};

const render = async (args: string[] = []) =>
  parseAllDocuments(await helm(['template', 'fto', CHART, ...args]))
    .map((d) => d.toJSON() as Manifest)
    .filter(Boolean);

describe('the Helm chart, with the real helm 4', () => {
  before(installCRDs);

  it("lints, and renders rules without wildcards, the operator's trainer provisioning limited to what it needs", async () => {
    await helm(['lint', CHART, '--strict']);
    for (const manifests of [
      await render(),
      await render(['--set', 'namespaces={team-a,team-b}', '--set', 'serviceMonitor.enabled=true']),
    ]) {
      const rules = manifests.flatMap((m) => m.rules ?? []);
      assert.ok(rules.length > 0);
      for (const rule of rules) {
        for (const field of [rule.apiGroups, rule.resources, rule.verbs])
          assert.ok(!field?.includes('*'), `a wildcard in ${JSON.stringify(rule)}`);
      }
      const operator = manifests.find(
        (m) => (m.kind === 'ClusterRole' || m.kind === 'Role') && m.metadata.name === 'fto-finetune-operator',
      )!;
      const grants = (resource: string) => operator.rules!.filter((r) => r.resources?.includes(resource));
      // get and patch converge what an earlier release left (trainer-access.ts); create provisions.
      assert.deepEqual(
        grants('serviceaccounts').map((r) => r.verbs),
        [['get', 'create', 'patch']],
      );
      // blockOwnerDeletion on the trainer pods' owner reference, under OwnerReferencesPermissionEnforcement.
      assert.deepEqual(
        grants('finetunejobs/finalizers').map((r) => r.verbs),
        [['update']],
      );
      // Schedules create their runs, delete them (history limits, Replace) and own them with blockOwnerDeletion.
      assert.deepEqual(
        grants('finetunejobs').map((r) => r.verbs),
        [['get', 'list', 'watch', 'create', 'delete']],
      );
      assert.deepEqual(
        grants('finetuneschedules/finalizers').map((r) => r.verbs),
        [['update']],
      );
      assert.deepEqual(
        grants('finetuneschedules/status').map((r) => r.verbs),
        [['patch']],
      );
      assert.deepEqual(
        grants('rolebindings').map((r) => r.verbs),
        [['get', 'create', 'delete']],
      );
      // It binds the trainer's ClusterRole by holding its permissions, without the bind verb (tests/chart/least-privilege).
      assert.deepEqual(grants('clusterroles'), []);
      // Cluster-wide, whatever namespaces says: other operators' Leases (list) and its own trainer ClusterRole (get), nothing else.
      const cluster = manifests.find(
        (m) => m.kind === 'ClusterRole' && m.metadata.name === 'fto-finetune-operator-cluster',
      )!;
      assert.deepEqual(cluster.rules, [
        { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['list'] },
        {
          apiGroups: ['rbac.authorization.k8s.io'],
          resources: ['clusterroles'],
          resourceNames: ['fto-finetune-operator-trainer'],
          verbs: ['get'],
        },
      ]);
      // helm 4 applies server-side: a Service port is a list-map keyed by port and protocol.
      for (const service of manifests.filter((m) => m.kind === 'Service')) {
        assert.ok(
          service.spec!.ports!.every((p) => p.protocol),
          `${service.metadata.name}: every port names its protocol`,
        );
      }
    }
  });

  it('grants the operator a Role in each listed namespace, and cluster-wide only the Lease list and its trainer role, when namespaces is set', async () => {
    const scoped = await render(['--set', 'namespaces={team-a,team-b}']);
    const operatorObjects = scoped.filter((m) => m.metadata.name === 'fto-finetune-operator' && /Role/.test(m.kind));
    assert.deepEqual(operatorObjects.map((m) => `${m.kind}/${m.metadata.namespace}`).sort(), [
      'Role/team-a',
      'Role/team-b',
      'RoleBinding/team-a',
      'RoleBinding/team-b',
    ]);
    const clusterWide = (await render()).find(
      (m) => m.kind === 'ClusterRole' && m.metadata.name === 'fto-finetune-operator',
    )!;
    for (const role of operatorObjects.filter((m) => m.kind === 'Role'))
      assert.deepEqual(role.rules, clusterWide.rules, 'the same rules, namespaced');
    assert.ok(!scoped.some((m) => m.kind === 'ClusterRoleBinding' && m.metadata.name === 'fto-finetune-operator'));
  });

  it("names everything from the release, so two releases never collide; every option reaches the operator's pod", async () => {
    const names = async (release: string) =>
      parseAllDocuments(await helm(['template', release, CHART]))
        .map((d) => d.toJSON() as Manifest)
        .filter(Boolean)
        .map((m) => `${m.kind}/${m.metadata.name}`);
    const [a, b] = [await names('team-a'), await names('team-b')];
    assert.deepEqual(
      a.filter((name) => b.includes(name)),
      [],
      'no object name in common',
    );
    assert.ok(a.includes('ClusterRole/team-a-finetune-operator-trainer'));

    const everything = await render([
      '--set',
      'replicas=3',
      '--set',
      'podLabels.team=ml',
      '--set',
      'podAnnotations.owner=ml-platform',
      '--set',
      'priorityClassName=critical',
      '--set',
      'imagePullSecrets[0].name=registry',
      '--set',
      'nodeSelector.pool=system',
      '--set',
      'extraArgs[0]=--resync-seconds=300',
      '--set-json',
      'tolerations=[{"key":"system","operator":"Exists"}]',
      '--set-json',
      'extraEnv=[{"name":"NODE_OPTIONS","value":"--max-old-space-size=200"}]',
      '--set-json',
      'topologySpreadConstraints=[{"maxSkew":1,"topologyKey":"kubernetes.io/hostname","whenUnsatisfiable":"ScheduleAnyway"}]',
      '--set',
      'serviceAccount.annotations.team=ml',
      '--set',
      'trainer.serviceAccountName=trainer',
    ]);
    type Pod = {
      metadata: { labels: Record<string, string>; annotations: Record<string, string> };
      spec: Record<string, unknown> & { containers: { args: string[]; env: { name: string }[] }[] };
    };
    const deployment = everything.find((m) => m.kind === 'Deployment') as unknown as { spec: { template: Pod } };
    const pod = deployment.spec.template;
    assert.equal(pod.metadata.labels['team'], 'ml');
    assert.equal(pod.metadata.annotations['owner'], 'ml-platform');
    for (const key of [
      'priorityClassName',
      'imagePullSecrets',
      'nodeSelector',
      'tolerations',
      'topologySpreadConstraints',
    ])
      assert.ok(pod.spec[key], key);
    const [container] = pod.spec.containers;
    assert.ok(
      container!.args.includes('--resync-seconds=300') && container!.args.includes('--trainer-service-account=trainer'),
    );
    // The trainer image is the release's own (the chart's appVersion) unless told otherwise.
    const { appVersion } = parse(readFileSync(join(CHART, 'Chart.yaml'), 'utf8')) as { appVersion: string };
    const trainerImage = async (args: string[] = []) =>
      (
        (await render(args)).find((m) => m.kind === 'Deployment') as unknown as { spec: { template: Pod } }
      ).spec.template.spec.containers[0]!.args.find((a) => a.startsWith('--trainer-image='));
    assert.equal(await trainerImage(), `--trainer-image=ghcr.io/finetune-operator/trainer:${appVersion}`);
    assert.equal(
      await trainerImage(['--set', 'trainerImage=registry.local/trainer:dev']),
      '--trainer-image=registry.local/trainer:dev',
    );
    assert.ok(container!.env.some((e) => e.name === 'NODE_OPTIONS'));
    assert.ok(
      everything.some((m) => m.kind === 'PodDisruptionBudget'),
      'a PodDisruptionBudget with more than one replica',
    );
    assert.ok(!(await render(['--set', 'replicas=1'])).some((m) => m.kind === 'PodDisruptionBudget'), 'none with one');
    const aggregated = everything.filter((m) => m.kind === 'ClusterRole' && /-(edit|view)$/.test(m.metadata.name));
    assert.equal(aggregated.length, 2, "edit and view ClusterRoles aggregate into Kubernetes' own");
  });

  it("renders KServe's ClusterServingRuntime for the predictor (opt-in), which the example InferenceService selects", async () => {
    assert.equal(
      (await render()).find((m) => m.kind === 'ClusterServingRuntime'),
      undefined,
      'off by default',
    );
    type Runtime = {
      apiVersion: string;
      spec: {
        supportedModelFormats: { name: string; version: string; autoSelect: boolean }[];
        protocolVersions: string[];
        containers: { name: string; image: string; args: string[]; ports: { containerPort: number }[] }[];
      };
    };
    const runtime = (await render(['--set', 'kserve.servingRuntime.enabled=true'])).find(
      (m) => m.kind === 'ClusterServingRuntime',
    ) as unknown as Runtime;
    // KServe's documented contract (serving.kserve.io/v1alpha1 ServingRuntime): the formats it serves, the
    // protocol, and a container named kserve-container that finds the model at /mnt/models.
    assert.equal(runtime.apiVersion, 'serving.kserve.io/v1alpha1');
    assert.deepEqual(runtime.spec.supportedModelFormats, [{ name: 'finetune-tfjs', version: '1', autoSelect: true }]);
    assert.deepEqual(runtime.spec.protocolVersions, ['v2']);
    const [container] = runtime.spec.containers;
    assert.equal(container!.name, 'kserve-container');
    assert.match(container!.image, /^ghcr\.io\/finetune-operator\/predictor:/);
    assert.ok(
      container!.args.includes('--model=/mnt/models') && container!.args.includes('--model-name={{.Name}}'),
      container!.args.join(' '),
    );
    assert.deepEqual(
      container!.ports.map((p) => p.containerPort),
      [8080],
    );
    const service = parse(readFileSync(join(ROOT, 'deploy', 'kserve', 'inferenceservice.yaml'), 'utf8')) as {
      apiVersion: string;
      spec: { predictor: { model: { modelFormat: { name: string }; protocolVersion: string; storageUri: string } } };
    };
    assert.equal(service.apiVersion, 'serving.kserve.io/v1beta1');
    assert.equal(service.spec.predictor.model.modelFormat.name, runtime.spec.supportedModelFormats[0]!.name);
    assert.ok(runtime.spec.protocolVersions.includes(service.spec.predictor.model.protocolVersion));
    assert.match(service.spec.predictor.model.storageUri, /^s3:\/\//);
  });

  it('the predictor without KServe: deploy/predictor/predictor.yaml is accepted by the API server', async (t) => {
    const namespace = await testNamespace(t, 'predictor');
    const applied = await kubectl([
      'apply',
      '--dry-run=server',
      '-n',
      namespace,
      '-f',
      join(ROOT, 'deploy', 'predictor', 'predictor.yaml'),
    ]);
    assert.equal(applied.code, 0, applied.stderr);
    assert.match(applied.stdout, /deployment\.apps\/flowers-predictor created \(server dry run\)/);
  });

  it("scrapes the predictors without KServe (opt-in): a PodMonitor on deploy/predictor/predictor.yaml's pod label and port", async () => {
    type PodMonitor = {
      spec: {
        selector: { matchLabels: Record<string, string> };
        podMetricsEndpoints: { port: string; path: string }[];
      };
    };
    const monitors = (await render(['--set', 'predictorPodMonitor.enabled=true'])).filter(
      (m) => m.kind === 'PodMonitor',
    );
    assert.deepEqual(
      monitors.map((m) => m.metadata.name),
      ['fto-finetune-operator-predictors'],
    );
    const { spec } = monitors[0] as unknown as PodMonitor;
    const deployment = parseAllDocuments(readFileSync(join(ROOT, 'deploy', 'predictor', 'predictor.yaml'), 'utf8'))
      .map((d) => d.toJSON() as { kind: string; spec: { template: PodTemplate } })
      .find((m) => m.kind === 'Deployment')!;
    type PodTemplate = {
      metadata: { labels: Record<string, string> };
      spec: { containers: { ports: { name: string }[]; livenessProbe: unknown }[] };
    };
    const pod = deployment.spec.template;
    for (const [key, value] of Object.entries(spec.selector.matchLabels)) assert.equal(pod.metadata.labels[key], value);
    assert.deepEqual(
      spec.podMetricsEndpoints.map((e) => [e.port, e.path]),
      [['http', '/metrics']],
    );
    assert.ok(pod.spec.containers[0]!.ports.some((p) => p.name === 'http'));
    assert.equal(
      (await render()).find((m) => m.kind === 'PodMonitor'),
      undefined,
      'off by default',
    );
  });

  it('ships the alerts promtool tests as a PrometheusRule, unchanged', async () => {
    const rule = (await render(['--set', 'prometheusRule.enabled=true'])).find(
      (m) => m.kind === 'PrometheusRule',
    ) as unknown as { spec: unknown };
    assert.deepEqual(rule.spec, parse(readFileSync(join(CHART, 'files', 'prometheus-rules.yaml'), 'utf8')));
    assert.equal(
      (await render()).find((m) => m.kind === 'PrometheusRule'),
      undefined,
      'off by default',
    );
  });

  it('refuses wrong values at install, naming them: a non-numeric workers, a mistyped key', async () => {
    const refused = (args: string[]) =>
      render(args).then(
        () => '',
        (err: { stderr?: string }) => err.stderr ?? String(err),
      );
    assert.match(await refused(['--set', 'workers=abc']), /at '\/workers': got string, want integer/);
    assert.match(await refused(['--set', 'replica=3']), /additional properties 'replica' not allowed/);
    assert.match(await refused(['--set', 'image.pullPolicy=Sometimes']), /\/image\/pullPolicy/);
    assert.match(await refused(['--set', 'replicas=-1']), /\/replicas/);
    // replicas: 0 pauses the operator (a common way to stop one for a while): allowed, and no PodDisruptionBudget.
    const paused = await render(['--set', 'replicas=0']);
    assert.equal(
      (paused.find((m) => m.kind === 'Deployment') as unknown as { spec: { replicas: number } }).spec.replicas,
      0,
    );
    assert.ok(!paused.some((m) => m.kind === 'PodDisruptionBudget'));
  });

  it("installs with helm 4's default (server-side apply) on the control plane, upgrades and uninstalls", async (t) => {
    const namespace = await testNamespace(t, 'chart');
    const release = `fto-${randomBytes(3).toString('hex')}`;
    t.after(() => helm(['uninstall', release, '-n', namespace]).catch(() => undefined));
    assert.match(await helm(['install', release, CHART, '-n', namespace]), /STATUS: deployed/);
    const core = kubeConfig().makeApiClient(CoreV1Api);
    const service = await core.readNamespacedService({ name: `${release}-finetune-operator-metrics`, namespace });
    assert.equal(service.spec!.ports![0]!.protocol, 'TCP');
    // The documented CRD upgrade: helm never updates crds/, so they are applied first, server-side.
    const crds = await kubectl(['apply', '--server-side', '--force-conflicts', '-f', join(CHART, 'crds')]);
    assert.match(crds.stdout, /finetunejobs\.finetune\.dev serverside-applied/);
    assert.match(await helm(['upgrade', release, CHART, '-n', namespace, '--set', 'workers=20']), /REVISION: 2/);
    await helm(['uninstall', release, '-n', namespace]);
    const gone = await core.readNamespacedService({ name: `${release}-finetune-operator-metrics`, namespace }).then(
      () => false,
      () => true,
    );
    assert.ok(gone, 'uninstall removed the Service');
  });
});
