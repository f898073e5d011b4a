import { isDeepStrictEqual } from 'node:util';
import type { V1Pod } from '@kubernetes/client-node';
import {
  type Condition,
  FINETUNESCHEDULE,
  FINGERPRINT_FOR_LABEL,
  type FineTuneJobStatus,
  type FineTuneScheduleSpec,
  type FineTuneScheduleStatus,
  modelURIOf,
  nameLabelValue,
  type RawScheduleSpec,
  type RunManifest,
  runManifest,
  runName,
  ScheduleConditionType,
  validateFineTuneScheduleSpec,
} from '../../api/v1alpha1/index.ts';
import { dueTimes, MAX_MISSED_TIMES } from './cron-times.ts';
import type { JobEvent } from './finetunejob-reconciler.ts';
import { isTrue, setCondition } from './job-conditions.ts';
import { ObjectPass } from './object-pass.ts';
import { probeManifest } from './probe-pod.ts';
import type { PodSettings } from './trainer-pod.ts';

/** A wake-up lands this long after the scheduled time, so the time has passed when the reconcile reads the clock. */
const WAKE_UP_DELAY_SECONDS = 0.1;

interface OwnerReference {
  kind?: string;
  uid?: string;
  controller?: boolean;
}
interface Meta {
  name?: string;
  namespace?: string;
  uid?: string;
  generation?: number;
  creationTimestamp?: string | Date;
  deletionTimestamp?: unknown;
  ownerReferences?: OwnerReference[];
}

/** A FineTuneJob as the schedule reads it. */
export interface ScheduleRun {
  metadata?: Meta & { annotations?: Record<string, string> };
  spec?: unknown;
  status?: FineTuneJobStatus;
}

export interface ObservedSchedule {
  schedule: { metadata?: Meta; spec?: unknown; status?: FineTuneScheduleStatus };
  /** FineTuneJobs that may be this schedule's (the cache's, by owner name); its own carry its UID as controller. */
  runs: ScheduleRun[];
  /** Its fingerprint probe pods (skipIfUnchanged), as the cache sees them. */
  probes?: V1Pod[];
  now: Date;
}

/** What happened to runs, for the `finetune_schedule_runs_total` counter. */
export const RUN_OUTCOMES = ['created', 'skipped', 'missed', 'replaced', 'succeeded', 'failed'] as const;
export type RunOutcome = (typeof RUN_OUTCOMES)[number];

/** What to do; the controller carries it out, in this order: delete, create, write status, record events. */
export interface ScheduleDecision {
  deleteRuns: string[];
  createRun?: RunManifest;
  /** skipIfUnchanged: the pod that fingerprints the due run's data, and finished probes to remove. */
  createProbe?: V1Pod;
  deleteProbes: string[];
  /** The whole status, only when it differs from what is stored. */
  status?: FineTuneScheduleStatus;
  /** Emitted once the status write succeeds. */
  events: JobEvent[];
  outcomes: RunOutcome[];
  /** The next scheduled time, as a delay: a wake-up, never polling. */
  requeueAfterSeconds?: number;
}

const isFinished = (run: ScheduleRun) => run.status?.phase === 'Succeeded' || run.status?.phase === 'Failed';
const isDeleting = (run: ScheduleRun) => Boolean(run.metadata?.deletionTimestamp);
const nameOf = (run: ScheduleRun) => run.metadata!.name!;
const startOf = (run: ScheduleRun) =>
  Date.parse(run.status?.startTime ?? String(run.metadata?.creationTimestamp ?? '')) || 0;

/**
 * One reconcile of a FineTuneSchedule: the stored status, the status it
 * builds, and the decision. The handlers below each take one situation.
 */
class SchedulePass extends ObjectPass<ScheduleDecision> {
  readonly decision: ScheduleDecision = { deleteRuns: [], deleteProbes: [], events: [], outcomes: [] };
  readonly stored: FineTuneScheduleStatus;
  readonly next: FineTuneScheduleStatus;
  readonly created: Date;
  /** The runs this schedule controls (their controller owner reference carries its UID). */
  readonly runs: ScheduleRun[];
  readonly probes: V1Pod[];
  readonly settings: PodSettings;

