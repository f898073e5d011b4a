import type { V1Pod } from '@kubernetes/client-node';
import { isDeepStrictEqual } from 'node:util';
import {
  ATTEMPT_LABEL,
  ConditionType,
  type FineTuneJobSpec,
  type FineTuneJobStatus,
  OPERATOR_MANAGER,
  OPERATOR_STATUS_FIELDS,
  type OperatorStatus,
  retryDelaySeconds,
  type StageStatus,
  TRAINER_STATUS_FIELDS,
  type TrainerStatus,
  validateFineTuneJobSpec,
} from '../../api/v1alpha1/index.ts';
import { isTrue, setCondition } from './job-conditions.ts';
import { ObjectPass } from './object-pass.ts';
import { classifyFailure } from './retry-decision.ts';
import { buildTrainerPod, type PodSettings, trainerPodName } from './trainer-pod.ts';

/** The metadata the reconcile reads (both raw JSON and client-node objects fit). */
export interface JobMeta {
  name?: string;
  namespace?: string;
  uid?: string;
  generation?: number;
  deletionTimestamp?: unknown;
  labels?: Record<string, string>;
}

export interface ObservedJob {
  job: { metadata?: JobMeta; spec?: unknown; status?: FineTuneJobStatus };
  /** The pods labelled with the job's name, as the cache sees them: its own and any left by an earlier job of that name. */
  pods: V1Pod[];
  now: Date;
}

export interface ReconcileSettings extends PodSettings {
  /** First retry delay in seconds (doubles per counted failure, capped at 6 min). */
  retryBaseSeconds: number;
}

export interface JobEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

/** What to do; the controller carries it out. Empty when the job is settled. */
export interface Decision {
  /** The operator's status fields, only when they differ from what is stored. */
  status?: OperatorStatus;
  createPod?: V1Pod;
  deletePods: string[];
  deleteJob: boolean;
  /** Emitted once the status write succeeds. */
  events: JobEvent[];
  requeueAfterSeconds?: number;
  /**
   * The trainer's fields, written for a trainer that died without saying so (SIGKILL, OOM, a lost
   * node): its stage no longer claims Running. Applied as the trainer's field manager, after `status`.
   */
  trainerStatus?: TrainerStatus;
}

export function operatorStatusOf(status: FineTuneJobStatus | undefined): OperatorStatus {
  const picked: Record<string, unknown> = { conditions: status?.conditions ?? [] };
  for (const key of OPERATOR_STATUS_FIELDS) if (status?.[key] !== undefined) picked[key] = status[key];
  return picked as OperatorStatus;
}

const attemptOf = (pod: V1Pod) => Number(pod.metadata?.labels?.[ATTEMPT_LABEL] ?? 0);
const isActive = (pod: V1Pod) =>
  !pod.metadata?.deletionTimestamp && pod.status?.phase !== 'Succeeded' && pod.status?.phase !== 'Failed';
const seconds = (from: Date, to: Date) => (to.getTime() - from.getTime()) / 1000;
const controllerUid = (pod: V1Pod) => pod.metadata?.ownerReferences?.find((ref) => ref.controller)?.uid;
const emptyDecision = (): Decision => ({ deletePods: [], deleteJob: false, events: [] });

/** A condition to set; `event` also records it when it becomes True (or changes reason while True). */
export interface ConditionChange {
  type: ConditionType;
  status: 'True' | 'False';
  reason: string;
  message?: string;
  event?: JobEvent['type'];
}

/**
 * One reconcile's working state: the job's own pods, the operator status it
 * builds from the stored one, and the decision it hands to the controller.
 * The handlers below each take one situation and return the decision.
 */
class ReconcilePass extends ObjectPass<Decision> {
  readonly decision = emptyDecision();
  readonly current: OperatorStatus;
  readonly next: OperatorStatus;
  readonly labels: Record<string, string>;
  /** Pods this job controls (its controller owner reference carries the job's UID). */
  readonly pods: V1Pod[];
  /** Pods labelled with the job's name that another (deleted) job of that name, or nobody, controls. */
  readonly stalePods: V1Pod[];

  /** The trainer's fields as stored. */
  readonly trainerStatus: TrainerStatus;

