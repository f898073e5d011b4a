import { z } from 'zod';
import { locationFields } from './location.ts';

/** The validation metrics a promotion compares: accuracy (higher is better) or loss (lower is better). */
export const PromotionMetric = z.enum(['valAccuracy', 'valLoss']);
export type PromotionMetric = z.output<typeof PromotionMetric>;

const metricFields = {
  metric: PromotionMetric.default('valAccuracy').meta({
    description:
      'Validation metric of the exported model that decides: valAccuracy (higher wins) or valLoss (lower wins).',
  }),
  minDelta: z
    .number()
    .min(0)
    .default(0)
    .meta({ description: 'How much better than the promoted model a new one must be.' }),
};

/** A schedule's promotion gate (FineTuneSchedule spec.promotion). */
export const SchedulePromotion = z.strictObject(metricFields).meta({
  description:
    "Promote a run's model only when it beats the promoted one: each run writes its own output; the pointer " +
    "file latest.json in the template's output location names the promoted run, and .status.promoted says the " +
    'same. Off when unset.',
});

/** A job's promotion (FineTuneJob spec.promotion; a schedule sets it on its runs). */
export const JobPromotion = z
  .strictObject({
    pointer: z.strictObject({ ...locationFields }).meta({
      description:
        "The pointer file (JSON: job, output, metric, value) to replace, atomically, when this job's model " +
        'beats the one it names. Set uri or pvc.',
    }),
    ...metricFields,
  })
  .meta({
    description:
      'After export, evaluate the model on the validation split and point the pointer file at it if it beats ' +
      'the model the file names. Usually set by a FineTuneSchedule.',
  });
export type JobPromotion = z.output<typeof JobPromotion>;

/** What the trainer decided (status.promotion). */
export const PromotionStatus = z
  .strictObject({
    promoted: z.boolean().meta({ description: "true: the pointer file now names this job's model." }),
    metric: PromotionMetric,
    value: z.number().meta({ description: "The exported model's value of the metric on the validation split." }),
    previous: z
      .strictObject({
        job: z.string().optional().meta({ description: 'The job the pointer named before.' }),
        value: z.number().meta({ description: 'Its value of the metric.' }),
      })
      .optional()
      .meta({ description: 'The model it was compared with; unset when the pointer named none.' }),
    pointer: z.string().meta({ description: 'The pointer file.' }),
    message: z.string().meta({ description: 'Why it was or was not promoted.' }),
  })
  .meta({ description: 'The promotion decision after export (spec.promotion).' });
export type PromotionStatus = z.output<typeof PromotionStatus>;