  constructor(observed: ObservedSchedule, settings: PodSettings) {
    const meta = observed.schedule.metadata ?? {};
    super(meta, observed.now);
    this.settings = settings;
    this.created = new Date(meta.creationTimestamp ?? observed.now);
    this.stored = observed.schedule.status ?? { conditions: [] };
    this.next = structuredClone({ ...this.stored, conditions: this.stored.conditions ?? [] });
    const own = (meta: Meta | undefined) =>
      meta?.ownerReferences?.some(
        (ref) => ref.controller && ref.kind === FINETUNESCHEDULE.kind && ref.uid === this.uid,
      ) ?? false;
    this.runs = observed.runs.filter((run) => own(run.metadata));
    this.probes = (observed.probes ?? []).filter((pod) => own(pod.metadata as Meta | undefined));
  }

  get active(): ScheduleRun[] {
    return this.runs.filter((run) => !isFinished(run) && !isDeleting(run));
  }

  condition({
    type,
    status,
    reason,
    message = '',
  }: {
    type: ScheduleConditionType;
    status: 'True' | 'False';
    reason: string;
    message?: string;
  }): void {
    this.next.conditions = setCondition(
      this.next.conditions,
      { type, status, reason, message },
      this.nowTimestamp,
      this.generation,
      SCHEDULE_CONDITION_ORDER,
    );
  }

  /** The stored condition of `type`, if any. */
  storedCondition(type: ScheduleConditionType): Condition | undefined {
    return this.stored.conditions?.find((c) => c.type === type);
  }

  /** The decision, with the status only when it changed. */
  finish(): ScheduleDecision {
    const next = withoutEmpty(this.next);
    if (!isDeepStrictEqual(next, withoutEmpty({ ...this.stored, conditions: this.stored.conditions ?? [] })))
      this.decision.status = next;
    return this.decision;
  }
}

const SCHEDULE_CONDITION_ORDER: readonly string[] = Object.values(ScheduleConditionType);

/** Drops unset optional fields, so a stored status and a built one compare equal when they say the same. */
function withoutEmpty(status: FineTuneScheduleStatus): FineTuneScheduleStatus {
  return Object.fromEntries(
    Object.entries(status).filter(([, value]) => value !== undefined),
  ) as FineTuneScheduleStatus;
}

/**
 * Decides what a FineTuneSchedule needs now, batch/v1 CronJob's way: observe
 * its runs (active, finished, gone), prune history beyond the limits, then,
 * unless it is invalid, suspended or being deleted, start the most recent
 * due run that has not run (at most one, whatever was missed), honouring
 * startingDeadlineSeconds and concurrencyPolicy, and wake up at the next
 * scheduled time. Pure: the clock is an input.
 */
export function reconcileFineTuneSchedule(observed: ObservedSchedule, settings: PodSettings): ScheduleDecision {
  const pass = new SchedulePass(observed, settings);
  observePromotions(pass);
  observeRuns(pass);
  const validation = validateFineTuneScheduleSpec(observed.schedule.spec);
  if (!validation.valid) return reportInvalidSpec(pass, validation.errors);
  pass.condition({ type: ScheduleConditionType.InvalidSpec, status: 'False', reason: 'Valid' });
  pass.condition({ type: ScheduleConditionType.Stalled, status: 'False', reason: 'Valid' });
  pass.next.observedGeneration = pass.generation;
  const spec = validation.spec;
  pruneHistory(pass, spec);
  if (observed.schedule.metadata?.deletionTimestamp) return pass.finish();
  if (spec.suspend) return suspend(pass);
  pass.condition({ type: ScheduleConditionType.Suspended, status: 'False', reason: 'Active' });
  return startDueRun(pass, spec, observed.schedule.spec as RawScheduleSpec);
}