  constructor(observed: ObservedJob) {
    const meta = observed.job.metadata ?? {};
    super(meta, observed.now);
    this.trainerStatus = pickTrainerStatus(observed.job.status);
    this.labels = meta.labels ?? {};
    this.current = operatorStatusOf(observed.job.status);
    this.next = structuredClone(this.current);
    this.pods = observed.pods.filter((pod) => controllerUid(pod) === this.uid);
    this.stalePods = observed.pods.filter((pod) => controllerUid(pod) !== this.uid);
  }

  get activePods(): V1Pod[] {
    return this.pods.filter(isActive);
  }
  /** The spec changed since the operator last looked (metadata.generation moved past observedGeneration). */
  get specEdited(): boolean {
    const seen = this.current.observedGeneration;
    return seen !== undefined && this.generation !== undefined && this.generation > seen;
  }
  get isNew(): boolean {
    return this.current.phase === undefined && this.current.conditions.length === 0;
  }

  condition({ type, status, reason, message = '', event }: ConditionChange): void {
    const before = this.next.conditions.find((c) => c.type === type);
    this.next.conditions = setCondition(
      this.next.conditions,
      { type, status, reason, message },
      this.nowTimestamp,
      this.generation,
    );
    // An event for every condition that becomes True, and for a new reason of one that already is (a second failure).
    const changed = before?.status !== 'True' || before.reason !== reason;
    if (event && status === 'True' && changed) this.event(event, reason, message || `${type}: ${reason}`);
  }

  deletePods(pods: V1Pod[]): void {
    this.decision.deletePods.push(...pods.map((p) => p.metadata!.name!));
  }

  requeueAfter(delaySeconds: number): void {
    this.decision.requeueAfterSeconds = Math.min(this.decision.requeueAfterSeconds ?? Infinity, delaySeconds);
  }

  finish(): Decision {
    // Only a waiting pod has a reason to wait: a job that runs, finished or is suspended has none.
    const { phase } = this.next;
    if (phase !== 'Pending' && phase !== 'Queued' && isTrue(this.next.conditions, ConditionType.PodPending)) {
      this.condition({ type: ConditionType.PodPending, status: 'False', reason: phase ?? 'Pending' });
    }
    this.setKstatusConditions();
    this.next.observedGeneration = this.generation;
    if (!isDeepStrictEqual(this.next, this.current)) this.decision.status = this.next;
    settleDeadTrainer(this);
    return this.decision;
  }

  /**
   * What kstatus reads to tell a job in progress, failed or done (Flux's health checks, kubectl wait):
   * the abnormal-true Reconciling and Stalled, and Ready, derived from the phase.
   */
  private setKstatusConditions(): void {
    const { phase } = this.next;
    const failed = this.next.conditions.find((c) => c.type === ConditionType.Failed && c.status === 'True');
    const inFlight = phase === undefined || phase === 'Pending' || phase === 'Queued' || phase === 'Running';
    this.condition(
      failed
        ? { type: ConditionType.Stalled, status: 'True', reason: failed.reason, message: failed.message }
        : { type: ConditionType.Stalled, status: 'False', reason: 'NotFailed' },
    );
    const pending = this.next.conditions.find((c) => c.type === ConditionType.PodPending && c.status === 'True');
    this.condition(
      inFlight
        ? {
            type: ConditionType.Reconciling,
            status: 'True',
            reason: phase ?? 'Pending',
            message: `the job is ${(phase ?? 'Pending').toLowerCase()}${pending && phase !== 'Running' ? `: ${pending.message}` : ''}`,
          }
        : { type: ConditionType.Reconciling, status: 'False', reason: phase! },
    );
    if (phase === 'Succeeded')
      this.condition({
        type: ConditionType.Ready,
        status: 'True',
        reason: 'Succeeded',
        message: 'the fine-tuned model was exported',
      });
  }

  fail(reason: string, message: string): Decision {
    this.next.phase = 'Failed';
    this.next.completionTime ??= this.nowTimestamp;
    this.condition({ type: ConditionType.Running, status: 'False', reason });
    this.condition({ type: ConditionType.Failed, status: 'True', reason, message, event: 'Warning' });
    this.deletePods(this.activePods);
    return this.finish();
  }
}

/**
 * The FineTuneJob state machine: observed state in, a decision out, no I/O.
 * Level-triggered and idempotent: the same observation gives the same decision.
 * Each situation has its handler, checked in the order the Job controller
 * checks them: invalid, finished, suspended, past its deadline, then the
 * current attempt's pod (succeeded, terminating, active), then a retry.
 */
