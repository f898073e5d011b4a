import { type CustomObjectsApi, type KubernetesObject, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { API_VERSION, GROUP, VERSION } from '../../api/v1alpha1/index.ts';
import type { OperatorMetrics } from '../metrics/operator-metrics.ts';
import { tracked } from './api-requests.ts';

/** Which object's status: its kind and plural, and the cached object's name, namespace and resourceVersion. */
export interface StatusTarget {
  kind: string;
  plural: string;
  name: string;
  namespace: string;
  /**
   * The cached object's: a decision made from a stale cache then fails with 409 (retried with backoff, on
   * a fresher cache) instead of overwriting a newer status.
   */
  resourceVersion: string | undefined;
}

/**
 * A server-side apply of `status` on the status subresource as field manager `manager` (each side owns its
 * fields: OPERATOR_STATUS_FIELDS, TRAINER_STATUS_FIELDS); returns the object's new resourceVersion. A
 * deleted object (404) is no error: there is no status left to write.
 */
export async function applyStatus(
  custom: CustomObjectsApi,
  metrics: OperatorMetrics,
  target: StatusTarget,
  status: unknown,
  manager: string,
): Promise<string | undefined> {
  const { kind, plural, name, namespace, resourceVersion } = target;
  const body = { apiVersion: API_VERSION, kind, metadata: { name, namespace, resourceVersion }, status };
  let written: KubernetesObject | undefined;
  await tracked(
    metrics,
    'PATCH',
    async () => {
      written = (await custom.patchNamespacedCustomObjectStatus(
        { group: GROUP, version: VERSION, namespace, plural, name, body, fieldManager: manager, force: true },
        setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
      )) as KubernetesObject;
    },
    [404],
  );
  return written?.metadata?.resourceVersion;
}
