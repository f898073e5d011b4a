import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { CoreV1Api, type V1Container, type V1Pod } from '@kubernetes/client-node';
import { JOB_NAME_LABEL } from '../../src/api/v1alpha1/index.ts';
import { NodeAgent } from '../../src/local/node-agent/node-agent.ts';
import { alive } from '../support/processes.ts';
import { eventually, kubeConfig, testNamespace } from '../support/cluster.ts';

/** A node agent on a Node of this test's own, stopped when the test ends. */
async function startAgent(
  t: TestContext,
  namespace: string,
  serviceAccountTokens = false,
): Promise<{ agent: NodeAgent; nodeName: string; root: string }> {
  const root = mkdtempSync(join(tmpdir(), 'ftj-node-agent-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const nodeName = `agent-${namespace}`;
  const agent = new NodeAgent({
    kubeConfig: kubeConfig(),
    kubeconfigPath: process.env['FTJ_TEST_KUBECONFIG']!,
    nodeName,
    capacity: { gpus: 1 },
    root,
    log: () => undefined,
    serviceAccountTokens,
  });
  await agent.start();
  t.after(() => agent.stop());
  return { agent, nodeName, root };
}

/**
 * A pod bound to the node, as a trainer (the job label) unless the container says otherwise. The trainer is
 * given a spec file that does not exist: it starts, names the file in its log and exits 2, within seconds.
 */
const boundPod = (nodeName: string, name: string, container: Partial<V1Container> = {}, trainer = true): V1Pod => ({
  metadata: { name, ...(trainer ? { labels: { [JOB_NAME_LABEL]: 'test' } } : {}) },
  spec: {
    nodeName,
    restartPolicy: 'Never',
    containers: [
      {
        name: 'trainer',
        image: 'finetune/trainer:test',
        args: ['--spec', `/no/such/${name.slice(0, 20)}.yaml`],
        ...container,
      },
    ],
  },
});
const exitOf = (pod: V1Pod) => pod.status?.containerStatuses?.[0]?.state?.terminated?.exitCode;

describe('the local kubelet stand-in', () => {
  it('starts no container once stop() has begun, even from a sync already in flight', async (t) => {
    const namespace = await testNamespace(t, 'node-agent');
    const root = mkdtempSync(join(tmpdir(), 'ftj-node-agent-'));
    t.after(() => rmSync(root, { recursive: true, force: true }));
    const nodeName = `agent-${namespace}`;
    const core = kubeConfig().makeApiClient(CoreV1Api);
    await core.createNamespacedPod({ namespace, body: boundPod(nodeName, 'bound') });
    const agent = new NodeAgent({
      kubeConfig: kubeConfig(),
      kubeconfigPath: process.env['FTJ_TEST_KUBECONFIG']!,
      nodeName,
      capacity: { gpus: 1 },
      root,
      log: () => undefined,
    });
    // start() leaves its first sync listing the node's pods; stop() runs while that request is in flight.
    await agent.start();
    await agent.stop();
    await sleep(2_000);

    assert.equal(existsSync(join(root, 'logs', namespace)), false, 'no container was started for the pod');
    const pod = await core.readNamespacedPod({ namespace, name: 'bound' });
    assert.equal(pod.status?.phase, 'Pending', 'the pod was never reported running');
  });

  it("keys pods by UID: a pod re-created under a finished or force-deleted one's name runs, with a log and an exit of its own", async (t) => {
    const namespace = await testNamespace(t, 'node-agent-uid');
    const { agent, nodeName } = await startAgent(t, namespace, true);
    const core = kubeConfig().makeApiClient(CoreV1Api);
    const phase = async (name: string) => (await core.readNamespacedPod({ namespace, name })).status?.phase;

    // A finished pod, deleted and made again (delete and re-apply, kubectl ftj retry).
    await core.createNamespacedPod({
      namespace,
      body: boundPod(nodeName, 'again', { args: ['--spec', '/no/such/first.yaml'] }),
    });
    await eventually(async () => (await phase('again')) === 'Failed', 'the first pod to finish', 60_000);
    await core.deleteNamespacedPod({ namespace, name: 'again' });
    await eventually(
      () =>
        core.readNamespacedPod({ namespace, name: 'again' }).then(
          () => false,
          () => true,
        ),
      'the first pod gone',
    );
    await core.createNamespacedPod({
      namespace,
      body: boundPod(nodeName, 'again', { args: ['--spec', '/no/such/second.yaml'] }),
    });
    await eventually(
      async () => exitOf(await core.readNamespacedPod({ namespace, name: 'again' })) === 2,
      'the second pod to run to its end',
      60_000,
    );
    assert.match(agent.logs(namespace, 'again'), /second\.yaml/);
    assert.doesNotMatch(agent.logs(namespace, 'again'), /first\.yaml/, "the log is the second pod's only");

    // A running pod removed at once (force delete, or its job deleted with --cascade=orphan and cleaned up),
    // then made again: the old container is stopped, the new one runs, and the old exit lands on nobody.
    await core.createNamespacedPod({
      namespace,
      body: boundPod(
        nodeName,
        'replaced',
        {
          image: 'ghcr.io/finetune-operator/operator:0.1.0',
          args: [`--namespaces=${namespace}-none`],
        },
        false,
      ),
    });
    await eventually(
      async () => (await phase('replaced')) === 'Running' && agent.pidOf(namespace, 'replaced') !== undefined,
      'the long-running pod',
      60_000,
    );
    const oldPid = agent.pidOf(namespace, 'replaced')!;
    await core.deleteNamespacedPod({ namespace, name: 'replaced', gracePeriodSeconds: 0 });
    await core.createNamespacedPod({ namespace, body: boundPod(nodeName, 'replaced') });
    await eventually(
      async () => exitOf(await core.readNamespacedPod({ namespace, name: 'replaced' })) !== undefined,
      'the new pod to run to its end',
      60_000,
    );
    assert.equal(
      exitOf(await core.readNamespacedPod({ namespace, name: 'replaced' })),
      2,
      "the new pod's own exit code",
    );
    assert.match(agent.logs(namespace, 'replaced'), /replaced\.yaml/);
    // The old operator exits 0 on SIGTERM: reported on the new pod, that would read Succeeded.
    await eventually(() => !alive(oldPid), 'the old container stopped', 40_000);
    await sleep(1_000);
    assert.equal(await phase('replaced'), 'Failed', "the old container's exit was not reported on the new pod");
  });

  it('stops the container of a running pod deleted with a grace period (SIGTERM), then removes the pod', async (t) => {
    const namespace = await testNamespace(t, 'node-agent-delete');
    const { agent, nodeName } = await startAgent(t, namespace, true);
    const core = kubeConfig().makeApiClient(CoreV1Api);
    await core.createNamespacedPod({
      namespace,
      body: boundPod(
        nodeName,
        'long',
        {
          image: 'ghcr.io/finetune-operator/operator:0.1.0',
          args: [`--namespaces=${namespace}-none`],
        },
        false,
      ),
    });
    await eventually(
      async () =>
        agent.pidOf(namespace, 'long') !== undefined &&
        (await core.readNamespacedPod({ namespace, name: 'long' })).status?.phase === 'Running',
      'the pod running',
      60_000,
    );
    const pid = agent.pidOf(namespace, 'long')!;
    await core.deleteNamespacedPod({ namespace, name: 'long' });
    await eventually(
      () =>
        core.readNamespacedPod({ namespace, name: 'long' }).then(
          () => false,
          () => true,
        ),
      'the pod removed once its container exited',
      60_000,
    );
    assert.equal(alive(pid), false, 'its container stopped');
  });

  it('runs a pod with a 253-character name, and reports why it will not run another, without holding up the rest', async (t) => {
    const namespace = await testNamespace(t, 'node-agent-names');
    const { agent, nodeName } = await startAgent(t, namespace);
    const core = kubeConfig().makeApiClient(CoreV1Api);
    const long = `${'a'.repeat(62)}.${'b'.repeat(62)}.${'c'.repeat(62)}.${'d'.repeat(62)}.e`;
    assert.equal(long.length, 253);
    await core.createNamespacedPod({
      namespace,
      body: boundPod(nodeName, 'web', { name: 'web', image: 'nginx:1.27', args: [] }, false),
    });
    await core.createNamespacedPod({ namespace, body: boundPod(nodeName, long) });
    await eventually(
      async () => exitOf(await core.readNamespacedPod({ namespace, name: long })) === 2,
      'the long-named pod to run',
      60_000,
    );
    assert.match(agent.logs(namespace, long), /aaaaaaaaaaaaaaaaaaaa\.yaml/);

    const web = await core.readNamespacedPod({ namespace, name: 'web' });
    assert.equal(
      web.status?.phase,
      'Pending',
      'not run, and not failed (a ReplicaSet would replace a failed pod at once)',
    );
    const waiting = web.status?.containerStatuses?.[0]?.state?.waiting;
    assert.equal(waiting?.reason, 'ErrImageNeverPull');
    assert.match(
      waiting?.message ?? '',
      /container image "nginx:1.27" is not present on node .*: the local node agent runs only the project's trainer image/,
    );
  });

  it('keeps a container whose Secret is missing waiting with CreateContainerConfigError, and runs it once the Secret exists', async (t) => {
    const namespace = await testNamespace(t, 'node-agent-secret');
    const { agent, nodeName } = await startAgent(t, namespace);
    const core = kubeConfig().makeApiClient(CoreV1Api);
    await core.createNamespacedPod({
      namespace,
      body: boundPod(nodeName, 'needs-secret', {
        env: [
          {
            name: 'AWS_ACCESS_KEY_ID',
            valueFrom: { secretKeyRef: { name: 's3-credentials', key: 'AWS_ACCESS_KEY_ID' } },
          },
        ],
      }),
    });
    await eventually(
      async () =>
        (await core.readNamespacedPod({ namespace, name: 'needs-secret' })).status?.containerStatuses?.[0]?.state
          ?.waiting?.reason === 'CreateContainerConfigError',
      'the waiting reason',
      30_000,
    );
    const pod = await core.readNamespacedPod({ namespace, name: 'needs-secret' });
    assert.equal(pod.status!.containerStatuses![0]!.state!.waiting!.message, 'secret "s3-credentials" not found');
    assert.equal(agent.pidOf(namespace, 'needs-secret'), undefined);

    await core.createNamespacedSecret({
      namespace,
      body: { metadata: { name: 's3-credentials' }, stringData: { AWS_ACCESS_KEY_ID: 'key' } },
    });
    await eventually(
      async () => exitOf(await core.readNamespacedPod({ namespace, name: 'needs-secret' })) === 2,
      'the pod to run once the Secret exists',
      60_000,
    );
  });
});
