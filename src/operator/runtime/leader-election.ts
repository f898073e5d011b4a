import { ApiException, CoordinationV1Api, type KubeConfig, type V1Lease } from '@kubernetes/client-node';
import { microTime } from './micro-time.ts';

export interface LeaderElectionConfig {
  namespace: string;
  name: string;
  identity: string;
  /** client-go's defaults: 15 s lease, 10 s renew deadline, 2 s retry period. */
  leaseDurationSeconds?: number;
  renewDeadlineSeconds?: number;
  retryPeriodSeconds?: number;
  /** Labels and annotations the Lease carries (the operator's scope: operator-scope.ts), set at every renewal. */
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

/**
 * Leader election on a coordination.k8s.io/v1 Lease, as client-go does it:
 * acquire when the lease is free or expired, renew every retry period, give
 * up leadership when no renewal succeeded within the renew deadline, and
 * release the lease on shutdown so a standby takes over at once. Writes use
 * the lease's resourceVersion, so two candidates never both win.
 */
export class LeaderElector {
  private readonly api: CoordinationV1Api;
  private readonly config: Required<LeaderElectionConfig>;
  private leading = false;
  private stopped = false;
  private lastRenew = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(kc: KubeConfig, config: LeaderElectionConfig) {
    this.api = kc.makeApiClient(CoordinationV1Api);
    this.config = {
      leaseDurationSeconds: 15,
      renewDeadlineSeconds: 10,
      retryPeriodSeconds: 2,
      labels: {},
      annotations: {},
      ...config,
    };
  }

  get isLeader(): boolean {
    return this.leading;
  }

  /** Campaigns until stopped; calls onStart when elected and onStop when leadership is lost. */
  run(callbacks: { onStart(): void; onStop(): void }): void {
    const tick = async () => {
      if (this.stopped) return;
      const renewed = await this.tryAcquireOrRenew().catch(() => false);
      const now = Date.now();
      if (renewed) {
        this.lastRenew = now;
        if (!this.leading) {
          this.leading = true;
          callbacks.onStart();
        }
      } else if (this.leading && now - this.lastRenew > this.config.renewDeadlineSeconds * 1000) {
        this.leading = false;
        callbacks.onStop();
      }
      if (!this.stopped) this.timer = setTimeout(() => void tick(), this.config.retryPeriodSeconds * 1000);
    };
    void tick();
  }

  /** Stops campaigning and, when leading, releases the lease. */
  async release(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    if (!this.leading) return;
    this.leading = false;
    try {
      const lease = await this.read();
      if (lease?.spec?.holderIdentity === this.config.identity) {
        lease.spec = {
          ...lease.spec,
          holderIdentity: undefined,
          leaseDurationSeconds: 1,
          acquireTime: microTime(lease.spec.acquireTime),
          renewTime: microTime(),
        } as V1Lease['spec'];
        await this.api.replaceNamespacedLease({
          name: this.config.name,
          namespace: this.config.namespace,
          body: lease,
        });
      }
    } catch {
      /* the lease simply expires */
    }
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { name, namespace, identity, leaseDurationSeconds, labels, annotations } = this.config;
    const now = new Date();
    const lease = await this.read();
    if (!lease) {
      await this.api.createNamespacedLease({
        namespace,
        body: {
          metadata: { name, namespace, labels, annotations },
          spec: {
            holderIdentity: identity,
            leaseDurationSeconds,
            acquireTime: microTime(now),
            renewTime: microTime(now),
            leaseTransitions: 0,
          },
        },
      });
      return true;
    }
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity;
    const renewedAt = spec.renewTime ? new Date(spec.renewTime).getTime() : 0;
    const expired = !holder || renewedAt + (spec.leaseDurationSeconds ?? leaseDurationSeconds) * 1000 < now.getTime();
    if (holder !== identity && !expired) return false;
    const takeover = holder !== identity;
    lease.metadata = {
      ...lease.metadata,
      labels: { ...lease.metadata?.labels, ...labels },
      annotations: { ...lease.metadata?.annotations, ...annotations },
    };
    lease.spec = {
      ...spec,
      holderIdentity: identity,
      leaseDurationSeconds,
      // Timestamps read back are Dates again: every write re-formats them.
      acquireTime: microTime(takeover ? now : (spec.acquireTime ?? now)),
      renewTime: microTime(now),
      ...(takeover ? { leaseTransitions: (spec.leaseTransitions ?? 0) + 1 } : {}),
    };
    await this.api.replaceNamespacedLease({ name, namespace, body: lease });
    return true;
  }

  private async read(): Promise<V1Lease | undefined> {
    try {
      return await this.api.readNamespacedLease({ name: this.config.name, namespace: this.config.namespace });
    } catch (err) {
      if (err instanceof ApiException && err.code === 404) return undefined;
      throw err;
    }
  }
}
