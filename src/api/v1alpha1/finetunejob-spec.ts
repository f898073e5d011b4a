import { z } from 'zod';
import { Dataset } from './dataset.ts';
import { checkSpecConsistency } from './finetunejob-consistency.ts';
import { Augmentation, Head } from './head.ts';
import { locationFields } from './location.ts';
import { Model } from './model.ts';
import { JobPromotion } from './promotion.ts';
import { Evaluation } from './evaluation.ts';
import { runtimeFields } from './runtime.ts';
import { stageList } from './stage.ts';
import { Trials } from './trials.ts';

export const Task = z.strictObject({
  type: z.enum(['ImageClassification', 'TextClassification']).meta({ description: 'ImageClassification or TextClassification.' }),
  numClasses: z.number().int().min(2).max(100000).meta({ description: 'Number of classes of the new head.' }),
}).meta({ description: 'What the fine-tuned model predicts.' });

export const Output = z.strictObject({
  ...locationFields,
}).meta({ description: 'Where the fine-tuned layers model and metadata.json are written. Set either uri or pvc.' });

export const Checkpoint = z.strictObject({
  ...locationFields,
  everyEpochs: z.number().int().min(1).optional().meta({ description: 'Also checkpoint every N epochs within a stage (stage boundaries always are).' }),
}).prefault({}).meta({ description: 'Checkpoints at stage boundaries, so a restarted pod resumes after the last completed stage. Location: uri or pvc; default: a checkpoints/ folder under output.' });

/** The spec's fields, without the cross-field checks (the CRD is generated from this). */
export const FineTuneJobSpecFields = z.strictObject({
  task: Task,
  model: Model,
  dataset: Dataset,
  head: Head.prefault({}),
  stages: stageList(),
  augmentation: Augmentation.prefault({}),
  batchSize: z.number().int().min(1).max(65536).default(32).meta({ description: 'Examples per training batch.' }),
  seed: z.number().int().min(0).default(42).meta({ description: 'Seed of weight initialisation, shuffling and augmentation.' }),
  output: Output,
  checkpoint: Checkpoint,
  promotion: JobPromotion.optional(),
  evaluation: Evaluation.optional(),
  trials: Trials.optional(),
  ...runtimeFields,
}).meta({ description: 'Desired state: the fine-tuning recipe and how to run it.' });

/** The validated spec: schema, defaults and cross-field rules. Operator and trainer both parse with this. */
export const FineTuneJobSpec = FineTuneJobSpecFields.superRefine(checkSpecConsistency);
export type FineTuneJobSpec = z.output<typeof FineTuneJobSpec>;
export type FineTuneJobSpecInput = z.input<typeof FineTuneJobSpec>;
