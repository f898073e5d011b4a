import { isDeepStrictEqual } from 'node:util';
import type { V1Pod } from '@kubernetes/client-node';
import { CronExpressionParser } from 'cron-parser';
import {
  API_VERSION,
  type Condition,
  FINETUNEJOB,
  MANUAL_RUN_ANNOTATION,
  WARM_START_ANNOTATION,
  FINETUNESCHEDULE,
  FINGERPRINT_FLAG,
  FINGERPRINT_FOR_LABEL,
  type FineTuneJobStatus,
  type FineTuneScheduleSpec,
  type FineTuneScheduleStatus,
  SCHEDULE_NAME_LABEL,
  SCHEDULED_TIME_ANNOTATION,
  ScheduleConditionType,
  TRAINER_ENV,
  validateFineTuneJobSpec,
  validateFineTuneScheduleSpec,
} from '../../api/v1alpha1/index.ts';
import type { JobEvent } from './finetunejob-reconciler.ts';
import { isTrue, setCondition } from './job-conditions.ts';
import { buildTrainerPod, nameLabelValue, type PodSettings, shortened } from './trainer-pod.ts';

/** Like CronJob: more missed times than this since the last run is reported, never run one by one. */
const MAX_MISSED_TIMES = 100;
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

/** The pointer file a schedule's promotion gate keeps in the template's output location. */
const PROMOTION_POINTER = 'latest.json';

interface RawLocation {
  uri?: string;
  pvc?: { claimName: string; path?: string };
}

/** A file under a location, as a location (uri, or pvc with the path extended). */
function under(location: RawLocation, name: string): RawLocation {
  if (location.uri !== undefined) return { uri: `${location.uri.replace(/\/+$/, '')}/${name}` };
  return { pvc: { ...location.pvc!, path: `${(location.pvc!.path ?? '').replace(/\/+$/, '')}/${name}` } };
}

/** A location as one URI (pvc://CLAIM/path for a claim), which a model's `uri` accepts. */
function asURI(location: RawLocation): string {
  if (location.uri !== undefined) return location.uri;
  return `pvc://${location.pvc!.claimName}/${(location.pvc!.path ?? '').replace(/^\/+/, '')}`;
}

/** The model.json a run exported, as a URI another run can load. */
const modelURIOf = (run: ScheduleRun) => {
  const output = (run.spec as { output?: RawLocation } | undefined)?.output;
  return output && (output.uri !== undefined || output.pvc) ? asURI(under(output, 'model.json')) : undefined;
};

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

/** A FineTuneJob to create, as sent to the API server. */
export interface RunManifest {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace: string;
    labels: Record<string, string>;
    annotations: Record<string, string>;
    ownerReferences: {
      apiVersion: string;
      kind: string;
      name: string;
      uid: string;
      controller: true;
      blockOwnerDeletion: true;
    }[];
  };
  spec: Record<string, unknown>;
}

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

/** The name of the run for a scheduled time: the same on every operator and after a restart, so a time never runs twice. */
export function runName(schedule: string, scheduledTime: Date): string {
  const minutes = String(Math.floor(scheduledTime.getTime() / 60_000));
  return `${shortened(schedule, 253 - minutes.length - 1)}-${minutes}`;
}

/**
 * One reconcile of a FineTuneSchedule: the stored status, the status it
 * builds, and the decision. The handlers below each take one situation.
 */
class SchedulePass {
  readonly decision: ScheduleDecision = { deleteRuns: [], deleteProbes: [], events: [], outcomes: [] };
  readonly stored: FineTuneScheduleStatus;
  readonly next: FineTuneScheduleStatus;
  readonly name: string;
  readonly namespace: string;
  readonly uid: string;
  readonly generation: number | undefined;
  readonly now: Date;
  readonly at: string;
  readonly created: Date;
  /** The runs this schedule controls (their controller owner reference carries its UID). */
  readonly runs: ScheduleRun[];
  readonly probes: V1Pod[];
  readonly settings: PodSettings;