export function reconcileFineTuneJob(observed: ObservedJob, settings: ReconcileSettings): Decision {
  const { job } = observed;
  const managedBy = (job.spec as { managedBy?: string } | undefined)?.managedBy;
  if ((managedBy !== undefined && managedBy !== OPERATOR_MANAGER) || job.metadata?.deletionTimestamp)
    return emptyDecision();

  const pass = new ReconcilePass(observed);
  removeStalePods(pass);
  const validation = validateFineTuneJobSpec(job.spec);
  if (!validation.valid) return failInvalidSpec(pass, validation.errors);
  const spec = validation.spec;
  restartCorrectedSpec(pass);

  if (isTrue(pass.next.conditions, ConditionType.Succeeded) || isTrue(pass.next.conditions, ConditionType.Failed)) {
    return keepFinished(pass, spec);
  }
  if (spec.suspend) return suspend(pass);
  resumeIfSuspended(pass);
  if (deadlineExceeded(pass, spec)) {
    return pass.fail(
      'DeadlineExceeded',
      `the job was active longer than activeDeadlineSeconds (${spec.activeDeadlineSeconds} s)`,
    );
  }

  const latest = observeAttempts(pass, spec);
  if (latest?.status?.phase === 'Succeeded') return succeed(pass, spec);
  if (latest?.metadata?.deletionTimestamp && latest.status?.phase !== 'Failed') {
    // A terminating pod still holds its GPUs: the next attempt waits until it is gone (its deletion requeues the job).
    return pass.finish();
  }
  if (latest && isActive(latest)) return observeActivePod(pass, latest);
  return startNextAttempt(pass, spec, settings, latest);
}

/**
 * Pods of an earlier job of the same name (deleted with --cascade=orphan, or
 * re-created before the garbage collector removed its pods) are never taken
 * for this job's: they would count as its attempts, or mark it Succeeded
 * without training. They are deleted, as the garbage collector would, and
 * the next attempt waits until they are gone.
 */
function removeStalePods(pass: ReconcilePass): void {
  const toDelete = pass.stalePods.filter((pod) => !pod.metadata?.deletionTimestamp);
  pass.deletePods(toDelete);
  for (const pod of toDelete) {
    const owner = controllerUid(pod);
    pass.event(
      'Normal',
      'DeletingStalePod',
      `deleting pod ${pod.metadata!.name}: it belongs to ${
        owner ? `an earlier FineTuneJob of this name (uid ${owner})` : 'no FineTuneJob (orphaned)'
      }, not to this one`,
    );
  }
}

function failInvalidSpec(pass: ReconcilePass, errors: string[]): Decision {
  const message = errors.join('; ');
  pass.condition({ type: ConditionType.InvalidSpec, status: 'True', reason: 'InvalidSpec', message, event: 'Warning' });
  return pass.fail('InvalidSpec', `the spec is invalid: ${message}`);
}

/** A corrected manifest (GitOps) starts an InvalidSpec job afresh. */
function restartCorrectedSpec(pass: ReconcilePass): void {
  if (!isTrue(pass.next.conditions, ConditionType.InvalidSpec)) return;
  pass.condition({ type: ConditionType.InvalidSpec, status: 'False', reason: 'SpecValid' });
  pass.condition({ type: ConditionType.Failed, status: 'False', reason: 'SpecValid' });
  delete pass.next.phase;
  delete pass.next.completionTime;
}

function keepFinished(pass: ReconcilePass, spec: FineTuneJobSpec): Decision {
  if (pass.specEdited) {
    pass.event(
      'Warning',
      'SpecChangeIgnored',
      `the job has ${pass.next.phase === 'Failed' ? 'failed' : 'succeeded'}: a changed spec ` +
        `(generation ${pass.generation}) does not run it again; delete and re-create it, or use a FineTuneSchedule`,
    );
  }
  pass.deletePods(pass.activePods);
  scheduleTtl(pass, spec);
  return pass.finish();
}

