import {
  ApiException,
  CoreV1Api,
  type KubeConfig,
  RbacAuthorizationV1Api,
  type V1ObjectMeta,
  type V1OwnerReference,
  type V1RoleBinding,
} from '@kubernetes/client-node';

const MANAGED_BY = 'app.kubernetes.io/managed-by';
const LABELS = { [MANAGED_BY]: 'finetune-operator', 'app.kubernetes.io/component': 'trainer' };

/**
 * Gives trainer pods their identity in any namespace, on demand (as KubeRay
 * provisions its autoscaler's ServiceAccount): the trainer ServiceAccount and
 * a RoleBinding of the trainer ClusterRole (get its job, patch its status),
 * created in a job's namespace before its first pod. Without it, every pod
 * naming that ServiceAccount in a namespace nobody prepared is refused.
 *
 * Both are owned by the trainer ClusterRole, so the garbage collector removes
 * them from every namespace when the release that made the role is
 * uninstalled. What an earlier operator made converges: a RoleBinding of
 * another ClusterRole (a release installed under another name) is replaced
 * (roleRef cannot change), and one without the owner gets it. Objects the
 * operator did not make (a team's own, the chart's) are left as they are. A
 * namespace is checked once per process, and again after a pod there is refused.
 */
export class TrainerAccess {
  private readonly core: CoreV1Api;
  private readonly rbac: RbacAuthorizationV1Api;
  private readonly serviceAccount: string;
  private readonly clusterRole: string;
  private readonly ready = new Set<string>();
  private owner: V1OwnerReference | undefined;

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
    const owner = await this.ownerReference();
    const metadata: V1ObjectMeta = {
      name: this.serviceAccount,
      namespace,
      labels: LABELS,
      ...(owner ? { ownerReferences: [owner] } : {}),
    };
    await this.ensureServiceAccount(metadata);
    await this.ensureRoleBinding({
      metadata,
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: this.clusterRole },
      subjects: [{ kind: 'ServiceAccount', name: this.serviceAccount, namespace }],
    });
    this.ready.add(namespace);
  }

  /**
   * The trainer ClusterRole as owner: its UID, read once (a reinstalled role has a new one, and a new
   * operator pod with it). Without the right to read it (an older chart), or without the role, no owner.
   */
  private async ownerReference(): Promise<V1OwnerReference | undefined> {
    if (!this.owner) {
      const role = await this.rbac.readClusterRole({ name: this.clusterRole }).catch((err: unknown) => {
        if (err instanceof ApiException && (err.code === 403 || err.code === 404)) return undefined;
        throw err;
      });
      const uid = role?.metadata?.uid;
      if (uid)
        this.owner = { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', name: this.clusterRole, uid };
    }
    return this.owner;
  }

  private async ensureServiceAccount(metadata: V1ObjectMeta): Promise<void> {
    const { name, namespace } = metadata as { name: string; namespace: string };
    const existing = await found(this.core.readNamespacedServiceAccount({ name, namespace }));
    if (!existing) {
      await created(this.core.createNamespacedServiceAccount({ namespace, body: { metadata } }));
    } else if (this.owner && madeByOperator(existing.metadata) && !ownedBy(existing.metadata, this.owner)) {
      // Its token Secret stays valid: the account is adopted, not re-created.
      await this.core.patchNamespacedServiceAccount({
        name,
        namespace,
        body: [{ op: 'add', path: '/metadata/ownerReferences', value: [this.owner] }],
      });
    }
  }

  private async ensureRoleBinding(binding: V1RoleBinding): Promise<void> {
    const { name, namespace } = binding.metadata as { name: string; namespace: string };
    const existing = await found(this.rbac.readNamespacedRoleBinding({ name, namespace }));
    if (existing) {
      const current =
        existing.roleRef.name === this.clusterRole && (!this.owner || ownedBy(existing.metadata, this.owner));
      if (current || !madeByOperator(existing.metadata)) return;
      await this.rbac
        .deleteNamespacedRoleBinding({ name, namespace, body: { preconditions: { uid: existing.metadata!.uid! } } })
        .catch((err: unknown) => {
          if (!(err instanceof ApiException && (err.code === 404 || err.code === 409))) throw err;
        });
    }
    await created(this.rbac.createNamespacedRoleBinding({ namespace, body: binding }));
  }
}

const madeByOperator = (meta: V1ObjectMeta | undefined) => meta?.labels?.[MANAGED_BY] === LABELS[MANAGED_BY];
const ownedBy = (meta: V1ObjectMeta | undefined, owner: V1OwnerReference) =>
  !!meta?.ownerReferences?.some((ref) => ref.uid === owner.uid);

/** A read that found nothing (404) gives undefined. */
async function found<T>(request: Promise<T>): Promise<T | undefined> {
  try {
    return await request;
  } catch (err) {
    if (err instanceof ApiException && err.code === 404) return undefined;
    throw err;
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