  constructor(observed: ObservedSchedule, settings: PodSettings) {
    this.settings = settings;
    const meta = observed.schedule.metadata ?? {};
    this.name = meta.name!;
    this.namespace = meta.namespace!;
    this.uid = meta.uid!;
    this.generation = meta.generation;
    this.now = observed.now;
    this.at = observed.now.toISOString();
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

  event(type: JobEvent['type'], reason: string, message: string): void {
    this.decision.events.push({ type, reason, message });
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
      this.at,
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
  if (!validation.valid) return invalid(pass, validation.errors);
  pass.condition({ type: ScheduleConditionType.InvalidSpec, status: 'False', reason: 'Valid' });
  pass.condition({ type: ScheduleConditionType.Stalled, status: 'False', reason: 'Valid' });
  pass.next.observedGeneration = pass.generation;
  const spec = validation.spec;
  pruneHistory(pass, spec);
  if (observed.schedule.metadata?.deletionTimestamp) return pass.finish();
  if (spec.suspend) return suspended(pass);
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
      time: run.status!.completionTime ?? pass.at,
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

function invalid(pass: SchedulePass, errors: string[]): ScheduleDecision {
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
function suspended(pass: SchedulePass): ScheduleDecision {
  pass.condition({
    type: ScheduleConditionType.Suspended,
    status: 'True',
    reason: 'Suspended',
    message: 'spec.suspend is true: no new runs',
  });
  pass.next.nextScheduleTime = undefined;
  return pass.finish();
}

interface RawScheduleSpec {
  jobTemplate?: {
    metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
    spec?: Record<string, unknown>;
  };
}

/** The scheduled times that matter now: the most recent one due and not run, how many were missed, and the next one. */
function dueTimes(
  spec: Pick<FineTuneScheduleSpec, 'schedule' | 'timeZone' | 'startingDeadlineSeconds'>,
  lastScheduleTime: Date | undefined,
  created: Date,
  now: Date,
): { mostRecent?: Date; missed: number; next: Date } {
  let earliest = lastScheduleTime ?? created;
  let notBefore: Date | undefined;
  if (spec.startingDeadlineSeconds !== undefined) {
    // Times older than the deadline cannot run. The walk starts an hour earlier still: the parser maps a time
    // in a spring-forward gap (02:30 that day) to the hour after it only when it walks across the gap.
    notBefore = new Date(now.getTime() - spec.startingDeadlineSeconds * 1000);
    const from = new Date(notBefore.getTime() - 3600_000);
    if (from > earliest) earliest = from;
  }
  const options = { currentDate: earliest, ...(spec.timeZone ? { tz: spec.timeZone } : {}) };
  const times = CronExpressionParser.parse(spec.schedule.trim(), options);
  let mostRecent: Date | undefined;
  let missed = 0;
  for (let time = times.next().toDate(); ; time = times.next().toDate()) {
    if (time > now) return { ...(mostRecent ? { mostRecent } : {}), missed, next: time };
    if (notBefore && time < notBefore) continue;
    mostRecent = time;
    missed += 1;
    if (missed > MAX_MISSED_TIMES) break;
  }
  // Too many to walk: the most recent time before now, and the next one.
  const fromNow = () => CronExpressionParser.parse(spec.schedule.trim(), { ...options, currentDate: now });
  return { mostRecent: fromNow().prev().toDate(), missed, next: fromNow().next().toDate() };
}

function startDueRun(pass: SchedulePass, spec: FineTuneScheduleSpec, raw: RawScheduleSpec): ScheduleDecision {
  const lastScheduleTime = pass.stored.lastScheduleTime ? new Date(pass.stored.lastScheduleTime) : undefined;
  const { mostRecent, missed, next } = dueTimes(spec, lastScheduleTime, pass.created, pass.now);
  pass.next.nextScheduleTime = next.toISOString();
  pass.decision.requeueAfterSeconds = (next.getTime() - pass.now.getTime()) / 1000 + WAKE_UP_DELAY_SECONDS;
  if (!mostRecent) return pass.finish();
  const at = mostRecent.toISOString();
  if (missed > MAX_MISSED_TIMES) {
    pass.event(
      'Warning',
      'TooManyMissedTimes',
      `More than ${MAX_MISSED_TIMES} missed start times since ${lastScheduleTime?.toISOString() ?? 'the schedule was created'}: only the most recent, ${at}, may run. Set or decrease spec.startingDeadlineSeconds, or check the clock`,
    );
  }
  if (
    spec.startingDeadlineSeconds !== undefined &&
    mostRecent.getTime() + spec.startingDeadlineSeconds * 1000 < pass.now.getTime()
  ) {
    return skip(
      pass,
      'MissedSchedule',
      `Missed scheduled time to start a run: ${at} (startingDeadlineSeconds: ${spec.startingDeadlineSeconds})`,
      'Warning',
      'missed',
    );
  }
  const name = runName(pass.name, mostRecent);
  if (pass.runs.some((run) => nameOf(run) === name) || lastScheduleTime?.getTime() === mostRecent.getTime()) {
    // Already started (by this operator before a restart, or by another one): record it, never run it twice.
    if (!lastScheduleTime || lastScheduleTime < mostRecent) pass.next.lastScheduleTime = at;
    return pass.finish();
  }
  const active = pass.active;
  if (active.length && spec.concurrencyPolicy === 'Forbid') {
    return skip(
      pass,
      'JobAlreadyActive',
      `Not starting the run for ${at}: ${active.map(nameOf).join(', ')} is still running (concurrencyPolicy: Forbid); it starts when that run finishes${spec.startingDeadlineSeconds !== undefined ? `, if within startingDeadlineSeconds (${spec.startingDeadlineSeconds})` : ''}`,
      'Normal',
      'skipped',
    );
  }
  if (spec.skipIfUnchanged) {
    const verdict = dataVerdict(pass, raw, name);
    if (verdict === 'waiting') return pass.finish();
    if (verdict === 'unchanged') return skipUnchanged(pass, at);
  }
  if (active.length && spec.concurrencyPolicy === 'Replace') {
    for (const run of active) {
      pass.decision.deleteRuns.push(nameOf(run));
      pass.decision.outcomes.push('replaced');
      pass.event(
        'Normal',
        'SuccessfulDelete',
        `Deleted run ${nameOf(run)}: replaced by the run for ${at} (concurrencyPolicy: Replace)`,
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
  pass.event('Normal', 'SuccessfulCreate', `Created run ${name} for ${at}`);
  pass.next.lastScheduleTime = at;
  pass.condition({
    type: ScheduleConditionType.RunSkipped,
    status: 'False',
    reason: 'RunCreated',
    message: `${name} for ${at}`,
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
function skipUnchanged(pass: SchedulePass, at: string): ScheduleDecision {
  const since = pass.stored.lastSuccessfulRun!.name;
  const message = `Not starting the run for ${at}: its data is unchanged since run ${since} (skipIfUnchanged)`;
  pass.next.lastScheduleTime = at;
  pass.next.lastSkipped = { scheduledTime: at, reason: 'DatasetUnchanged', message };
  pass.event('Normal', 'DatasetUnchanged', message);
  pass.decision.outcomes.push('skipped');
  pass.condition({ type: ScheduleConditionType.RunSkipped, status: 'True', reason: 'DatasetUnchanged', message });
  return pass.finish();
}

/**
 * The fingerprint probe of a due run: the trainer image with --fingerprint and the run's spec (so the same
 * volumes), no GPU, no API access, a ten-minute deadline; owned by the schedule, not by any FineTuneJob.
 */
function probeManifest(pass: SchedulePass, raw: RawScheduleSpec, name: string): V1Pod {
  const templateSpec = structuredClone(raw.jobTemplate?.spec ?? {});
  const resources = { ...(templateSpec['resources'] as Record<string, unknown> | undefined), gpus: 0 };
  const parsed = validateFineTuneJobSpec({ ...templateSpec, resources });
  if (!parsed.valid) throw new Error(`the template was validated with the schedule: ${parsed.errors.join('; ')}`);
  const pod = buildTrainerPod({ name, namespace: pass.namespace, uid: pass.uid }, parsed.spec, 1, pass.settings);
  const container = pod.spec!.containers[0]!;
  const jobEnv: string[] = [TRAINER_ENV.jobName, TRAINER_ENV.jobNamespace, TRAINER_ENV.jobUid, TRAINER_ENV.attempt];
  container.env = container.env!.filter((variable) => !jobEnv.includes(variable.name));
  container.args = [FINGERPRINT_FLAG];
  container.ports = [];
  return {
    ...pod,
    metadata: {
      name: `${shortened(name, 253 - '-fingerprint'.length)}-fingerprint`,
      namespace: pass.namespace,
      labels: {
        [FINGERPRINT_FOR_LABEL]: nameLabelValue(name),
        [SCHEDULE_NAME_LABEL]: nameLabelValue(pass.name),
        'app.kubernetes.io/managed-by': 'finetune-operator',
      },
      ownerReferences: [
        {
          apiVersion: API_VERSION,
          kind: FINETUNESCHEDULE.kind,
          name: pass.name,
          uid: pass.uid,
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    spec: {
      ...pod.spec!,
      serviceAccountName: (parsed.spec.podTemplate?.serviceAccountName as string | undefined) ?? 'default',
      automountServiceAccountToken: false,
      activeDeadlineSeconds: 600,
    },
  };
}

/** A due run not started: a condition, and (once per reason and time) an event and a count. */
function skip(
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

/** What a run is made from besides the spec: the schedule's identity and its last success (warm start). */
interface RunContext {
  namespace: string;
  schedule: string;
  uid: string;
  lastSuccessfulRun: FineTuneScheduleStatus['lastSuccessfulRun'];
}

/**
 * A run of a schedule started by hand now (`kubectl ftj schedules trigger`, as `kubectl create job
 * --from=cronjob/...`): the template's run, with the schedule's warm start and promotion gate, owned by
 * the schedule (so its history limits and status count it), annotated as manual. Throws, naming the
 * field, for a schedule whose spec is invalid.
 */
export function manualRun(schedule: ObservedSchedule['schedule'], name: string, now: Date): RunManifest {
  const validation = validateFineTuneScheduleSpec(schedule.spec);
  if (!validation.valid)
    throw new Error(`FineTuneSchedule ${schedule.metadata?.name} is invalid: ${validation.errors.join('; ')}`);
  const meta = schedule.metadata ?? {};
  const context = {
    namespace: meta.namespace!,
    schedule: meta.name!,
    uid: meta.uid!,
    lastSuccessfulRun: schedule.status?.lastSuccessfulRun,
  };
  const run = runManifest(context, validation.spec, schedule.spec as RawScheduleSpec, name, now);
  run.metadata.annotations[MANUAL_RUN_ANNOTATION] = 'manual';
  return run;
}

/**
 * The FineTuneJob for one scheduled time: the template's labels and
 * annotations, the schedule's name label, the scheduled time, the schedule
 * as controller owner, and an output (and an explicit checkpoint location)
 * of its own under the template's: runs never overwrite each other's models.
 * With warmStart, the last successful run's model is its base; with a
 * promotion gate, the pointer file in the template's output is its to update.
 */
function runManifest(
  context: RunContext,
  schedule: FineTuneScheduleSpec,
  raw: RawScheduleSpec,
  name: string,
  scheduledTime: Date,
): RunManifest {
  const template = raw.jobTemplate ?? {};
  const spec = structuredClone(template.spec ?? {});
  const templateOutput = spec['output'] as RawLocation;
  for (const field of ['output', 'checkpoint']) {
    const location = spec[field] as RawLocation | undefined;
    if (location && (location.uri !== undefined || location.pvc)) spec[field] = under(location, name);
  }
  const annotations: Record<string, string> = {
    ...template.metadata?.annotations,
    [SCHEDULED_TIME_ANNOTATION]: scheduledTime.toISOString(),
  };
  const warmFrom = schedule.warmStart === 'LastSucceeded' ? context.lastSuccessfulRun : undefined;
  if (warmFrom?.modelURI) {
    // The earlier run's classifier, cut at its penultimate layer: its own pvc, cut layer and provenance no longer apply.
    const model = Object.fromEntries(
      Object.entries(spec['model'] as Record<string, unknown>).filter(
        ([key]) => !['pvc', 'cutLayer', 'provenance'].includes(key),
      ),
    );
    spec['model'] = {
      ...model,
      uri: warmFrom.modelURI,
      format: 'Layers',
      outputKind: 'Classifier',
      provenance: { source: `FineTuneJob ${context.namespace}/${warmFrom.name} (warm start)` },
    };
    annotations[WARM_START_ANNOTATION] = warmFrom.name;
  }
  if (schedule.promotion)
    spec['promotion'] = { pointer: under(templateOutput, PROMOTION_POINTER), ...schedule.promotion };
  return {
    apiVersion: API_VERSION,
    kind: FINETUNEJOB.kind,
    metadata: {
      name,
      namespace: context.namespace,
      labels: { ...template.metadata?.labels, [SCHEDULE_NAME_LABEL]: nameLabelValue(context.schedule) },
      annotations,
      ownerReferences: [
        {
          apiVersion: API_VERSION,
          kind: FINETUNESCHEDULE.kind,
          name: context.schedule,
          uid: context.uid,
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    spec,
  };
}
