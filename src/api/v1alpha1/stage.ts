import { z } from 'zod';

/** Adam's default rate, for a head on a frozen base (docs/recipe.md §2). */
export const HEAD_LEARNING_RATE = 1e-3;
/**
 * Default rate once base layers are unfrozen (docs/recipe.md §3): 1e-4, measured by `npm run bench:quality`
 * (1e-5, the ImageNet-scale rule of thumb, barely moved a small base). Early stopping measures the stage
 * against its starting point, so a rate too high for a large base cannot leave it worse than the head stage.
 */
export const FINE_TUNE_LEARNING_RATE = 1e-4;
/**
 * Stages are budgeted in optimizer steps as well as epochs (docs/recipe.md §2-3): a dataset of a few
 * hundred examples gives a dozen steps per epoch, so a fixed number of epochs leaves it far from converged.
 * The unfrozen budget is a generous maximum that early stopping ends: 500 steps cut off the benchmark's
 * fine-tune stages at 1e-4 while they were still improving (`npm run bench:quality`: +4 points at 2,000),
 * and with BatchNormalization training 2,000 still did (+1.2 and +1.5 points at 4,000).
 */
export const STEP_BUDGET = { frozen: 1000, unfrozen: 4000 } as const;
export const AUTO_EPOCHS = { min: 10, max: 300 } as const;
/**
 * Early stopping waits about this many steps without improvement, in whole epochs. An unfrozen stage at
 * a small rate improves slowly and its validation loss is noisy on a small split: 100 steps ended it
 * early, 400 gained 1.5-7.8 points where it mattered (`npm run bench:quality`).
 */
export const PATIENCE_STEPS = { frozen: 100, unfrozen: 400 } as const;
export const AUTO_PATIENCE = { frozen: { min: 3, max: 20 }, unfrozen: { min: 3, max: 30 } } as const;

/**
 * With batchNormalization Auto, unfrozen BN layers train on batches at least this large: below it a
 * batch's own mean and variance are too noisy to normalise with (Wu and He 2018, Group Normalization).
 * On `npm run bench:quality` BN training gained 1.8 points on A 100 and was level or better elsewhere (docs/recipe.md §4).
 */
export const MIN_BATCH_SIZE_FOR_BATCH_NORM_TRAINING = 16;

/** Highest fine-tune rate accepted without optimizer.allowHighLearningRate (docs/recipe.md §3). */
export const MAX_FINE_TUNE_LEARNING_RATE = 1e-4;

export const Unfreeze = z
  .strictObject({
    policy: z
      .enum(['None', 'TopLayers', 'FromLayer', 'All'])
      .default('None')
      .meta({
        description:
          'None: the base stays frozen (head training). TopLayers: unfreeze the top `layers` layers of the base. ' +
          'FromLayer: unfreeze from the layer named `fromLayer` up. All: unfreeze the whole base.',
      }),
    layers: z
      .number()
      .int()
      .min(1)
      .optional()
      .meta({
        description:
          'With policy TopLayers: how many layers (of a Graph model: weight ops such as convolutions), counted ' +
          'from the top of the base.',
      }),
    fromLayer: z
      .string()
      .min(1)
      .optional()
      .meta({
        description:
          'With policy FromLayer: the name of the lowest layer to unfreeze (of a Graph model: a node name, or ' +
          'a name scope such as MobilenetV2/expanded_conv_16).',
      }),
  })
  .meta({
    description:
      'Which layers of the base train in this stage. The model is recompiled at every stage so the change ' +
      'takes effect.',
  });

export const Optimizer = z
  .strictObject({
    type: z.enum(['Adam', 'SGD', 'RMSProp']).default('Adam').meta({ description: 'Optimizer.' }),
    learningRate: z
      .number()
      .positive()
      .max(1)
      .optional()
      .meta({
        description:
          'Learning rate. Default: 1e-3 when the base is frozen, 1e-4 when layers are unfrozen. Unfrozen stages ' +
          "are refused above 1e-4 or above the head stage's rate unless allowHighLearningRate is set.",
      }),
    warmupEpochs: z
      .number()
      .int()
      .min(0)
      .default(0)
      .meta({
        description:
          'Epochs over which the rate rises linearly, step by step, to learningRate (0: none). Helps an unfrozen ' +
          'stage start gently.',
      }),
    decay: z
      .strictObject({
        type: z
          .enum(['None', 'Cosine', 'Step'])
          .default('None')
          .meta({
            description:
              'After the warm-up: None keeps learningRate; Cosine lowers it along a half cosine to 0 at the ' +
              "stage's last step; Step multiplies it by factor every everyEpochs epochs.",
          }),
        everyEpochs: z
          .number()
          .int()
          .min(1)
          .default(1)
          .meta({ description: 'With Step: epochs between two decreases.' }),
        factor: z
          .number()
          .gt(0)
          .lt(1)
          .default(0.5)
          .meta({ description: 'With Step: what the rate is multiplied by at each decrease.' }),
      })
      .prefault({})
      .meta({ description: 'How the rate changes over the stage, set before every optimizer step.' }),
    allowHighLearningRate: z.boolean().default(false).meta({
      description: 'Accept a fine-tune rate above 1e-4 or above the head rate (high rates wreck pretrained weights).',
    }),
  })
  .prefault({})
  .meta({ description: 'Optimizer and learning rate of the stage.' });

