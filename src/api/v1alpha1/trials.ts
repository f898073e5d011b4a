import { z } from 'zod';
import { PromotionMetric } from './promotion.ts';
import { Unfreeze } from './stage.ts';

/**
 * The default candidates: head only, and 1e-4 with BatchNormalization frozen or training
 * (`npm run bench:quality`: either can be the better by several points, depending on how far the base's
 * statistics are from the data), each set, so batchNormalization Auto does not make them one.
 * Each fine-tuning candidate adds up to a third of the unfrozen stages' time; add 1e-5 for a large
 * base (docs/recipe.md §3).
 */
export const DEFAULT_TRIAL_CANDIDATES = [
  { name: 'head-only', headOnly: true },
  { name: 'rate-1e-4', learningRate: 1e-4, batchNormalization: 'Frozen' as const },
  { name: 'rate-1e-4-train-bn', learningRate: 1e-4, batchNormalization: 'Train' as const },
];

/** A trial's share of its fine-tuning stage's epochs when trials.epochs is unset, and its floor. */
export const TRIAL_EPOCHS = { shareOfStage: 1 / 3, min: 3 } as const;

export const TrialCandidate = z
  .strictObject({
    name: z
      .string()
      .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a lower-case DNS label, e.g. rate-1e-4')
      .max(63)
      .meta({
        description: 'Candidate name (a DNS label), shown in .status.trials.',
      }),
    headOnly: z
      .boolean()
      .default(false)
      .meta({
        description:
          'true: the model as the frozen stages leave it, with no fine-tuning stage (costs one pass over the ' +
          'validation split). Set nothing else then.',
      }),
    learningRate: z
      .number()
      .positive()
      .max(1)
      .optional()
      .meta({
        description:
          "The learning rate of every unfrozen stage (default: as the stages say). The stages' rate rules apply: " +
          "at most 1e-4 and below the head's rate unless the stage sets optimizer.allowHighLearningRate.",
      }),
    unfreeze: Unfreeze.optional().meta({
      description:
        'Which base layers the unfrozen stage trains (policy TopLayers, FromLayer or All), in place of its own ' +
        'unfreeze. Only with exactly one unfrozen stage.',
    }),
    batchNormalization: z.enum(['Frozen', 'Train']).optional().meta({
      description: 'batchNormalization of every unfrozen stage (default: as the stages say).',
    }),
  })
  .meta({
    description:
      'One way to fine-tune after the frozen stages: the stages as written with these settings changed, or head only.',
  });
export type TrialCandidate = z.output<typeof TrialCandidate>;

export const Trials = z
  .strictObject({
    candidates: z
      .array(TrialCandidate)
      .min(2)
      .max(10)
      .prefault(DEFAULT_TRIAL_CANDIDATES)
      .meta({
        description:
          'The variants to try, in order of preference (a tie goes to the earlier). Default: head-only; every ' +
          'unfrozen stage at 1e-4 with BatchNormalization frozen; at 1e-4 with BatchNormalization training.',
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['name'],
      }),
    epochs: z
      .number()
      .int()
      .min(1)
      .max(10000)
      .optional()
      .meta({
        description:
          `Most epochs of each unfrozen stage in a trial (default: a third of the stage's epochs, at least ` +
          `${TRIAL_EPOCHS.min}); early stopping usually ends a trial sooner.`,
      }),
    metric: PromotionMetric.default('valLoss').meta({
      description:
        'What picks the winner, measured on the validation split after each trial: valLoss (lower wins; the ' +
        'default, steadier on a small split) or valAccuracy (higher wins).',
    }),
  })
  .meta({
    description:
      'Recipe trials: after the frozen stages (run once, their head shared by every trial), each candidate ' +
      'runs the unfrozen stages as a short, early-stopped trial from that same point; the best on the ' +
      'validation split is then trained to the end (a trial that already ran its stages to the end is kept as ' +
      'it is). Every trial is recorded in .status.trials and metadata.json. The test set (spec.evaluation) is ' +
      'never used. Off when unset.',
  });
export type Trials = z.output<typeof Trials>;

export const TrialStatus = z
  .strictObject({
    name: z.string().meta({ description: 'Candidate name.' }),
    settings: z.string().meta({ description: 'What the candidate changes, e.g. "learningRate 1e-4" or "head only".' }),
    state: z.enum(['Running', 'Done']).meta({ description: 'Running or Done.' }),
    valLoss: z.number().optional().meta({ description: 'Validation loss after the trial.' }),
    valAccuracy: z.number().optional().meta({ description: 'Validation accuracy after the trial.' }),
    epochs: z
      .number()
      .int()
      .min(0)
      .default(0)
      .meta({ description: 'Epochs the trial trained, over its stages (0 for head only).' }),
    endReason: z
      .enum(['HeadOnly', 'EarlyStopped', 'EpochsDone', 'TrialEpochsDone'])
      .optional()
      .meta({
        description:
          'Why the trial ended: HeadOnly (nothing to train), EarlyStopped, EpochsDone (its stages ran to their ' +
          'end) or TrialEpochsDone (it reached trials.epochs).',
      }),
    selected: z
      .boolean()
      .optional()
      .meta({ description: 'true for the candidate that was trained to the end and exported.' }),
  })
  .meta({ description: 'One recipe trial (spec.trials).' });
export type TrialStatus = z.output<typeof TrialStatus>;
