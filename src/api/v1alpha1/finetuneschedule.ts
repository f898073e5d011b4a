import { CronExpressionParser } from 'cron-parser';
import { z } from 'zod';
import { conditionList } from './condition.ts';
import { FineTuneJobSpec } from './finetunejob-spec.ts';
import { API_VERSION, FINETUNESCHEDULE } from './group-version.ts';
import { describeIssues } from './issues.ts';
import { ObjectMeta } from './object-meta.ts';
import { PromotionMetric, SchedulePromotion } from './promotion.ts';

const MACROS = ['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly'];

/** Why a cron expression is unusable, or undefined when it is fine. Five fields, like a CronJob's schedule. */
export function cronProblem(schedule: string, timeZone?: string): string | undefined {
  const trimmed = schedule.trim();
  if (!MACROS.includes(trimmed) && trimmed.split(/\s+/).length !== 5) {
    return `"${schedule}" is not a 5-field cron expression (minute hour day-of-month month day-of-week), e.g. "0 3 * * *", or one of ${MACROS.join(', ')}`;
  }
  try {
    CronExpressionParser.parse(trimmed, timeZone ? { tz: timeZone } : {});
    return undefined;
  } catch (err) {
    return `"${schedule}": ${(err as Error).message}`;
  }
}

function timeZoneProblem(timeZone: string): string | undefined {
  try {
    new Intl.DateTimeFormat('en', { timeZone });
    return undefined;
  } catch {
    return `unknown time zone "${timeZone}": use an IANA name such as Europe/Berlin or Etc/UTC`;
  }
}

const FineTuneScheduleSpecFields = z
  .strictObject({
    schedule: z
      .string()
      .min(1)
      .meta({ description: 'Cron schedule (5 fields: minute hour day-of-month month day-of-week, or @daily etc.).' }),
    timeZone: z
      .string()
      .min(1)
      .optional()
      .meta({ description: "IANA time zone of the schedule. Default: the operator's time zone (UTC in the image)." }),
    concurrencyPolicy: z
      .enum(['Allow', 'Forbid', 'Replace'])
      .default('Forbid')
      .meta({
        description:
          'Allow: runs may overlap. Forbid: skip a run while the previous one is active. Replace: delete the ' +
          'active run and start the new one.',
      }),
    startingDeadlineSeconds: z
      .number()
      .int()
      .min(0)
      .optional()
      .meta({ description: 'A run missed by more than this many seconds is skipped.' }),
    suspend: z.boolean().default(false).meta({ description: 'true: start no new runs (running ones go on).' }),
    successfulJobsHistoryLimit: z
      .number()
      .int()
      .min(0)
      .default(3)
      .meta({ description: 'Succeeded FineTuneJobs to keep.' }),
    failedJobsHistoryLimit: z.number().int().min(0).default(1).meta({ description: 'Failed FineTuneJobs to keep.' }),
    warmStart: z
      .enum(['None', 'LastSucceeded'])
      .default('None')
      .meta({
        description:
          'LastSucceeded: each run fine-tunes the model the last successful run exported (continual fine-tuning; ' +
          "its classifier is cut at the penultimate layer and gets a new head), or the template's base model " +
          "while there is none; the run's annotation finetune.dev/warm-start-from names the run it started from. " +
          "Needs a Layers base model. None: every run starts from the template's base model.",
      }),
    promotion: SchedulePromotion.optional(),
    skipIfUnchanged: z
      .boolean()
      .default(false)
      .meta({
        description:
          'true: before each run, a short CPU pod of the trainer image fingerprints the dataset (file names, ' +
          'sizes and modification times, or the HTTP ETag); when it equals the fingerprint of the last ' +
          "successful run's data, the run is skipped (event DatasetUnchanged, .status.lastSkipped). A " +
          'fingerprint that cannot be taken never skips a run.',
      }),
    jobTemplate: z
      .strictObject({
        metadata: z
          .strictObject({
            labels: z
              .record(z.string(), z.string())
              .optional()
              .meta({ description: 'Labels of each created FineTuneJob.' }),
            annotations: z
              .record(z.string(), z.string())
              .optional()
              .meta({ description: 'Annotations of each created FineTuneJob.' }),
          })
          .optional()
          .meta({ description: 'Metadata of each created FineTuneJob.' }),
        spec: FineTuneJobSpec,
      })
      .meta({ description: 'The FineTuneJob created at each scheduled time.' }),
  })
  .meta({ description: 'When and how to run a FineTuneJob repeatedly.' });

export const FineTuneScheduleSpec = FineTuneScheduleSpecFields.superRefine((spec, ctx) => {
  const zone = spec.timeZone === undefined ? undefined : timeZoneProblem(spec.timeZone);
  if (zone) ctx.addIssue({ code: 'custom', path: ['timeZone'], message: zone });
  const cron = cronProblem(spec.schedule, zone ? undefined : spec.timeZone);
  if (cron) ctx.addIssue({ code: 'custom', path: ['schedule'], message: cron });
  if (spec.warmStart === 'LastSucceeded' && spec.jobTemplate.spec.model.format !== 'Layers') {
    ctx.addIssue({
      code: 'custom',
      path: ['warmStart'],
      message:
        'LastSucceeded needs jobTemplate.spec.model.format Layers: a graph base exports its head apart from ' +
        'the base, which a run cannot start from; set warmStart: None',
    });
  }
  if (spec.jobTemplate.spec.promotion) {
    ctx.addIssue({
      code: 'custom',
      path: ['jobTemplate', 'spec', 'promotion'],
      message: "set by the schedule on each run: use the schedule's spec.promotion instead",
    });
  }
});
export type FineTuneScheduleSpec = z.output<typeof FineTuneScheduleSpec>;

