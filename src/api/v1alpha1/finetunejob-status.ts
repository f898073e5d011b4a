import { z } from 'zod';
import { conditionList } from './condition.ts';
import { PromotionStatus } from './promotion.ts';
import { EvaluationStatus } from './evaluation.ts';
import { TrialStatus } from './trials.ts';

const time = (description: string) => z.string().meta({ format: 'date-time', description });

export const StageEndReason = z.enum(['EpochsDone', 'EarlyStopped', 'DeadlineExceeded', 'Error', 'Interrupted']);
export type StageEndReason = z.output<typeof StageEndReason>;

export const StageStatus = z.strictObject({
  name: z.string().meta({ description: 'Stage name from spec.stages.' }),
  state: z.enum(['Pending', 'Running', 'Succeeded', 'Failed', 'Interrupted']).meta({
    description:
      'State of the stage. Interrupted: its pod was stopped (SIGTERM, or lost); the next attempt resumes it ' +
      'from its checkpoint.',
  }),
  startTime: time('When the stage started.').optional(),
  endTime: time('When the stage ended.').optional(),
  epochsRun: z.number().int().min(0).default(0).meta({ description: 'Epochs completed.' }),
  bestEpoch: z.number().int().min(0).optional().meta({ description: 'Epoch (1-based) with the best monitored value.' }),
  monitor: z.string().optional().meta({ description: 'Monitored metric.' }),
  bestValue: z.number().optional().meta({ description: 'Best monitored value.' }),
  endReason: StageEndReason.optional().meta({
    description:
      'Why the stage ended: EpochsDone, EarlyStopped, DeadlineExceeded, Error or Interrupted (its pod was ' +
      'stopped; the next attempt resumes it).',
  }),
  message: z.string().optional().meta({ description: 'Detail, e.g. the error.' }),
  attempt: z
    .number()
    .int()
    .min(1)
    .optional()
    .meta({ description: 'Attempt that completed the stage (a later attempt resumes after it).' }),
});
export type StageStatus = z.output<typeof StageStatus>;

export const Metrics = z.strictObject({
  epoch: z
    .number()
    .int()
    .min(0)
    .optional()
    .meta({ description: 'Epoch (1-based, within the stage) the metrics are from.' }),
  loss: z.number().optional().meta({ description: 'Training loss.' }),
  accuracy: z.number().optional().meta({ description: 'Training accuracy.' }),
  valLoss: z.number().optional().meta({ description: 'Validation loss.' }),
  valAccuracy: z.number().optional().meta({ description: 'Validation accuracy.' }),
  samplesPerSecond: z.number().optional().meta({ description: 'Training throughput.' }),
  updateTime: time('When the trainer reported them.').optional(),
});

/** Per-epoch points kept per stage: a long stage keeps every other point when it fills up, so a status stays small. */
export const MAX_HISTORY_POINTS = 120;

const series = (description: string) => z.array(z.number().nullable()).optional().meta({ description });

export const StageHistory = z.strictObject({
  stage: z.string().meta({ description: 'Stage name.' }),
  epoch: z.array(z.number().int()).meta({ description: 'Epochs (1-based) the points are from.' }),
  loss: series('Training loss per point.'),
  valLoss: series('Validation loss per point.'),
  accuracy: series('Training accuracy per point.'),
  valAccuracy: series('Validation accuracy per point.'),
});
export type StageHistory = z.output<typeof StageHistory>;

export const Phase = z.enum(['Pending', 'Queued', 'Running', 'Succeeded', 'Failed', 'Suspended']);
export type Phase = z.output<typeof Phase>;

export const FineTuneJobStatus = z
  .strictObject({
    phase: Phase.optional().meta({
      description: 'Pending, Queued (pod waits for a node/GPU), Running, Succeeded, Failed or Suspended.',
    }),
    stage: z.string().optional().meta({
      description: 'Name of the stage running now, "export" while the model is written; unset once the job is done.',
    }),
    stages: z
      .array(StageStatus)
      .optional()
      .meta({
        description: 'Per-stage history; survives pod and operator restarts.',
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['name'],
      }),
    conditions: conditionList(),
    observedGeneration: z
      .number()
      .int()
      .min(0)
      .optional()
      .meta({ description: 'The .metadata.generation this status reflects.' }),
    attempts: z.number().int().min(0).optional().meta({ description: 'Trainer pods started so far.' }),
    failedAttempts: z
      .number()
      .int()
      .min(0)
      .optional()
      .meta({ description: 'Failed attempts counted toward backoffLimit.' }),
    podName: z.string().optional().meta({ description: 'Trainer pod of the current attempt.' }),
    startTime: time('When the first attempt started.').optional(),
    completionTime: time('When the job succeeded or failed.').optional(),
    progress: z
      .strictObject({
        percent: z.number().min(0).max(100).optional().meta({ description: 'Share of all planned epochs done.' }),
        epoch: z.number().int().min(0).optional().meta({ description: 'Epoch within the current stage.' }),
        totalEpochs: z.number().int().min(0).optional().meta({ description: 'Epochs planned for the current stage.' }),
        eta: time('Estimated completion time.').optional(),
      })
      .optional()
      .meta({ description: 'Training progress.' }),
    metrics: Metrics.optional().meta({ description: 'Latest epoch metrics.' }),
    history: z
      .array(StageHistory)
      .optional()
      .meta({
        description:
          `Per-epoch metrics of each stage (at most ${MAX_HISTORY_POINTS} points a stage), for curves (kubectl ` +
          `ftj describe).`,
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['stage'],
      }),
    skippedFiles: z
      .array(z.string())
      .optional()
      .meta({ description: 'Dataset files skipped as unreadable (first 20).' }),
    outputURI: z.string().optional().meta({ description: 'Where the fine-tuned model was written.' }),
    promotion: PromotionStatus.optional(),
    evaluation: EvaluationStatus.optional(),
    trials: z
      .array(TrialStatus)
      .optional()
      .meta({
        description: 'Recipe trials (spec.trials), in the order they ran; the selected one is marked.',
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['name'],
      }),
    datasetFingerprint: z
      .string()
      .optional()
      .meta({
        description:
          'Digest of the data this run trained on (file names, sizes and times, or HTTP ETag), which a ' +
          "schedule's skipIfUnchanged compares.",
      }),
  })
  .meta({ description: 'Observed state, written by the operator and the trainer through the status subresource.' });
export type FineTuneJobStatus = z.output<typeof FineTuneJobStatus>;