export const EarlyStopping = z
  .strictObject({
    enabled: z
      .boolean()
      .default(true)
      .meta({ description: 'Stop the stage when the monitored metric stops improving.' }),
    monitor: z
      .enum(['val_loss', 'val_acc', 'loss', 'acc'])
      .default('val_loss')
      .meta({ description: 'Metric to monitor.' }),
    patience: z
      .number()
      .int()
      .min(0)
      .optional()
      .meta({
        description:
          `Stop after this many epochs in a row without improvement (as Keras: 3 means the 3rd such epoch is the ` +
          `last). Default: about ${PATIENCE_STEPS.frozen} optimizer steps with the base frozen (at most ` +
          `${AUTO_PATIENCE.frozen.max} epochs), ${PATIENCE_STEPS.unfrozen} with layers unfrozen (at most ` +
          `${AUTO_PATIENCE.unfrozen.max}), and at least ${AUTO_PATIENCE.frozen.min} epochs.`,
      }),
    minDelta: z.number().min(0).default(0).meta({ description: 'Smallest change that counts as an improvement.' }),
    restoreBestWeights: z
      .boolean()
      .default(true)
      .meta({ description: 'When the stage ends, restore the weights of its best epoch.' }),
  })
  .prefault({})
  .meta({ description: 'Early stopping of the stage on a monitored metric.' });

const StageInput = z
  .strictObject({
    name: z
      .string()
      .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a lower-case DNS label, e.g. head or fine-tune')
      .max(63)
      .meta({
        description: 'Stage name (a DNS label), shown in .status.stage.',
      }),
    unfreeze: Unfreeze.prefault({}),
    epochs: z
      .number()
      .int()
      .min(1)
      .max(10000)
      .optional()
      .meta({
        description:
          `Maximum epochs of the stage. Default: enough for ${STEP_BUDGET.frozen} optimizer steps with the base ` +
          `frozen, ${STEP_BUDGET.unfrozen} with layers unfrozen (at least ${AUTO_EPOCHS.min} epochs, at most ` +
          `${AUTO_EPOCHS.max}), so a small dataset gets the steps it needs and a large one ${AUTO_EPOCHS.min} ` +
          `epochs; early stopping usually ends the stage sooner.`,
      }),
    optimizer: Optimizer,
    earlyStopping: EarlyStopping,
    batchNormalization: z
      .enum(['Auto', 'Frozen', 'Train'])
      .default('Auto')
      .meta({
        description:
          `Auto (default): Train in a stage that unfreezes layers of a Layers model when spec.batchSize is at ` +
          `least ${MIN_BATCH_SIZE_FOR_BATCH_NORM_TRAINING}, Frozen otherwise. Frozen: BatchNormalization layers ` +
          `of the base stay in inference mode with frozen statistics even when unfrozen (Keras behaviour; safe ` +
          `with small batches); the base's statistics, or those re-estimated on the training data with ` +
          `spec.model.batchNormStatistics: Adapt. Train: unfrozen BN layers normalise each batch with its own ` +
          `statistics, train their scale and offset and update their moving statistics, which are first ` +
          `re-estimated on the training data so validation uses the new data's from the first epoch (a stage ` +
          `that never beats its start ends with the statistics it began with).`,
      }),
  })
  .meta({ description: 'One training stage.' });

/** A stage with its learning rate resolved from its unfreeze policy. */
export const Stage = StageInput.transform((stage) => ({
  ...stage,
  optimizer: {
    ...stage.optimizer,
    learningRate:
      stage.optimizer.learningRate ?? (stage.unfreeze.policy === 'None' ? HEAD_LEARNING_RATE : FINE_TUNE_LEARNING_RATE),
  },
}));

export type Stage = z.output<typeof Stage>;

/** The parts of a spec that resolve batchNormalization Auto. */
export interface BatchNormalizationInputs {
  batchSize: number;
  model: { format: 'Layers' | 'Graph' };
}

/** What a stage does with the base's BN layers: `batchNormalization` with Auto resolved for the spec. */
export function batchNormalizationOf(
  stage: Pick<Stage, 'batchNormalization' | 'unfreeze'>,
  spec: BatchNormalizationInputs,
): 'Frozen' | 'Train' {
  if (stage.batchNormalization !== 'Auto') return stage.batchNormalization;
  // A frozen base trains no BN layer either way; a graph's batch norm cannot normalise with batch statistics.
  const trains = stage.unfreeze.policy !== 'None' && spec.model.format === 'Layers';
  return trains && spec.batchSize >= MIN_BATCH_SIZE_FOR_BATCH_NORM_TRAINING ? 'Train' : 'Frozen';
}

/** docs/recipe.md §2-3: train the head on a frozen base, then fine-tune the whole base at a small rate. */
export const DEFAULT_STAGES: z.input<typeof Stage>[] = [
  { name: 'head', unfreeze: { policy: 'None' } },
  { name: 'fine-tune', unfreeze: { policy: 'All' } },
];

export const stageList = () =>
  z
    .array(Stage)
    .min(1)
    .max(20)
    .prefault(DEFAULT_STAGES)
    .meta({
      description:
        'Training stages, run in order. Default: "head" (frozen base, Adam 1e-3) then "fine-tune" (all layers, ' +
        'Adam 1e-4, BatchNormalization Auto), each as long as its step budget allows and ended by early ' +
        'stopping.',
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['name'],
    });
