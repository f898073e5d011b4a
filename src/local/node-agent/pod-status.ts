import { ApiException, type CoreV1Api, type V1PodStatus } from '@kubernetes/client-node';

const CONFLICT_RETRIES = 5;

/**
 * Writes a pod's status as a kubelet does: read, change, replace, and again
 * on a conflict (client-go's RetryOnConflict), since the scheduler or another
 * writer may update the pod between the read and the write. With `uid`, only
 * that pod is written: a pod re-created under the same name is another pod,
 * and a report about the old one (its exit) must never land on it. Returns
 * whether it wrote.
 */
export async function updatePodStatus(
  core: CoreV1Api,
  pod: { name: string; namespace: string; uid?: string },
  change: (status: V1PodStatus) => V1PodStatus,
): Promise<boolean> {
  const { name, namespace } = pod;
  for (let attempt = 1; ; attempt++) {
    const fresh = await core.readNamespacedPod({ name, namespace });
    if (pod.uid !== undefined && fresh.metadata?.uid !== pod.uid) return false;
    fresh.status = change(fresh.status ?? {});
    try {
      await core.replaceNamespacedPodStatus({ name, namespace, body: fresh });
      return true;
    } catch (err) {
      if (!(err instanceof ApiException && err.code === 409) || attempt === CONFLICT_RETRIES) throw err;
    }
  }
}
