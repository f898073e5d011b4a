// A FineTuneSchedule's runs as manifests: their names, their specs made from the template (an output of
// their own, the warm start, the promotion gate) and their owner. Below both the operator, which creates
// them on schedule, and kubectl ftj, which creates one by hand (schedules trigger).
import { API_VERSION, FINETUNEJOB, FINETUNESCHEDULE } from './group-version.ts';
import {
  MANUAL_RUN_ANNOTATION,
  SCHEDULE_NAME_LABEL,
  SCHEDULED_TIME_ANNOTATION,
  WARM_START_ANNOTATION,
  type FineTuneScheduleSpec,
  type FineTuneScheduleStatus,
  validateFineTuneScheduleSpec,
} from './finetuneschedule.ts';
import { nameLabelValue, shortened } from './object-names.ts';

/** The pointer file a schedule's promotion gate keeps in the template's output location. */
export const PROMOTION_POINTER = 'latest.json';

export interface RawLocation {
  uri?: string;
  pvc?: { claimName: string; path?: string };
}

/** A file under a location, as a location (uri, or pvc with the path extended). */
export function under(location: RawLocation, name: string): RawLocation {
  if (location.uri !== undefined) return { uri: `${location.uri.replace(/\/+$/, '')}/${name}` };
  return { pvc: { ...location.pvc!, path: `${(location.pvc!.path ?? '').replace(/\/+$/, '')}/${name}` } };
}

/** A location as one URI (pvc://CLAIM/path for a claim), which a model's `uri` accepts. */
export function asURI(location: RawLocation): string {
  if (location.uri !== undefined) return location.uri;
  return `pvc://${location.pvc!.claimName}/${(location.pvc!.path ?? '').replace(/^\/+/, '')}`;
}

/** The model.json a run exported, as a URI another run can load. */
export const modelURIOf = (run: { spec?: unknown }) => {
  const output = (run.spec as { output?: RawLocation } | undefined)?.output;
  return output && (output.uri !== undefined || output.pvc) ? asURI(under(output, 'model.json')) : undefined;
};

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

/** The name of the run for a scheduled time: the same on every operator and after a restart, so a time never runs twice. */
export function runName(schedule: string, scheduledTime: Date): string {
  const minutes = String(Math.floor(scheduledTime.getTime() / 60_000));
  return `${shortened(schedule, 253 - minutes.length - 1)}-${minutes}`;
}

export interface RawScheduleSpec {
  jobTemplate?: {
    metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
    spec?: Record<string, unknown>;
  };
}

/** A FineTuneSchedule as a run is made from it. */
export interface ScheduleObject {
  metadata?: { name?: string; namespace?: string; uid?: string };
  spec?: unknown;
  status?: FineTuneScheduleStatus;
}

/** What a run is made from besides the spec: the schedule's identity and its last success (warm start). */
export interface RunContext {
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
export function manualRun(schedule: ScheduleObject, name: string, now: Date): RunManifest {
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
export function runManifest(
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
