// Two Helm releases on one control plane, their operators run for real: the
// node agent runs each release's operator Deployment as the operator process
// (its arguments, environment and ServiceAccount token). Releases with
// disjoint namespaces both reconcile; one that overlaps them stands by, saying
// why, until they are uninstalled, then takes over. A control plane of this
// file's own: the charts' cluster-wide objects stay out of the shared one.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { ControlPlane } from '../../src/local/control-plane/index.ts';
import { NodeAgent } from '../../src/local/node-agent/node-agent.ts';
import { eventually, kubeConfig } from '../support/cluster.ts';
import { helm } from '../support/helm.ts';
import { ROOT } from '../support/paths.ts';

const CHART = join(ROOT, 'helm', 'finetune-operator');
const controlPlane = new ControlPlane({ log: () => undefined });

describe('two Helm releases on one cluster', () => {
  before(async () => {
    await controlPlane.start();
    process.env['FTJ_TEST_KUBECONFIG'] = controlPlane.kubeconfigPath;
  });
  after(() => controlPlane.stop());

  it('never reconcile the same namespace: disjoint releases both run; an overlapping one stands by until they are gone', async (t) => {
    const root = mkdtempSync(join(tmpdir(), 'ftj-two-releases-'));
    t.after(() => rmSync(root, { recursive: true, force: true }));
    const agent = new NodeAgent({
      kubeConfig: kubeConfig(),
      kubeconfigPath: controlPlane.kubeconfigPath,
      serviceAccountTokens: true,
      nodeName: 'node',
      capacity: { gpus: 1 },
      root,
      log: () => undefined,
    });
    await agent.start();
    t.after(() => agent.stop());
    const core = kubeConfig().makeApiClient(CoreV1Api);
    for (const name of ['team-alpha', 'team-beta']) await core.createNamespace({ body: { metadata: { name } } });

    const install = (release: string, namespaces: string[]) =>
      helm([
        'install',
        release,
        CHART,
        '-n',
        `ops-${release}`,
        '--create-namespace',
        '--set',
        'replicas=1',
        ...(namespaces.length ? ['--set', `namespaces={${namespaces.join(',')}}`] : []),
      ]);
    const operatorPod = async (release: string): Promise<V1Pod | undefined> =>
      (
        await core.listNamespacedPod({
          namespace: `ops-${release}`,
          labelSelector: `app.kubernetes.io/instance=${release}`,
        })
      ).items.find((pod) => !pod.metadata?.deletionTimestamp);
    const logOf = async (release: string) => {
      const pod = await operatorPod(release);
      return pod ? agent.logs(`ops-${release}`, pod.metadata!.name!) : '';
    };
    const untilLogged = (release: string, text: string, what: string) =>
      eventually(async () => (await logOf(release)).includes(text), `${release}: ${what}`, 90_000).catch(
        async (err: Error) => assert.fail(`${err.message}\n${release}'s log:\n${(await logOf(release)).slice(-2000)}`),
      );

    await install('alpha', ['team-alpha']);
    await install('beta', ['team-beta']);
    await untilLogged(
      'alpha',
      'reconciling FineTuneJobs and FineTuneSchedules in team-alpha',
      'reconciling its namespace',
    );
    await untilLogged(
      'beta',
      'reconciling FineTuneJobs and FineTuneSchedules in team-beta',
      'reconciling its namespace',
    );
    assert.equal(
      (await operatorPod('alpha'))?.status?.phase,
      'Running',
      "the chart's Deployment runs as the real operator",
    );

    // A release for every namespace overlaps both: it stands by and says which operator it defers to.
    await install('gamma', []);
    await untilLogged('gamma', 'standing by: the operator of Lease ops-', 'standing by');
    const standing = await logOf('gamma');
    assert.match(
      standing,
      /already reconciles namespaces team-(alpha|beta), which overlaps this one's \(all namespaces\)/,
    );
    assert.doesNotMatch(standing, /reconciling FineTuneJobs/, 'the younger operator reconciles nothing');

    // Once both are uninstalled (their operators release their Leases on SIGTERM), it takes over.
    await helm(['uninstall', 'alpha', '-n', 'ops-alpha']);
    await helm(['uninstall', 'beta', '-n', 'ops-beta']);
    await untilLogged('gamma', 'reconciling FineTuneJobs and FineTuneSchedules in all namespaces', 'taking over');
  });
});
