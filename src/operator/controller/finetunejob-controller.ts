import {
  ApiException,
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  type KubernetesObject,
  type V1Pod,
} from '@kubernetes/client-node';
import {
  FINETUNEJOB,
  type FineTuneJobStatus,
  GROUP,
  JOB_NAME_LABEL,
  OPERATOR_FIELD_MANAGER,
  TRAINER_FIELD_MANAGER,
  VERSION,
} from '../../api/v1alpha1/index.ts';
import type { OperatorMetrics } from '../metrics/operator-metrics.ts';
import {
  type Decision,
  podCreateRefused,
  reconcileFineTuneJob,
  type ReconcileSettings,
} from '../reconcile/finetunejob-reconciler.ts';
import { apiMessage, tracked } from './api-requests.ts';
import { CreateExpectations } from './expectations.ts';
import { applyStatus } from './status-apply.ts';
import type { EventRecorder } from './event-recorder.ts';
import { TrainerAccess } from './trainer-access.ts';

export type CachedJob = KubernetesObject & { spec?: unknown; status?: FineTuneJobStatus };

export interface Caches {
  job(namespace: string, name: string): CachedJob | undefined;
  pods(namespace: string, job: string): V1Pod[];
}

/** How long a pod this operator created may stay unseen by the pod cache before it counts as gone. */
const EXPECTATION_TIMEOUT_MS = 30_000;

/**
 * The I/O edge of the FineTuneJob controller: reads the caches, asks the pure
 * reconcile for a decision, and carries it out (pods, status via server-side
 * apply, events, TTL deletion). Create expectations keep a pod the cache has
 * not seen yet from looking deleted, so a job never gets two live pods.
 */
export class FineTuneJobController {
  private readonly core: CoreV1Api;
  private readonly custom: CustomObjectsApi;
  private readonly expectedPods = new CreateExpectations(EXPECTATION_TIMEOUT_MS);
  private readonly caches: Caches;
  private readonly settings: ReconcileSettings;
  private readonly events: EventRecorder;
  private readonly metrics: OperatorMetrics;

  private readonly trainerAccess: TrainerAccess | undefined;

  /** With `trainerClusterRole`, the trainer ServiceAccount and its RoleBinding are provisioned in each job's namespace. */
  constructor(
    kc: KubeConfig,
    caches: Caches,
    settings: ReconcileSettings,
    events: EventRecorder,
    metrics: OperatorMetrics,
    trainerClusterRole?: string,
  ) {
    this.trainerAccess = trainerClusterRole
      ? new TrainerAccess(kc, settings.trainerServiceAccount, trainerClusterRole)
      : undefined;
    this.core = kc.makeApiClient(CoreV1Api);
    this.custom = kc.makeApiClient(CustomObjectsApi);
    this.caches = caches;
    this.settings = settings;
    this.events = events;
    this.metrics = metrics;
  }

  /** The pod cache saw a pod: a pending expectation for it is met. */
  observedPod(pod: V1Pod): void {
    const key = jobKeyOfPod(pod);
    if (key) this.expectedPods.observed(key, pod.metadata?.name);
  }

  /** Reconciles one job; returns when to look again (ms), if ever. */
  async reconcile(key: string): Promise<number | undefined> {
    const [namespace, name] = key.split('/') as [string, string];
    const job = this.caches.job(namespace, name);
    if (!job) {
      this.expectedPods.forget(key);
      return undefined;
    }
    if (this.expectedPods.pending(key)) return 500;

    const decision = reconcileFineTuneJob(
      { job, pods: this.caches.pods(namespace, name), now: new Date() },
      this.settings,
    );
    await this.execute(job, decision);
    return decision.requeueAfterSeconds === undefined ? undefined : Math.ceil(decision.requeueAfterSeconds * 1000);
  }

