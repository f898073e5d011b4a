import { z } from 'zod';
import { exactlyOneLocation, locationFields } from './location.ts';

/** spec.evaluation: a test set never used for training, early stopping, trials or promotion. */
export const EvaluationFields = z
  .strictObject({
    ...locationFields,
    split: z
      .number()
      .gt(0)
      .lt(1)
      .optional()
      .meta({
        description:
          'Fraction of the training data held out as the test set (seeded, stratified), before the validation ' +
          "split. Set this, or a location (uri or pvc) of a test set in the dataset's format.",
      }),
    scratchControl: z
      .boolean()
      .default(false)
      .meta({
        description:
          "true: also train the same network from scratch (the base's architecture freshly initialised, the same " +
          "head) on the same training split, augmented as the stages are, for the recipe's whole step budget, " +
          "early-stopped on validation loss with an unfrozen stage's patience (about 400 steps) and scored with " +
          "its best epoch's weights, and evaluate it on the same test set, so the status says whether transfer " +
          "helped and by how much. About doubles the run's time. Layers bases only.",
      }),
  })
  .meta({
    description:
      'Evaluate the exported model on a test set: accuracy, per-class precision and recall and the confusion ' +
      'matrix, in .status.evaluation and evaluation.json beside the model. The test set is never used for ' +
      'early stopping or promotion.',
  });
export const Evaluation = EvaluationFields.superRefine((evaluation, ctx) => {
  const located = evaluation.uri !== undefined || evaluation.pvc !== undefined;
  if (located === (evaluation.split !== undefined)) {
    ctx.addIssue({
      code: 'custom',
      path: [],
      message: 'set either split (a fraction of the training data) or a test set location (uri or pvc), not both',
    });
  } else if (located) {
    exactlyOneLocation(evaluation, [], ctx);
  }
});
export type Evaluation = z.output<typeof Evaluation>;

export const EvaluationStatus = z
  .strictObject({
    examples: z.number().int().min(0).meta({ description: 'Test examples evaluated.' }),
    accuracy: z.number().meta({ description: 'Share of test examples classified right.' }),
    macroPrecision: z.number().meta({ description: 'Precision averaged over the classes.' }),
    macroRecall: z.number().meta({ description: 'Recall averaged over the classes.' }),
    scratchAccuracy: z
      .number()
      .optional()
      .meta({ description: 'scratchControl: the same network trained from scratch, on the same test set.' }),
    transferGain: z
      .number()
      .optional()
      .meta({ description: 'scratchControl: accuracy minus scratchAccuracy (positive: transfer helped).' }),
    report: z
      .string()
      .optional()
      .meta({ description: 'evaluation.json: per-class precision, recall and support, and the confusion matrix.' }),
  })
  .meta({ description: 'The exported model on the test set (spec.evaluation).' });
export type EvaluationStatus = z.output<typeof EvaluationStatus>;
