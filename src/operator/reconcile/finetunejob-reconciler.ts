import type { V1Pod } from '@kubernetes/client-node';
import { isDeepStrictEqual } from 'node:util';
import {
  ATTEMPT_LABEL, ConditionType, type FineTuneJobSpec, type FineTuneJobStatus, OPERATOR_MANAGER,
  retryDelaySeconds, validateFineTuneJobSpec,
} from '../../api/v1alpha1/index.ts';
import { isTrue, setCondition } from './job-conditions.ts';
import { classifyFailure } from './retry-decision.ts';
import { buildTrainerPod, type PodSettings, trainerPodName } from './trainer-pod.ts';

/** The status fields the operator owns (the trainer owns stage, stages, progress, metrics). */
export type OperatorStatus = Pick<FineTuneJobStatus, 'phase' | 'conditions' | 'observedGeneration' | 'attempts' | 'failedAttempts' | 'podName' | 'startTime' | 'completionTime'>;

/** The metadata the reconcile reads (both raw JSON and client-node objects fit). */
export interface JobMeta { name?: string; namespace?: string; uid?: string; generation?: number; deletionTimestamp?: unknown }

export interface ObservedJob {
  job: { metadata?: JobMeta; spec?: unknown; status?: FineTuneJobStatus };
  /** The job's trainer pods, as the cache sees them. */
  pods: V1Pod[];
  now: Date;
}

export interface ReconcileSettings extends PodSettings {
  /** First retry delay in seconds (doubles per counted failure, capped at 6 min). */
  retryBaseSeconds: number;
}

export interface JobEvent { type: 'Normal' | 'Warning'; reason: string; message: string }

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
}

const OPERATOR_FIELDS = ['phase', 'conditions', 'observedGeneration', 'attempts', 'failedAttempts', 'podName', 'startTime', 'completionTime'] as const;

export function operatorStatusOf(status: FineTuneJobStatus | undefined): OperatorStatus {
  const picked: Record<string, unknown> = { conditions: status?.conditions ?? [] };
  for (const key of OPERATOR_FIELDS) if (status?.[key] !== undefined) picked[key] = status[key];
  return picked as OperatorStatus;
}

const attemptOf = (pod: V1Pod) => Number(pod.metadata?.labels?.[ATTEMPT_LABEL] ?? 0);
const isActive = (pod: V1Pod) => !pod.metadata?.deletionTimestamp && pod.status?.phase !== 'Succeeded' && pod.status?.phase !== 'Failed';
const seconds = (from: Date, to: Date) => (to.getTime() - from.getTime()) / 1000;

/**
 * The FineTuneJob state machine: observed state in, a decision out, no I/O.
 * Level-triggered and idempotent: the same observation gives the same decision.
 */
