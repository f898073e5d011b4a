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
  FINETUNESCHEDULE,
  type FineTuneScheduleStatus,
  GROUP,
  OPERATOR_FIELD_MANAGER,
  VERSION,
} from '../../api/v1alpha1/index.ts';
import type { OperatorMetrics } from '../metrics/operator-metrics.ts';
import {
  reconcileFineTuneSchedule,
  type ScheduleDecision,
  type ScheduleRun,
} from '../reconcile/schedule-reconciler.ts';
import type { PodSettings } from '../reconcile/trainer-pod.ts';
import { apiMessage, tracked } from './api-requests.ts';
import { CreateExpectations } from './expectations.ts';
import { applyStatus } from './status-apply.ts';
import type { EventRecorder } from './event-recorder.ts';

export type CachedSchedule = KubernetesObject & { spec?: unknown; status?: FineTuneScheduleStatus };

export interface ScheduleCaches {
  schedule(namespace: string, name: string): CachedSchedule | undefined;
  /** FineTuneJobs whose controller owner is a FineTuneSchedule of this name. */
  runs(namespace: string, schedule: string): ScheduleRun[];
  /** Its fingerprint probe pods (skipIfUnchanged). */
  probes(namespace: string, schedule: string): V1Pod[];
}

/** How long a run this operator created may stay unseen by the FineTuneJob cache before it counts as gone. */
const EXPECTATION_TIMEOUT_MS = 30_000;
const MAX_WAKE_UP_MS = 24 * 3600_000;

/**
 * The I/O edge of the FineTuneSchedule controller: reads the caches, asks
 * the pure reconcile for a decision at the clock's time, and carries it out
 * (delete runs, create the run, write status, record events), as
 * FineTuneJobController does for pods. A created run is expected until the
 * cache sees it, so its schedule never looks at a cache without it.
 */
export class FineTuneScheduleController {
  private readonly custom: CustomObjectsApi;
  private readonly core: CoreV1Api;
  private readonly settings: PodSettings;
  private readonly expectedRuns = new CreateExpectations(EXPECTATION_TIMEOUT_MS);
  private readonly caches: ScheduleCaches;
  private readonly events: EventRecorder;
  private readonly metrics: OperatorMetrics;
  private readonly clock: () => Date;

  /** `clock`: the time schedules are evaluated at (tests move it; production passes real time). */
  constructor(
    kc: KubeConfig,
    caches: ScheduleCaches,
    settings: PodSettings,
    events: EventRecorder,
    metrics: OperatorMetrics,
    clock: () => Date = () => new Date(),
  ) {
    this.custom = kc.makeApiClient(CustomObjectsApi);
    this.core = kc.makeApiClient(CoreV1Api);
    this.settings = settings;
    this.caches = caches;
    this.events = events;
    this.metrics = metrics;
    this.clock = clock;
  }

  /** The FineTuneJob cache saw a run: a pending expectation for it is met. */
  observedRun(scheduleKey: string, run: string): void {
    this.expectedRuns.observed(scheduleKey, run);
  }

  /** Reconciles one schedule; returns when to look again (ms): its next scheduled time, if any. */
  async reconcile(key: string): Promise<number | undefined> {
    const [namespace, name] = key.split('/') as [string, string];
    const schedule = this.caches.schedule(namespace, name);
    if (!schedule) {
      this.expectedRuns.forget(key);
      this.metrics.scheduleGone(namespace, name);
      return undefined;
    }
    if (this.expectedRuns.pending(key)) return 500;

    this.metrics.scheduleSeen(namespace, name);
    const observed = {
      schedule,
      runs: this.caches.runs(namespace, name),
      probes: this.caches.probes(namespace, name),
      now: this.clock(),
    };
    const decision = reconcileFineTuneSchedule(observed, this.settings);
    await this.execute(schedule, decision);
    // At most a day: a timer cannot wait longer than 24.8 days, and a wake-up a day re-reads the clock after a jump.
    return decision.requeueAfterSeconds === undefined
      ? undefined
      : Math.min(Math.ceil(decision.requeueAfterSeconds * 1000), MAX_WAKE_UP_MS);
  }

