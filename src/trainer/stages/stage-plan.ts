import {
  AUTO_EPOCHS,
  AUTO_PATIENCE,
  type BatchNormalizationInputs,
  batchNormalizationOf,
  PATIENCE_STEPS,
  type Stage,
  STEP_BUDGET,
} from '../../api/v1alpha1/index.ts';

/** A stage with the epochs, patience and BatchNormalization mode it runs with, defaults resolved for the dataset at hand. */
export type PlannedStage = Omit<Stage, 'batchNormalization'> & {
  epochs: number;
  earlyStopping: Stage['earlyStopping'] & { patience: number };
  batchNormalization: ReturnType<typeof batchNormalizationOf>;
};

const clamp = (value: number, { min, max }: { min: number; max: number }) => Math.min(max, Math.max(min, value));

/**
 * Resolves the step-based defaults (docs/recipe.md §2-3): unset epochs give
 * the stage its step budget, unset patience about PATIENCE_STEPS steps (both
 * longer once layers are unfrozen), in whole epochs of `stepsPerEpoch` steps.
 * A warm-up always leaves at least one epoch after it. batchNormalization
 * Auto is resolved for the spec's batch size and model format.
 */
export function planStages(stages: Stage[], stepsPerEpoch: number, spec: BatchNormalizationInputs): PlannedStage[] {
  return stages.map((stage) => {
    const kind = stage.unfreeze.policy === 'None' ? 'frozen' : 'unfrozen';
    const epochs =
      stage.epochs ??
      Math.max(clamp(Math.ceil(STEP_BUDGET[kind] / stepsPerEpoch), AUTO_EPOCHS), stage.optimizer.warmupEpochs + 1);
    const patience =
      stage.earlyStopping.patience ?? clamp(Math.ceil(PATIENCE_STEPS[kind] / stepsPerEpoch), AUTO_PATIENCE[kind]);
    const batchNormalization = batchNormalizationOf(stage, spec);
    return { ...stage, epochs, earlyStopping: { ...stage.earlyStopping, patience }, batchNormalization };
  });
}