export function reconcileFineTuneJob(observed: ObservedJob, settings: ReconcileSettings): Decision {
  const { pods, now } = observed;
  const job = { ...observed.job, metadata: observed.job.metadata ?? {} };
  const decision: Decision = { deletePods: [], deleteJob: false, events: [] };
  const managedBy = (job.spec as { managedBy?: string } | undefined)?.managedBy;
  if ((managedBy !== undefined && managedBy !== OPERATOR_MANAGER) || job.metadata.deletionTimestamp) return decision;

  const current = operatorStatusOf(job.status);
  const next: OperatorStatus = structuredClone(current);
  const at = now.toISOString();
  const generation = job.metadata.generation;
  const condition = (type: ConditionType, status: 'True' | 'False', reason: string, message = '', event?: JobEvent['type']) => {
    const before = next.conditions.find((c) => c.type === type);
    next.conditions = setCondition(next.conditions, { type, status, reason, message }, at, generation);
    // An event for every condition that becomes True, and for a new reason of one that already is (a second failure).
    const changed = before?.status !== 'True' || before.reason !== reason;
    if (event && status === 'True' && changed) decision.events.push({ type: event, reason, message: message || `${type}: ${reason}` });
  };
  const finish = (): Decision => {
    next.observedGeneration = generation;
    if (!isDeepStrictEqual(next, current)) decision.status = next;
    return decision;
  };
  const fail = (reason: string, message: string) => {
    next.phase = 'Failed';
    next.completionTime ??= at;
    condition(ConditionType.Running, 'False', reason);
    condition(ConditionType.Failed, 'True', reason, message, 'Warning');
    decision.deletePods.push(...active.map((p) => p.metadata!.name!));
  };
  const active = pods.filter(isActive);

  const validation = validateFineTuneJobSpec(job.spec);
  if (!validation.valid) {
    condition(ConditionType.InvalidSpec, 'True', 'InvalidSpec', validation.errors.join('; '), 'Warning');
    fail('InvalidSpec', `the spec is invalid: ${validation.errors.join('; ')}`);
    return finish();
  }
  const spec = validation.spec;
  if (isTrue(next.conditions, ConditionType.InvalidSpec)) {
    // A corrected manifest (GitOps) starts the job afresh.
    condition(ConditionType.InvalidSpec, 'False', 'SpecValid');
    condition(ConditionType.Failed, 'False', 'SpecValid');
    delete next.phase;
    delete next.completionTime;
  }

  if (isTrue(next.conditions, ConditionType.Succeeded) || isTrue(next.conditions, ConditionType.Failed)) {
    decision.deletePods.push(...active.map((p) => p.metadata!.name!));
    scheduleTtl(spec, next, now, decision);
    return finish();
  }

  if (spec.suspend) {
    decision.deletePods.push(...active.map((p) => p.metadata!.name!));
    next.phase = 'Suspended';
    condition(ConditionType.Running, 'False', 'JobSuspended');
    condition(ConditionType.Suspended, 'True', 'JobSuspended', 'the trainer pod is stopped; the checkpoint is kept', 'Normal');
    return finish();
  }
  if (isTrue(next.conditions, ConditionType.Suspended)) condition(ConditionType.Suspended, 'False', 'JobResumed', 'resuming from the last checkpoint');

  next.startTime ??= at;
  if (spec.activeDeadlineSeconds !== undefined) {
    const left = spec.activeDeadlineSeconds - seconds(new Date(next.startTime), now);
    if (left <= 0) {
      fail('DeadlineExceeded', `the job was active longer than activeDeadlineSeconds (${spec.activeDeadlineSeconds} s)`);
      return finish();
    }
    decision.requeueAfterSeconds = left;
  }

  const attempts = Math.max(next.attempts ?? 0, ...pods.map(attemptOf));
  next.attempts = attempts;
  const latest = pods.find((p) => attemptOf(p) === attempts);
  if (latest && !isTrue(next.conditions, ConditionType.Created)) {
    condition(ConditionType.Created, 'True', 'PodCreated', `created trainer pod ${latest.metadata!.name} (attempt ${attempts})`, 'Normal');
  }
  const counted = pods.filter((p) => p.status?.phase === 'Failed' && classifyFailure(p, spec).action === 'Count').length;
  next.failedAttempts = Math.max(next.failedAttempts ?? 0, counted);

  if (latest?.status?.phase === 'Succeeded') {
    next.phase = 'Succeeded';
    next.completionTime ??= at;
    condition(ConditionType.Running, 'False', 'TrainerSucceeded');
    condition(ConditionType.Restarting, 'False', 'TrainerSucceeded');
    condition(ConditionType.Succeeded, 'True', 'TrainerSucceeded', `the fine-tuned model was exported (attempt ${attempts})`, 'Normal');
    scheduleTtl(spec, next, now, decision);
    return finish();
  }

  if (latest?.metadata?.deletionTimestamp && latest.status?.phase !== 'Failed') {
    // A terminating pod still holds its GPUs: the next attempt waits until it is gone (its deletion requeues the job).
    return finish();
  }

  if (latest && isActive(latest)) {
    next.podName = latest.metadata!.name!;
    if (latest.status?.phase === 'Running') {
      next.phase = 'Running';
      condition(ConditionType.Running, 'True', 'TrainerRunning', `pod ${next.podName} is running`, 'Normal');
      condition(ConditionType.Restarting, 'False', 'TrainerRunning');
    } else {
      const unschedulable = latest.status?.conditions?.find((c) => c.type === 'PodScheduled' && c.status === 'False' && c.reason === 'Unschedulable');
      next.phase = unschedulable ? 'Queued' : 'Pending';
    }
    return finish();
  }

  let delay = 0;
  if (latest?.status?.phase === 'Failed') {
    const failure = classifyFailure(latest, spec);
    if (failure.action === 'FailJob') {
      fail(failure.reason, failure.message);
      return finish();
    }
    if (next.failedAttempts > spec.backoffLimit) {
      fail('BackoffLimitExceeded', `${next.failedAttempts} failed attempts exceed backoffLimit ${spec.backoffLimit}; last: ${failure.message}`);
      return finish();
    }
    if (failure.action === 'Count') {
      const readyAt = (failure.finishedAt ?? now).getTime() + retryDelaySeconds(next.failedAttempts, settings.retryBaseSeconds) * 1000;
      delay = Math.max(0, (readyAt - now.getTime()) / 1000);
    }
    condition(ConditionType.Restarting, 'True', failure.reason, `${failure.message}; attempt ${attempts + 1}${delay ? ` in ${Math.ceil(delay)} s` : ''}`, 'Warning');
  } else if (attempts > 0 && !latest) {
    condition(ConditionType.Restarting, 'True', 'PodDeleted', `pod ${trainerPodName(job.metadata.name!, attempts)} disappeared; starting attempt ${attempts + 1} (not counted toward backoffLimit)`, 'Warning');
  }

  if (delay > 0) {
    next.phase = 'Pending';
    decision.requeueAfterSeconds = Math.min(decision.requeueAfterSeconds ?? Infinity, delay);
    return finish();
  }
  const attempt = attempts + 1;
  decision.createPod = buildTrainerPod({ name: job.metadata.name!, namespace: job.metadata.namespace!, uid: job.metadata.uid! }, spec, attempt, settings);
  // A new job's first pass only creates the pod; its status follows from observing the pod (Created
  // above), so a burst of new jobs gets every pod before any status write takes API server time.
  if (current.phase === undefined && current.conditions.length === 0) return decision;
  next.attempts = attempt;
  next.podName = decision.createPod.metadata!.name!;
  next.phase = 'Pending';
  condition(ConditionType.Created, 'True', 'PodCreated', `created trainer pod ${next.podName} (attempt ${attempt})`);
  decision.events.push({ type: 'Normal', reason: 'PodCreated', message: `created trainer pod ${next.podName} (attempt ${attempt})` });
  return finish();
}

function scheduleTtl(spec: FineTuneJobSpec, status: OperatorStatus, now: Date, decision: Decision): void {
  if (spec.ttlSecondsAfterFinished === undefined || !status.completionTime) return;
  const left = spec.ttlSecondsAfterFinished - seconds(new Date(status.completionTime), now);
  if (left <= 0) decision.deleteJob = true;
  else decision.requeueAfterSeconds = left;
}
