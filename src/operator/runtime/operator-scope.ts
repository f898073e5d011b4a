import type { V1Lease } from '@kubernetes/client-node';

/**
 * One operator per namespace, cluster-wide. Every operator's leader Lease
 * carries this label and, in SCOPE_ANNOTATION, the namespaces it reconciles
 * (empty: all). Two operators whose namespaces overlap (two Helm releases, a
 * staging copy, `ftj dev` and a chart installed into it) would both act on
 * the same FineTuneJobs; the younger one (its Lease created later) stands by
 * until the older one is gone. Releases with disjoint namespaces both run.
 */
export const OPERATOR_LEASE_LABEL = 'finetune.dev/operator-lease';
export const SCOPE_ANNOTATION = 'finetune.dev/namespaces';

export interface LeaseRef {
  namespace: string;
  name: string;
}

/** The labels and annotations an operator's leader Lease carries. */
export function scopeMetadata(namespaces: string[]): {
  labels: Record<string, string>;
  annotations: Record<string, string>;
} {
  return {
    labels: { [OPERATOR_LEASE_LABEL]: 'true' },
    annotations: { [SCOPE_ANNOTATION]: [...namespaces].sort().join(',') },
  };
}

const scopeOf = (lease: V1Lease): string[] =>
  (lease.metadata?.annotations?.[SCOPE_ANNOTATION] ?? '')
    .split(',')
    .map((n) => n.trim())
    .filter(Boolean);
const describeScope = (namespaces: string[]) =>
  namespaces.length ? `namespaces ${namespaces.join(', ')}` : 'all namespaces';
const overlap = (a: string[], b: string[]) => a.length === 0 || b.length === 0 || a.some((n) => b.includes(n));
const refOf = (lease: V1Lease): LeaseRef => ({ namespace: lease.metadata!.namespace!, name: lease.metadata!.name! });
const created = (lease: V1Lease | undefined) =>
  lease?.metadata?.creationTimestamp ? new Date(lease.metadata.creationTimestamp).getTime() : Infinity;

/** Held and renewed within its duration: an operator is running behind it. */
function isLive(lease: V1Lease, now: Date): boolean {
  const spec = lease.spec;
  if (!spec?.holderIdentity || !spec.renewTime) return false;
  return new Date(spec.renewTime).getTime() + (spec.leaseDurationSeconds ?? 15) * 1000 >= now.getTime();
}

/** Whether `a` was there first: the older Lease, and between two of the same second, the one whose namespace/name sorts first. */
function precedes(a: V1Lease, b: V1Lease | undefined): boolean {
  const [ta, tb] = [created(a), created(b)];
  if (ta !== tb) return ta < tb;
  const key = (lease: V1Lease | undefined) =>
    lease ? `${lease.metadata?.namespace}/${lease.metadata?.name}` : '\uffff';
  return key(a) < key(b);
}

/**
 * Why this operator must stand by, or undefined when it may reconcile: the first live operator Lease,
 * other than its own, that came first and reconciles some of the same namespaces.
 */
export function scopeConflict(own: LeaseRef, namespaces: string[], leases: V1Lease[], now: Date): string | undefined {
  const isOwn = (lease: V1Lease) => lease.metadata?.namespace === own.namespace && lease.metadata?.name === own.name;
  const mine = leases.find(isOwn);
  const older = leases.filter(
    (lease) => !isOwn(lease) && isLive(lease, now) && overlap(scopeOf(lease), namespaces) && precedes(lease, mine),
  );
  const first = older.sort((a, b) => (precedes(a, b) ? -1 : 1))[0];
  if (!first) return undefined;
  const { namespace, name } = refOf(first);
  return (
    `the operator of Lease ${namespace}/${name} (held by ${first.spec!.holderIdentity}) already reconciles ${describeScope(scopeOf(first))}, ` +
    `which overlaps this one's (${describeScope(namespaces)}): two operators would act on the same FineTuneJobs, so this one stands by ` +
    'until that one is gone. Uninstall one of them, or give each Helm release its own namespaces (the chart value `namespaces`).'
  );
}