function suspend(pass: ReconcilePass): Decision {
  pass.deletePods(pass.activePods);
  pass.next.phase = 'Suspended';
  pass.condition({ type: ConditionType.Running, status: 'False', reason: 'JobSuspended' });
  pass.condition({
    type: ConditionType.Suspended,
    status: 'True',
    reason: 'JobSuspended',
    message: 'the trainer pod is stopped; the checkpoint is kept',
    event: 'Normal',
  });
  return pass.finish();
}

/**
 * A resumed job's clock starts again, as the Job controller resets its
 * startTime on resume: activeDeadlineSeconds counts active time only.
 */
function resumeIfSuspended(pass: ReconcilePass): void {
  if (isTrue(pass.next.conditions, ConditionType.Suspended)) {
    pass.condition({
      type: ConditionType.Suspended,
      status: 'False',
      reason: 'JobResumed',
      message: 'resuming from the last checkpoint',
    });
    pass.next.startTime = pass.nowTimestamp;
  }
  pass.next.startTime ??= pass.nowTimestamp;
}

function deadlineExceeded(pass: ReconcilePass, spec: FineTuneJobSpec): boolean {
  if (spec.activeDeadlineSeconds === undefined) return false;
  const left = spec.activeDeadlineSeconds - seconds(new Date(pass.next.startTime!), pass.now);
  if (left > 0) pass.requeueAfter(left);
  return left <= 0;
}

/** Counts attempts and failures from the job's pods; returns the current attempt's pod. */
function observeAttempts(pass: ReconcilePass, spec: FineTuneJobSpec): V1Pod | undefined {
  const { next, pods } = pass;
  const attempts = Math.max(next.attempts ?? 0, ...pods.map(attemptOf));
  next.attempts = attempts;
  const latest = pods.find((p) => attemptOf(p) === attempts);
  if (latest && !isTrue(next.conditions, ConditionType.Created)) {
    pass.condition({
      type: ConditionType.Created,
      status: 'True',
      reason: 'PodCreated',
      message: `created trainer pod ${latest.metadata!.name} (attempt ${attempts})`,
      event: 'Normal',
    });
  }
  if (latest) clearCreateFailure(pass);
  const counted = pods.filter(
    (p) => p.status?.phase === 'Failed' && classifyFailure(p, spec).action === 'Count',
  ).length;
  next.failedAttempts = Math.max(next.failedAttempts ?? 0, counted);
  return latest;
}

function succeed(pass: ReconcilePass, spec: FineTuneJobSpec): Decision {
  pass.next.phase = 'Succeeded';
  pass.next.completionTime ??= pass.nowTimestamp;
  pass.condition({ type: ConditionType.Running, status: 'False', reason: 'TrainerSucceeded' });
  pass.condition({ type: ConditionType.Restarting, status: 'False', reason: 'TrainerSucceeded' });
  pass.condition({
    type: ConditionType.Succeeded,
    status: 'True',
    reason: 'TrainerSucceeded',
    message: `the fine-tuned model was exported (attempt ${pass.next.attempts})`,
    event: 'Normal',
  });
  scheduleTtl(pass, spec);
  return pass.finish();
}

/**
 * Running, or waiting: Queued only while the scheduler finds no node with
 * capacity (a GPU); a pod waiting for its volumes to bind is Pending.
 */
function observeActivePod(pass: ReconcilePass, pod: V1Pod): Decision {
  pass.next.podName = pod.metadata!.name!;
  if (pass.specEdited) {
    // The spec travels in the pod's environment: the running attempt keeps the one it started with.
    pass.event(
      'Warning',
      'SpecChanged',
      `pod ${pass.next.podName} goes on with the spec it started with; the change (generation ` +
        `${pass.generation}) applies from the next attempt (after a suspension or a failure), which resumes the checkpoint only if the training recipe is unchanged`,
    );
  }
  if (pod.status?.phase === 'Running') {
    pass.next.phase = 'Running';
    pass.condition({
      type: ConditionType.Running,
      status: 'True',
      reason: 'TrainerRunning',
      message: `pod ${pass.next.podName} is running`,
      event: 'Normal',
    });
    pass.condition({ type: ConditionType.Restarting, status: 'False', reason: 'TrainerRunning' });
    clearPodPending(pass, 'TrainerRunning');
  } else {
    pass.next.phase = waitsForCapacity(pod) ? 'Queued' : 'Pending';
    observePendingPod(pass, pod);
  }
  return pass.finish();
}