  private async execute(job: CachedJob, decision: Decision): Promise<void> {
    const { name, namespace, uid } = job.metadata as { name: string; namespace: string; uid?: string };
    const ref = { name, namespace, ...(uid ? { uid } : {}) };
    for (const pod of decision.deletePods) {
      await tracked(this.metrics, 'DELETE', () => this.core.deleteNamespacedPod({ name: pod, namespace }), [404]);
    }
    if (decision.createPod) await this.createPod(job, decision);
    const resourceVersion = decision.status
      ? await this.writeStatus(job, decision.status)
      : job.metadata?.resourceVersion;
    if (decision.trainerStatus) await this.writeDeadTrainerStatus(job, decision.trainerStatus, resourceVersion);
    // Events only once the status is written (the recorder queues them; they are not state).
    for (const event of decision.events) this.events.record(ref, event);
    if (decision.deleteJob) {
      await tracked(
        this.metrics,
        'DELETE',
        () =>
          this.custom.deleteNamespacedCustomObject({
            group: GROUP,
            version: VERSION,
            namespace,
            plural: FINETUNEJOB.plural,
            name,
            propagationPolicy: 'Background',
          }),
        [404],
      );
    }
  }

  private async createPod(job: CachedJob, decision: Decision): Promise<void> {
    const { name, namespace, uid } = job.metadata as { name: string; namespace: string; uid?: string };
    const pod = decision.createPod!;
    // Expect before creating: the watch may deliver the pod before the create call returns.
    const key = `${namespace}/${name}`;
    this.expectedPods.expect(key, pod.metadata!.name!);
    try {
      if (this.trainerAccess?.provides(pod.spec?.serviceAccountName)) await this.trainerAccess.ensure(namespace);
      await tracked(this.metrics, 'POST', () => this.core.createNamespacedPod({ namespace, body: pod }), [409]);
    } catch (err) {
      this.expectedPods.forget(key);
      this.trainerAccess?.forget(namespace);
      // Refused (a missing ServiceAccount, a quota, a webhook, an invalid field): say why in the job's status,
      // as well as in an event; then the queue retries with its bounded backoff.
      if (err instanceof ApiException && err.code >= 400 && err.code < 500) {
        const observed = { job, pods: this.caches.pods(namespace, name), now: new Date() };
        const refusal = podCreateRefused(observed, pod.metadata!.name!, apiMessage(err));
        if (refusal.status) await this.writeStatus(job, refusal.status);
        for (const event of refusal.events) this.events.record({ name, namespace, ...(uid ? { uid } : {}) }, event);
      }
      throw err;
    }
    const reason = decision.status?.conditions?.find((c) => c.type === 'Restarting' && c.status === 'True')?.reason;
    if (reason && (job.status?.attempts ?? 0) > 0) this.metrics.retried(reason);
  }

  /**
   * Server-side applies the operator's status fields. The decision was made from the cached job: the
   * resourceVersion makes a decision from a stale cache fail with 409 (retried with backoff, on a
   * fresher cache) instead of overwriting newer status.
   */
  private async writeStatus(job: CachedJob, status: Decision['status']): Promise<string | undefined> {
    return await this.applyStatus(job, status, OPERATOR_FIELD_MANAGER, job.metadata?.resourceVersion);
  }

  /**
   * The fields of a trainer that died without reporting, as the trainer's own field manager (so a new
   * attempt's trainer owns them again when it reports), on the state the operator's write just made.
   */
  private async writeDeadTrainerStatus(
    job: CachedJob,
    status: Decision['trainerStatus'],
    resourceVersion: string | undefined,
  ): Promise<void> {
    await this.applyStatus(job, status, TRAINER_FIELD_MANAGER, resourceVersion);
  }

  /** A server-side apply of `status` by `manager`; returns the job's new resourceVersion. */
  private applyStatus(
    job: CachedJob,
    status: unknown,
    manager: string,
    resourceVersion: string | undefined,
  ): Promise<string | undefined> {
    const { name, namespace } = job.metadata as { name: string; namespace: string };
    const target = { kind: FINETUNEJOB.kind, plural: FINETUNEJOB.plural, name, namespace, resourceVersion };
    return applyStatus(this.custom, this.metrics, target, status, manager);
  }
}

/**
 * The job a trainer pod belongs to, as "namespace/name": its controller
 * owner reference, as the Job controller resolves pods; for a pod without
 * one (orphaned), the job-name label, so a job of that name still sees it.
 */
export function jobKeyOfPod(pod: V1Pod): string | undefined {
  const owner = pod.metadata?.ownerReferences?.find((ref) => ref.controller && ref.kind === FINETUNEJOB.kind);
  const job = owner?.name ?? pod.metadata?.labels?.[JOB_NAME_LABEL];
  return job === undefined ? undefined : `${pod.metadata?.namespace}/${job}`;
}
