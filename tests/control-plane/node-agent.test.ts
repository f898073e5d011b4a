import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { CoreV1Api } from '@kubernetes/client-node';
import { NodeAgent } from '../../src/local/node-agent/node-agent.ts';
import { kubeConfig, testNamespace } from '../support/cluster.ts';

describe('the local kubelet stand-in', () => {
  it('starts no container once stop() has begun, even from a sync already in flight', async (t) => {
    const namespace = await testNamespace(t, 'node-agent');
    const root = mkdtempSync(join(tmpdir(), 'ftj-node-agent-'));
    t.after(() => rmSync(root, { recursive: true, force: true }));
    const nodeName = `agent-${namespace}`;
    const core = kubeConfig().makeApiClient(CoreV1Api);
    await core.createNamespacedPod({ namespace, body: {
      metadata: { name: 'bound' }, spec: { nodeName, containers: [{ name: 'trainer', image: 'x', args: ['--help'] }] },
    } });
    const agent = new NodeAgent({
      kubeConfig: kubeConfig(), kubeconfigPath: process.env['FTJ_TEST_KUBECONFIG']!, nodeName, capacity: { gpus: 1 }, root, log: () => undefined,
    });
    // start() leaves its first sync listing the node's pods; stop() runs while that request is in flight.
    await agent.start();
    await agent.stop();
    await sleep(2_000);

    assert.equal(existsSync(join(root, 'logs', namespace, 'bound.log')), false, 'no container was started for the pod');
    const pod = await core.readNamespacedPod({ namespace, name: 'bound' });
    assert.equal(pod.status?.phase, 'Pending', 'the pod was never reported running');
  });
});