/**
 * Why the trainer pod does not run, as `kubectl describe pod` says it: a container's waiting reason
 * (a missing Secret, an image that cannot be pulled), else the scheduler's PodScheduled=False. A pod
 * that is only being created (ContainerCreating, or not yet looked at) has no reason to show.
 */
function pendingReason(pod: V1Pod): { reason: string; message: string } | undefined {
  const waiting = pod.status?.containerStatuses
    ?.map((c) => c.state?.waiting)
    .find((w) => w?.reason && !ROUTINE_WAITING.has(w.reason));
  if (waiting) return { reason: waiting.reason!, message: waiting.message ?? waiting.reason! };
  const scheduled = pod.status?.conditions?.find((c) => c.type === 'PodScheduled');
  if (scheduled?.status === 'False')
    return {
      reason: scheduled.reason ?? 'Unschedulable',
      message: scheduled.message ?? 'the scheduler has not placed the pod',
    };
  return undefined;
}

/** Waiting reasons of a container that is on its way: nothing to tell. */
const ROUTINE_WAITING = new Set(['ContainerCreating', 'PodInitializing']);

function observePendingPod(pass: ReconcilePass, pod: V1Pod): void {
  const pending = pendingReason(pod);
  if (!pending) {
    clearPodPending(pass, 'PodStarting');
    return;
  }
  // Waiting for a GPU is the queue at work (phase Queued), not a fault: recorded as Normal.
  const event = pending.reason === 'Unschedulable' && pass.next.phase === 'Queued' ? 'Normal' : 'Warning';
  pass.condition({
    type: ConditionType.PodPending,
    status: 'True',
    reason: pending.reason,
    message: `pod ${pod.metadata!.name}: ${pending.message}`,
    event,
  });
}

function clearPodPending(pass: ReconcilePass, reason: string): void {
  if (isTrue(pass.next.conditions, ConditionType.PodPending))
    pass.condition({ type: ConditionType.PodPending, status: 'False', reason });
}

function waitsForCapacity(pod: V1Pod): boolean {
  const scheduled = pod.status?.conditions?.find((c) => c.type === 'PodScheduled');
  if (scheduled?.status !== 'False' || scheduled.reason !== 'Unschedulable') return false;
  // The scheduler says "pod has unbound immediate PersistentVolumeClaims" (or names a missing claim) while volumes bind.
  return !/persistentvolumeclaim/i.test(scheduled.message ?? '');
}

/** After a failed, deleted or (for a new job) absent pod: fail, wait out the backoff, or create the next attempt. */
function startNextAttempt(
  pass: ReconcilePass,
  spec: FineTuneJobSpec,
  settings: ReconcileSettings,
  latest: V1Pod | undefined,
): Decision {
  const { next } = pass;
  const attempts = next.attempts ?? 0;
  let delay = 0;
  if (latest?.status?.phase === 'Failed') {
    const failure = classifyFailure(latest, spec);
    if (failure.action === 'FailJob') return pass.fail(failure.reason, failure.message);
    if (next.failedAttempts! > spec.backoffLimit) {
      return pass.fail(
        'BackoffLimitExceeded',
        `${next.failedAttempts} failed attempts exceed backoffLimit ${spec.backoffLimit}; last: ${failure.message}`,
      );
    }
    if (failure.action === 'Count') {
      const readyAt =
        (failure.finishedAt ?? pass.now).getTime() +
        retryDelaySeconds(next.failedAttempts!, settings.retryBaseSeconds) * 1000;
      delay = Math.max(0, (readyAt - pass.now.getTime()) / 1000);
    }
    pass.condition({
      type: ConditionType.Restarting,
      status: 'True',
      reason: failure.reason,
      event: 'Warning',
      message: `${failure.message}; attempt ${attempts + 1}${delay ? ` in ${Math.ceil(delay)} s` : ''}`,
    });
  } else if (attempts > 0 && !latest) {
    pass.condition({
      type: ConditionType.Restarting,
      status: 'True',
      reason: 'PodDeleted',
      event: 'Warning',
      message: `pod ${trainerPodName(pass.name, attempts)} disappeared; starting attempt ${attempts + 1} (not counted toward backoffLimit)`,
    });
  }

  if (delay > 0) {
    next.phase = 'Pending';
    pass.requeueAfter(delay);
    return pass.finish();
  }
  // Never two trainers for one job name: an earlier job's pod may still run and write its status.
  if (pass.stalePods.length > 0) {
    next.phase ??= 'Pending';
    return pass.finish();
  }
  const attempt = attempts + 1;
  pass.decision.createPod = buildTrainerPod(
    { name: pass.name, namespace: pass.namespace, uid: pass.uid, labels: pass.labels },
    spec,
    attempt,
    settings,
  );
  // A new job's first pass only creates the pod; its status follows from observing the pod (Created
  // above), so a burst of new jobs gets every pod before any status write takes API server time.
  if (pass.isNew) return pass.decision;
  next.attempts = attempt;
  next.podName = pass.decision.createPod.metadata!.name!;
  next.phase = 'Pending';
  clearPodPending(pass, 'PodCreated');
  const message = `created trainer pod ${next.podName} (attempt ${attempt})`;
  pass.condition({ type: ConditionType.Created, status: 'True', reason: 'PodCreated', message });
  pass.event('Normal', 'PodCreated', message);
  return pass.finish();
}