  private async execute(schedule: CachedSchedule, decision: ScheduleDecision): Promise<void> {
    const { name, namespace, uid } = schedule.metadata as { name: string; namespace: string; uid?: string };
    const ref = { kind: FINETUNESCHEDULE.kind, name, namespace, ...(uid ? { uid } : {}) };
    for (const run of decision.deleteRuns) {
      await tracked(
        this.metrics,
        'DELETE',
        () =>
          this.custom.deleteNamespacedCustomObject({
            group: GROUP,
            version: VERSION,
            namespace,
            plural: FINETUNEJOB.plural,
            name: run,
            propagationPolicy: 'Background',
          }),
        [404],
      );
    }
    for (const probe of decision.deleteProbes) {
      await tracked(this.metrics, 'DELETE', () => this.core.deleteNamespacedPod({ name: probe, namespace }), [404]);
    }
    // A probe's watch event brings the schedule back; 409: it exists already (an earlier pass, another replica).
    if (decision.createProbe)
      await tracked(
        this.metrics,
        'POST',
        () => this.core.createNamespacedPod({ namespace, body: decision.createProbe! }),
        [409],
      );
    if (decision.createRun) await this.createRun(schedule, decision.createRun);
    if (decision.status) await this.writeStatus(schedule, decision.status);
    for (const event of decision.events) this.events.record(ref, event);
    for (const outcome of decision.outcomes) this.metrics.scheduleRun(namespace, name, outcome);
  }

  private async createRun(schedule: CachedSchedule, run: NonNullable<ScheduleDecision['createRun']>): Promise<void> {
    const { name, namespace, uid } = schedule.metadata as { name: string; namespace: string; uid?: string };
    const key = `${namespace}/${name}`;
    this.expectedRuns.expect(key, run.metadata.name);
    const ref = { kind: FINETUNESCHEDULE.kind, name, namespace, ...(uid ? { uid } : {}) };
    try {
      await tracked(
        this.metrics,
        'POST',
        () =>
          this.custom.createNamespacedCustomObject({
            group: GROUP,
            version: VERSION,
            namespace,
            plural: FINETUNEJOB.plural,
            body: run,
          }),
        [],
      );
    } catch (err) {
      this.expectedRuns.forget(key);
      if (err instanceof ApiException && err.code === 409 && (await this.isOwnRun(namespace, run.metadata.name, uid))) {
        return; // created before (this operator before a restart, or another replica): that time has run
      }
      // Refused (a quota, a webhook, a FineTuneJob of that name that is not this schedule's): say why;
      // the queue retries with its bounded backoff.
      const message = err instanceof ApiException ? apiMessage(err) : String(err);
      this.events.record(ref, {
        type: 'Warning',
        reason: 'FailedCreate',
        message: `Error creating run ${run.metadata.name}: ${message}`,
      });
      throw err;
    }
  }

  private async isOwnRun(namespace: string, name: string, scheduleUid: string | undefined): Promise<boolean> {
    const existing = (await this.custom
      .getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: FINETUNEJOB.plural, name })
      .catch(() => undefined)) as KubernetesObject | undefined;
    return existing?.metadata?.ownerReferences?.some((ref) => ref.controller && ref.uid === scheduleUid) ?? false;
  }

  /** Server-side applies the whole status, on the cached schedule's resourceVersion (status-apply.ts). */
  private async writeStatus(schedule: CachedSchedule, status: FineTuneScheduleStatus): Promise<void> {
    const { name, namespace, resourceVersion } = schedule.metadata as {
      name: string;
      namespace: string;
      resourceVersion?: string;
    };
    const target = { kind: FINETUNESCHEDULE.kind, plural: FINETUNESCHEDULE.plural, name, namespace, resourceVersion };
    await applyStatus(this.custom, this.metrics, target, status, OPERATOR_FIELD_MANAGER);
  }
}

/**
 * The schedule that controls an object (a run, a fingerprint probe pod), as "namespace/name": its
 * controller owner reference of kind FineTuneSchedule.
 */
export function scheduleKeyOf(object: KubernetesObject): string | undefined {
  const owner = object.metadata?.ownerReferences?.find((ref) => ref.controller && ref.kind === FINETUNESCHEDULE.kind);
  return owner ? `${object.metadata?.namespace}/${owner.name}` : undefined;
}
