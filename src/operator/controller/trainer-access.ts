import { ApiException, CoreV1Api, type KubeConfig, RbacAuthorizationV1Api } from '@kubernetes/client-node';

const LABELS = { 'app.kubernetes.io/managed-by': 'finetune-operator', 'app.kubernetes.io/component': 'trainer' };

/**
 * Gives trainer pods their identity in any namespace, on demand (as KubeRay
 * provisions its autoscaler's ServiceAccount): the trainer ServiceAccount and
 * a RoleBinding of the trainer ClusterRole (get its job, patch its status),
 * created in a job's namespace before its first pod. Without it, every pod
 * naming that ServiceAccount in a namespace nobody prepared is refused.
 * Existing objects are left as they are; a namespace is checked once per
 * process, and again after a pod there is refused.
 */
export class TrainerAccess {
  private readonly core: CoreV1Api;
  private readonly rbac: RbacAuthorizationV1Api;
  private readonly serviceAccount: string;
  private readonly clusterRole: string;
  private readonly ready = new Set<string>();

  constructor(kc: KubeConfig, serviceAccount: string, clusterRole: string) {
    this.core = kc.makeApiClient(CoreV1Api);
    this.rbac = kc.makeApiClient(RbacAuthorizationV1Api);
    this.serviceAccount = serviceAccount;
    this.clusterRole = clusterRole;
  }

  /** Whether pods naming `serviceAccount` get it provisioned. */
  provides(serviceAccount: string | undefined): boolean {
    return serviceAccount === this.serviceAccount;
  }

  /** After a refused pod: check the namespace again next time (its ServiceAccount may have been deleted since). */
  forget(namespace: string): void {
    this.ready.delete(namespace);
  }

  async ensure(namespace: string): Promise<void> {
    if (this.ready.has(namespace)) return;
    const metadata = { name: this.serviceAccount, namespace, labels: LABELS };
    await created(this.core.createNamespacedServiceAccount({ namespace, body: { metadata } }));
    await created(this.rbac.createNamespacedRoleBinding({ namespace, body: {
      metadata,
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: this.clusterRole },
      subjects: [{ kind: 'ServiceAccount', name: this.serviceAccount, namespace }],
    } }));
    this.ready.add(namespace);
  }
}

/** A create that found the object there already (409) is done too. */
async function created(request: Promise<unknown>): Promise<void> {
  try {
    await request;
  } catch (err) {
    if (!(err instanceof ApiException && err.code === 409)) throw err;
  }
}