/**
 * A stage the trainer reported Running while no trainer pod is alive: its
 * trainer was killed without warning (SIGKILL, OOM, a lost node) and could not
 * say so. The operator writes the dead trainer's last word for it, as the
 * trainer's own field manager (the trainer owns `stages`; a new attempt's
 * trainer takes its fields back when it starts): Interrupted while the job
 * goes on, Failed when it has failed for good.
 */
function settleDeadTrainer(pass: ReconcilePass): void {
  // A terminating pod's trainer may still be saving its point and will report it: only settle once none can run.
  const mayRun = (pod: V1Pod) => pod.status?.phase !== 'Succeeded' && pod.status?.phase !== 'Failed';
  if (pass.pods.some(mayRun) || !pass.trainerStatus.stages?.some((s) => s.state === 'Running')) return;
  const failed = pass.next.phase === 'Failed';
  const attempt = pass.next.attempts ? ` of attempt ${pass.next.attempts}` : '';
  const settled = (stage: StageStatus): StageStatus =>
    stage.state !== 'Running'
      ? stage
      : {
          ...stage,
          state: failed ? 'Failed' : 'Interrupted',
          endTime: pass.nowTimestamp,
          endReason: failed ? 'Error' : 'Interrupted',
          message: `the trainer${attempt} stopped without reporting (killed, out of memory or its node lost)${
            failed ? '' : '; the next attempt resumes from the last checkpoint'
          }`,
        };
  pass.decision.trainerStatus = { ...pass.trainerStatus, stages: pass.trainerStatus.stages!.map(settled) };
}

function pickTrainerStatus(status: FineTuneJobStatus | undefined): TrainerStatus {
  const picked: Record<string, unknown> = {};
  for (const key of TRAINER_STATUS_FIELDS) if (status?.[key] !== undefined) picked[key] = status[key];
  return picked as TrainerStatus;
}

function clearCreateFailure(pass: ReconcilePass): void {
  if (!isTrue(pass.next.conditions, ConditionType.PodCreateFailure)) return;
  pass.condition({ type: ConditionType.PodCreateFailure, status: 'False', reason: 'PodCreated' });
}

function scheduleTtl(pass: ReconcilePass, spec: FineTuneJobSpec): void {
  if (spec.ttlSecondsAfterFinished === undefined || !pass.next.completionTime) return;
  const left = spec.ttlSecondsAfterFinished - seconds(new Date(pass.next.completionTime), pass.now);
  if (left <= 0) pass.decision.deleteJob = true;
  else pass.requeueAfter(left);
}

/**
 * The status to write when the API server refused the trainer pod (a
 * missing ServiceAccount or PriorityClass, a quota, an admission webhook,
 * an invalid podTemplate field): the job shows it, with the server's own
 * message, instead of an empty row. The controller retries the create with
 * its bounded backoff; the condition clears once a pod exists.
 */
export function podCreateRefused(observed: ObservedJob, podName: string, message: string): Decision {
  const pass = new ReconcilePass(observed);
  pass.next.phase ??= 'Pending';
  pass.condition({
    type: ConditionType.PodCreateFailure,
    status: 'True',
    reason: 'FailedCreatePod',
    message: `the API server refused pod ${podName}: ${message}`,
    event: 'Warning',
  });
  return pass.finish();
}
