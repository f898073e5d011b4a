import { ApiException, CoordinationV1Api, CoreV1Api, type KubeConfig, type V1Node } from '@kubernetes/client-node';
import { microTime } from '../../operator/runtime/micro-time.ts';

export interface NodeCapacity {
  cpu?: string;
  memory?: string;
  gpus?: number;
  pods?: number;
}

/** How often the Lease is renewed; the node-lifecycle controller marks a node unreachable after 40 s of silence. */
const HEARTBEAT_MS = 10_000;

/**
 * Registers a Ready Node with the given capacity (nvidia.com/gpu included, so
 * the real scheduler does GPU accounting) and keeps it Ready with Lease
 * heartbeats as a kubelet does. Returns a function that stops the heartbeats
 * and deletes the Node.
 */
export async function registerNode(
  kc: KubeConfig,
  name: string,
  capacity: NodeCapacity = {},
  kubeletPort?: number,
): Promise<() => Promise<void>> {
  const core = kc.makeApiClient(CoreV1Api);
  const leases = kc.makeApiClient(CoordinationV1Api);
  const resources: Record<string, string> = {
    cpu: capacity.cpu ?? '8',
    memory: capacity.memory ?? '32Gi',
    pods: String(capacity.pods ?? 110),
    ...(capacity.gpus ? { 'nvidia.com/gpu': String(capacity.gpus) } : {}),
  };
  const node: V1Node = {
    metadata: { name, labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux' } },
    status: {
      capacity: resources,
      allocatable: resources,
      conditions: [readyCondition()],
      // Where the API server reaches the node's kubelet endpoint (kubectl logs): the node agent, on loopback.
      ...(kubeletPort
        ? {
            addresses: [
              { type: 'InternalIP', address: '127.0.0.1' },
              { type: 'Hostname', address: name },
            ],
            daemonEndpoints: { kubeletEndpoint: { Port: kubeletPort } },
          }
        : {}),
    },
  };
  await core.createNode({ body: node });
  // Status sent on create is not kept: write it through the status subresource,
  // re-reading on conflict (node controllers touch a new Node at once).
  for (let attempt = 1; ; attempt++) {
    const current = await core.readNode({ name });
    try {
      await core.replaceNodeStatus({ name, body: { ...current, status: { ...current.status, ...node.status } } });
      break;
    } catch (err) {
      if (!(err instanceof ApiException && err.code === 409) || attempt === 5) throw err;
    }
  }

  const renew = async () => {
    const now = new Date();
    try {
      const lease = await leases.readNamespacedLease({ name, namespace: 'kube-node-lease' });
      lease.spec = {
        ...lease.spec,
        renewTime: microTime(now),
        ...(lease.spec?.acquireTime ? { acquireTime: microTime(lease.spec.acquireTime) } : {}),
      };
      await leases.replaceNamespacedLease({ name, namespace: 'kube-node-lease', body: lease });
    } catch {
      await leases
        .createNamespacedLease({
          namespace: 'kube-node-lease',
          body: {
            metadata: { name },
            spec: { holderIdentity: name, leaseDurationSeconds: 40, renewTime: microTime(now) },
          },
        })
        .catch(() => undefined);
    }
  };
  await renew();
  const timer = setInterval(() => {
    void renew();
  }, HEARTBEAT_MS);
  timer.unref();

  return async () => {
    clearInterval(timer);
    await core.deleteNode({ name }).catch(() => undefined);
  };
}

function readyCondition() {
  const now = new Date();
  return {
    type: 'Ready',
    status: 'True',
    reason: 'KubeletReady',
    message: 'registered by the finetune-operator local control plane',
    lastHeartbeatTime: now,
    lastTransitionTime: now,
  };
}
