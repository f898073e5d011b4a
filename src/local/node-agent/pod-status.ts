import { ApiException, type CoreV1Api, type V1PodStatus } from '@kubernetes/client-node';

const CONFLICT_RETRIES = 5;

/**
 * Writes a pod's status as a kubelet does: read, change, replace, and again
 * on a conflict (client-go's RetryOnConflict), since the scheduler or another
 * writer may update the pod between the read and the write.
 */
export async function updatePodStatus(core: CoreV1Api, pod: { name: string; namespace: string }, change: (status: V1PodStatus) => V1PodStatus): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const fresh = await core.readNamespacedPod(pod);
    fresh.status = change(fresh.status ?? {});
    try {
      await core.replaceNamespacedPodStatus({ ...pod, body: fresh });
      return;
    } catch (err) {
      if (!(err instanceof ApiException && err.code === 409) || attempt === CONFLICT_RETRIES) throw err;
    }
  }
}