const ObjectReference = z.strictObject({
  name: z.string().meta({ description: 'Name of the FineTuneJob.' }),
  namespace: z.string().optional().meta({ description: 'Namespace of the FineTuneJob.' }),
  uid: z.string().optional().meta({ description: 'UID of the FineTuneJob.' }),
});

const time = (description: string) => z.string().meta({ format: 'date-time', description });

export const FineTuneScheduleStatus = z
  .strictObject({
    active: z
      .array(ObjectReference)
      .optional()
      .meta({ description: 'Runs (FineTuneJobs) of this schedule that have not finished.' }),
    activeCount: z.number().int().min(0).optional().meta({ description: 'Number of active runs (the Active column).' }),
    lastScheduleTime: time('The scheduled time of the last run started.').optional(),
    lastSuccessfulTime: time('When a run last succeeded.').optional(),
    lastSuccessfulRun: z
      .strictObject({
        name: z.string().meta({ description: 'Name of the FineTuneJob.' }),
        outputURI: z.string().optional().meta({ description: 'Where it wrote its model (the path in its pod).' }),
        modelURI: z
          .string()
          .optional()
          .meta({ description: 'Its model.json as a location another run can load (warmStart).' }),
        datasetFingerprint: z
          .string()
          .optional()
          .meta({ description: 'The fingerprint of the data it trained on (skipIfUnchanged).' }),
      })
      .optional()
      .meta({ description: 'The run that last succeeded, and where its model is.' }),
    promoted: z
      .strictObject({
        name: z.string().meta({ description: 'Name of the FineTuneJob.' }),
        modelURI: z.string().optional().meta({ description: 'Its model.json.' }),
        metric: PromotionMetric,
        value: z.number().meta({ description: 'Its value of the metric on its validation split.' }),
        time: z.string().meta({ format: 'date-time', description: 'When it was promoted.' }),
      })
      .optional()
      .meta({ description: 'The promoted run (spec.promotion), which the pointer file latest.json names.' }),
    lastSkipped: z
      .strictObject({
        scheduledTime: time('The scheduled time that did not run.'),
        reason: z.string().meta({ description: 'Why: DatasetUnchanged.' }),
        message: z.string().meta({ description: 'Detail.' }),
      })
      .optional()
      .meta({ description: 'The last scheduled time skipped because its data had not changed (skipIfUnchanged).' }),
    nextScheduleTime: time('When the next run is due (unset while suspended or invalid).').optional(),
    observedGeneration: z
      .number()
      .int()
      .min(0)
      .optional()
      .meta({ description: 'The .metadata.generation this status reflects.' }),
    conditions: conditionList(),
  })
  .meta({ description: 'Observed state of the schedule.' });
export type FineTuneScheduleStatus = z.output<typeof FineTuneScheduleStatus>;

/** Label naming the schedule on each FineTuneJob it creates (select a schedule's runs with -l). */
export const SCHEDULE_NAME_LABEL = 'finetune.dev/schedule-name';
/** Annotation on each run: its scheduled time (RFC 3339), as CronJob's batch.kubernetes.io/cronjob-scheduled-timestamp. */
export const SCHEDULED_TIME_ANNOTATION = 'finetune.dev/scheduled-time';
/** Annotation on a run started from an earlier run's model (warmStart: LastSucceeded): that run's name. */
export const WARM_START_ANNOTATION = 'finetune.dev/warm-start-from';
/** Annotation of a run started by hand (like CronJob's cronjob.kubernetes.io/instantiate: manual). */
export const MANUAL_RUN_ANNOTATION = 'finetune.dev/instantiate';

/**
 * Condition types of a FineTuneSchedule, most important first. RunSkipped is True while the last due run
 * was not started (reason JobAlreadyActive, MissedSchedule or TooManyMissedTimes).
 */
export const ScheduleConditionType = {
  InvalidSpec: 'InvalidSpec',
  Stalled: 'Stalled',
  Suspended: 'Suspended',
  RunSkipped: 'RunSkipped',
} as const;
export type ScheduleConditionType = (typeof ScheduleConditionType)[keyof typeof ScheduleConditionType];

export const FineTuneSchedule = z.object({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal(FINETUNESCHEDULE.kind),
  metadata: ObjectMeta,
  spec: FineTuneScheduleSpec,
  status: FineTuneScheduleStatus.optional(),
});
export type FineTuneSchedule = z.output<typeof FineTuneSchedule>;

export function validateFineTuneScheduleSpec(
  spec: unknown,
): { valid: true; spec: FineTuneScheduleSpec } | { valid: false; errors: string[] } {
  const parsed = FineTuneScheduleSpec.safeParse(spec);
  return parsed.success
    ? { valid: true, spec: parsed.data }
    : { valid: false, errors: describeIssues(parsed.error, 'spec') };
}