/** Active runs, finished ones (SawCompletedJob), ones that went missing; the last success. */
function observeRuns(pass: SchedulePass): void {
  const byName = new Map(pass.runs.map((run) => [nameOf(run), run]));
  for (const ref of pass.stored.active ?? []) {
    const run = byName.get(ref.name);
    if (!run) {
      pass.event('Warning', 'MissingJob', `Active run went missing: ${ref.name}`);
    } else if (isFinished(run)) {
      const phase = run.status!.phase!;
      pass.event(
        phase === 'Succeeded' ? 'Normal' : 'Warning',
        'SawCompletedJob',
        `Saw completed run: ${ref.name}, status: ${phase}`,
      );
      pass.decision.outcomes.push(phase === 'Succeeded' ? 'succeeded' : 'failed');
    }
  }
  const active = pass.active.sort((a, b) => nameOf(a).localeCompare(nameOf(b)));
  pass.next.active = active.length
    ? active.map((run) => ({ name: nameOf(run), namespace: pass.namespace, uid: run.metadata!.uid! }))
    : undefined;
  pass.next.activeCount = active.length;

  const succeeded = pass.runs
    .filter((run) => run.status?.phase === 'Succeeded' && run.status.completionTime)
    .sort((a, b) => Date.parse(a.status!.completionTime!) - Date.parse(b.status!.completionTime!));
  const latest = succeeded.at(-1);
  const storedTime = pass.stored.lastSuccessfulTime ? Date.parse(pass.stored.lastSuccessfulTime) : -Infinity;
  if (latest && Date.parse(latest.status!.completionTime!) >= storedTime) {
    const modelURI = modelURIOf(latest);
    pass.next.lastSuccessfulTime = latest.status!.completionTime!;
    const fingerprint = latest.status!.datasetFingerprint;
    pass.next.lastSuccessfulRun = {
      name: nameOf(latest),
      ...(latest.status!.outputURI ? { outputURI: latest.status!.outputURI } : {}),
      ...(modelURI ? { modelURI } : {}),
      ...(fingerprint ? { datasetFingerprint: fingerprint } : {}),
    };
  }
}

/**
 * A run that just succeeded with a promotion decision (its trainer compared its model with the one the
 * pointer file named, and replaced the pointer only if it won): record the promoted run, and say either way.
 */
function observePromotions(pass: SchedulePass): void {
  const justFinished = new Set((pass.stored.active ?? []).map((ref) => ref.name));
  const decided = pass.runs
    .filter((run) => justFinished.has(nameOf(run)) && run.status?.phase === 'Succeeded' && run.status.promotion)
    .sort((a, b) => Date.parse(a.status!.completionTime ?? '') - Date.parse(b.status!.completionTime ?? ''));
  for (const run of decided) {
    const promotion = run.status!.promotion!;
    if (!promotion.promoted) {
      pass.event('Warning', 'NotPromoted', `Run ${nameOf(run)} was not promoted: ${promotion.message}`);
      continue;
    }
    const modelURI = modelURIOf(run);
    pass.next.promoted = {
      name: nameOf(run),
      ...(modelURI ? { modelURI } : {}),
      metric: promotion.metric,
      value: promotion.value,
      time: run.status!.completionTime ?? pass.nowTimestamp,
    };
    pass.event('Normal', 'Promoted', `Run ${nameOf(run)} was promoted: ${promotion.message}`);
  }
}

/** Deletes the oldest finished runs beyond successfulJobsHistoryLimit and failedJobsHistoryLimit (their pods go with them). */
function pruneHistory(pass: SchedulePass, spec: FineTuneScheduleSpec): void {
  const limits = [
    ['Succeeded', spec.successfulJobsHistoryLimit, 'successfulJobsHistoryLimit'],
    ['Failed', spec.failedJobsHistoryLimit, 'failedJobsHistoryLimit'],
  ] as const;
  for (const [phase, limit, field] of limits) {
    const finished = pass.runs
      .filter((run) => run.status?.phase === phase && !isDeleting(run))
      .sort((a, b) => startOf(a) - startOf(b));
    for (const run of finished.slice(0, Math.max(0, finished.length - limit))) {
      pass.decision.deleteRuns.push(nameOf(run));
      pass.event('Normal', 'SuccessfulDelete', `Deleted run ${nameOf(run)} (${field}: ${limit})`);
    }
  }
}

function reportInvalidSpec(pass: SchedulePass, errors: string[]): ScheduleDecision {
  const message = errors.join('; ');
  if (
    pass.storedCondition(ScheduleConditionType.InvalidSpec)?.message !== message ||
    !isTrue(pass.stored.conditions, ScheduleConditionType.InvalidSpec)
  ) {
    pass.event('Warning', 'InvalidSpec', `No runs until the spec is fixed: ${message}`);
  }
  pass.condition({ type: ScheduleConditionType.InvalidSpec, status: 'True', reason: 'InvalidSpec', message });
  pass.condition({ type: ScheduleConditionType.Stalled, status: 'True', reason: 'InvalidSpec', message });
  pass.next.observedGeneration = pass.generation;
  pass.next.nextScheduleTime = undefined;
  return pass.finish();
}

/** No new runs; running ones go on. Like a CronJob, times missed while suspended may catch up (one run) on resume. */
function suspend(pass: SchedulePass): ScheduleDecision {
  pass.condition({
    type: ScheduleConditionType.Suspended,
    status: 'True',
    reason: 'Suspended',
    message: 'spec.suspend is true: no new runs',
  });
  pass.next.nextScheduleTime = undefined;
  return pass.finish();
}

function startDueRun(pass: SchedulePass, spec: FineTuneScheduleSpec, raw: RawScheduleSpec): ScheduleDecision {
  const lastScheduleTime = pass.stored.lastScheduleTime ? new Date(pass.stored.lastScheduleTime) : undefined;
  const { mostRecent, missed, next } = dueTimes(spec, lastScheduleTime, pass.created, pass.now);
  pass.next.nextScheduleTime = next.toISOString();
  pass.decision.requeueAfterSeconds = (next.getTime() - pass.now.getTime()) / 1000 + WAKE_UP_DELAY_SECONDS;
  if (!mostRecent) return pass.finish();
  const scheduledTime = mostRecent.toISOString();
  if (missed > MAX_MISSED_TIMES) {
    pass.event(
      'Warning',
      'TooManyMissedTimes',
      `More than ${MAX_MISSED_TIMES} missed start times since ${lastScheduleTime?.toISOString() ?? 'the schedule was created'}: only the most recent, ${scheduledTime}, may run. Set or decrease spec.startingDeadlineSeconds, or check the clock`,
    );
  }
  if (
    spec.startingDeadlineSeconds !== undefined &&
    mostRecent.getTime() + spec.startingDeadlineSeconds * 1000 < pass.now.getTime()
  ) {
    return skipDueRun(
      pass,
      'MissedSchedule',
      `Missed scheduled time to start a run: ${scheduledTime} (startingDeadlineSeconds: ${spec.startingDeadlineSeconds})`,
      'Warning',
      'missed',
    );
  }
  const name = runName(pass.name, mostRecent);
  if (pass.runs.some((run) => nameOf(run) === name) || lastScheduleTime?.getTime() === mostRecent.getTime()) {
    // Already started (by this operator before a restart, or by another one): record it, never run it twice.
    if (!lastScheduleTime || lastScheduleTime < mostRecent) pass.next.lastScheduleTime = scheduledTime;
    return pass.finish();
  }
  const active = pass.active;
  if (active.length && spec.concurrencyPolicy === 'Forbid') {
    return skipDueRun(
      pass,
      'JobAlreadyActive',
      `Not starting the run for ${scheduledTime}: ${active.map(nameOf).join(', ')} is still running (concurrencyPolicy: Forbid); it starts when that run finishes${spec.startingDeadlineSeconds !== undefined ? `, if within startingDeadlineSeconds (${spec.startingDeadlineSeconds})` : ''}`,
      'Normal',
      'skipped',
    );
  }
  if (spec.skipIfUnchanged) {
    const verdict = dataVerdict(pass, raw, name);
    if (verdict === 'waiting') return pass.finish();
    if (verdict === 'unchanged') return skipUnchanged(pass, scheduledTime);
  }
  if (active.length && spec.concurrencyPolicy === 'Replace') {
    for (const run of active) {
      pass.decision.deleteRuns.push(nameOf(run));
      pass.decision.outcomes.push('replaced');
      pass.event(
        'Normal',
        'SuccessfulDelete',
        `Deleted run ${nameOf(run)}: replaced by the run for ${scheduledTime} (concurrencyPolicy: Replace)`,
      );
    }
  }
  const context = {
    namespace: pass.namespace,
    schedule: pass.name,
    uid: pass.uid,
    lastSuccessfulRun: pass.stored.lastSuccessfulRun,
  };
  pass.decision.createRun = runManifest(context, spec, raw, name, mostRecent);
  pass.decision.outcomes.push('created');
  pass.event('Normal', 'SuccessfulCreate', `Created run ${name} for ${scheduledTime}`);
  pass.next.lastScheduleTime = scheduledTime;
  pass.condition({
    type: ScheduleConditionType.RunSkipped,
    status: 'False',
    reason: 'RunCreated',
    message: `${name} for ${scheduledTime}`,
  });
  return pass.finish();
}

/**
 * skipIfUnchanged: whether the due run's data differs from the last successful run's. Compared by a probe
 * pod (the trainer image with --fingerprint, no GPU) whose termination message is the fingerprint: the
 * operator cannot read a job's volumes itself. Without a fingerprint to compare with, or when the probe
 * fails, the run goes ahead: a broken probe never skips training.
 */
function dataVerdict(pass: SchedulePass, raw: RawScheduleSpec, name: string): 'waiting' | 'unchanged' | 'run' {
  const probeFor = nameLabelValue(name);
  for (const stale of pass.probes.filter((pod) => pod.metadata?.labels?.[FINGERPRINT_FOR_LABEL] !== probeFor)) {
    pass.decision.deleteProbes.push(stale.metadata!.name!);
  }
  const baseline = pass.stored.lastSuccessfulRun?.datasetFingerprint;
  if (!baseline) return 'run';
  const probe = pass.probes.find((pod) => pod.metadata?.labels?.[FINGERPRINT_FOR_LABEL] === probeFor);
  if (!probe) {
    pass.decision.createProbe = probeManifest(pass, raw, name);
    return 'waiting';
  }
  const phase = probe.status?.phase;
  if (phase !== 'Succeeded' && phase !== 'Failed') return 'waiting';
  pass.decision.deleteProbes.push(probe.metadata!.name!);
  const terminated = probe.status?.containerStatuses?.[0]?.state?.terminated;
  if (phase === 'Failed' || !terminated?.message?.trim()) {
    pass.event(
      'Warning',
      'FingerprintFailed',
      `Could not fingerprint the data of run ${name} (${terminated?.message?.trim().split('\n').at(-1) ?? phase}); running it anyway`,
    );
    return 'run';
  }
  return terminated.message.trim() === baseline ? 'unchanged' : 'run';
}

/** The due time is used up without a run: its data is the last successful run's. */
function skipUnchanged(pass: SchedulePass, scheduledTime: string): ScheduleDecision {
  const since = pass.stored.lastSuccessfulRun!.name;
  const message = `Not starting the run for ${scheduledTime}: its data is unchanged since run ${since} (skipIfUnchanged)`;
  pass.next.lastScheduleTime = scheduledTime;
  pass.next.lastSkipped = { scheduledTime, reason: 'DatasetUnchanged', message };
  pass.event('Normal', 'DatasetUnchanged', message);
  pass.decision.outcomes.push('skipped');
  pass.condition({ type: ScheduleConditionType.RunSkipped, status: 'True', reason: 'DatasetUnchanged', message });
  return pass.finish();
}

/** A due run not started: a condition, and (once per reason and time) an event and a count. */
function skipDueRun(
  pass: SchedulePass,
  reason: string,
  message: string,
  type: JobEvent['type'],
  outcome: RunOutcome,
): ScheduleDecision {
  const stored = pass.storedCondition(ScheduleConditionType.RunSkipped);
  if (stored?.status !== 'True' || stored.reason !== reason || stored.message !== message) {
    pass.event(type, reason, message);
    pass.decision.outcomes.push(outcome);
  }
  pass.condition({ type: ScheduleConditionType.RunSkipped, status: 'True', reason, message });
  return pass.finish();
}
