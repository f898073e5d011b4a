import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import {
  AUTO_PATIENCE,
  type EvaluationStatus,
  type FineTuneJobSpec,
  PATIENCE_STEPS,
} from '../../api/v1alpha1/index.ts';
import { type ExampleReader, exampleDataset } from '../data/batches.ts';
import type { Example, LoadedDataset } from '../data/example.ts';
import { targetsFor, withTargets } from '../data/targets.ts';
import type { Preprocessing } from '../data/preprocessing.ts';
import { PermanentError } from '../errors.ts';
import { EarlyStoppingWithRestore } from '../stages/early-stopping.ts';
import { buildFineTuneModel, type FineTuneModel } from './fine-tune-model.ts';
import { layersBase } from './load-base-model.ts';

export interface EvaluationReport {
  examples: number;
  accuracy: number;
  macroPrecision: number;
  macroRecall: number;
  classes: { name: string; precision: number; recall: number; support: number }[];
  /** confusion[actual][predicted]: how many test examples of each class were predicted as each class. */
  confusion: number[][];
  /** scratchControl: the same network trained from scratch, on the same test set; bestEpoch's weights were kept. */
  scratch?: { accuracy: number; epochs: number; bestEpoch: number | undefined; patience: number };
}

/** Accuracy, per-class precision and recall (0 where a class was never predicted or has no example) and their means. */
export function summarize(confusion: number[][], classNames: string[]): EvaluationReport {
  const total = confusion.flat().reduce((a, b) => a + b, 0);
  const right = confusion.reduce((sum, row, i) => sum + row[i]!, 0);
  const classes = classNames.map((name, i) => {
    const predicted = confusion.reduce((sum, row) => sum + row[i]!, 0);
    const support = confusion[i]!.reduce((a, b) => a + b, 0);
    return {
      name,
      precision: predicted ? confusion[i]![i]! / predicted : 0,
      recall: support ? confusion[i]![i]! / support : 0,
      support,
    };
  });
  const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / (values.length || 1);
  return {
    examples: total,
    accuracy: total ? right / total : 0,
    macroPrecision: mean(classes.map((c) => c.precision)),
    macroRecall: mean(classes.map((c) => c.recall)),
    classes,
    confusion,
  };
}

/** The confusion matrix of a model on examples, batch by batch, in inference mode. */
async function confusionOf(
  model: tf.LayersModel,
  examples: Example[],
  reader: ExampleReader,
  batchSize: number,
  classes: number,
): Promise<number[][]> {
  const confusion = Array.from({ length: classes }, () => Array<number>(classes).fill(0));
  await exampleDataset(examples, reader, { batchSize }).forEachAsync((batch) => {
    const predicted = tf.tidy(() => (model.predict(batch.xs) as tf.Tensor).argMax(-1).dataSync());
    batch.ys.dataSync().forEach((label, i) => {
      confusion[label]![predicted[i]!]! += 1;
    });
    tf.dispose([batch.xs, batch.ys]);
  });
  return confusion;
}

export interface TestSetContext {
  spec: FineTuneJobSpec;
  data: LoadedDataset & { test: Example[] };
  reader: ExampleReader;
  /** The job's preprocessing: the scratch control's batches are augmented as the stages' are. */
  preprocessing: Preprocessing;
  /** The recipe's epochs, all stages together (step-aware: planStages): the scratch control's budget. */
  plannedEpochs: number;
  basePath: string;
  outputDir: string;
}

/**
 * The exported model on the test set (spec.evaluation): the confusion matrix and what follows from it,
 * and with scratchControl the same network trained from scratch on the same data, evaluated the same
 * way; written to evaluation.json beside the model.
 */
export async function evaluateTestSet(model: FineTuneModel, context: TestSetContext): Promise<EvaluationStatus> {
  const { spec, data, reader } = context;
  const report = summarize(
    await confusionOf(model.full, data.test, reader, spec.batchSize, data.classNames.length),
    data.classNames,
  );
  if (spec.evaluation?.scratchControl) report.scratch = await scratchControl(context);
  const path = join(context.outputDir, 'evaluation.json');
  await writeFile(path, `${JSON.stringify(report, null, 2)}\n`);
  return {
    examples: report.examples,
    accuracy: report.accuracy,
    macroPrecision: report.macroPrecision,
    macroRecall: report.macroRecall,
    ...(report.scratch
      ? { scratchAccuracy: report.scratch.accuracy, transferGain: report.accuracy - report.scratch.accuracy }
      : {}),
    report: path,
  };
}

/**
 * The base's architecture, freshly initialised (its model.json's topology without its weights), with the
 * same head and label smoothing, every layer trained at Adam's 1e-3 on the training split, as the recipe's
 * stages train: for their whole epoch budget (steps, not a fixed epoch count), on batches augmented as
 * theirs, early-stopped on the validation loss with an unfrozen stage's patience in steps, and ending with
 * its best epoch's weights. A control stopped after 5 noisy epochs, or on its last epoch's weights,
 * under-trains the scratch network and overstates what transfer gained. Its accuracy on the test set.
 */
async function scratchControl(context: TestSetContext): Promise<NonNullable<EvaluationReport['scratch']>> {
  const { spec, data, reader } = context;
  if (spec.model.format !== 'Layers')
    throw new PermanentError(
      "spec.evaluation.scratchControl: needs a Layers base model (a graph model's architecture cannot be re-initialised here)",
    );
  const { modelTopology } = JSON.parse(await readFile(context.basePath, 'utf8')) as {
    modelTopology: tf.io.ModelJSON['modelTopology'];
  };
  const fresh = await tf.models.modelFromJSON({ modelTopology });
  const model = buildFineTuneModel(layersBase(spec, fresh, context.basePath), spec);
  const optimizer = tf.train.adam(1e-3);
  try {
    const targets = targetsFor(spec);
    model.full.compile({ optimizer, loss: targets.loss, metrics: ['accuracy'] });
    const stepsPerEpoch = Math.ceil(data.train.length / spec.batchSize);
    const { min, max } = AUTO_PATIENCE.unfrozen;
    const patience = Math.min(max, Math.max(min, Math.ceil(PATIENCE_STEPS.unfrozen / stepsPerEpoch)));
    const earlyStopping = new EarlyStoppingWithRestore({
      enabled: true,
      monitor: 'val_loss',
      patience,
      minDelta: 0,
      restoreBestWeights: true,
    });
    const train = withTargets(
      exampleDataset(data.train, reader, {
        batchSize: spec.batchSize,
        shuffleSeed: spec.seed,
        augmentation: { spec, preprocessing: context.preprocessing, seed: spec.seed },
      }),
      targets.training,
    );
    const validation = withTargets(
      exampleDataset(data.validation, reader, { batchSize: spec.batchSize }),
      targets.validation,
    );
    const history = await model.full.fitDataset(train, {
      epochs: context.plannedEpochs,
      validationData: validation,
      callbacks: [earlyStopping],
      verbose: 0,
    });
    const confusion = await confusionOf(model.full, data.test, reader, spec.batchSize, data.classNames.length);
    const { bestEpoch } = earlyStopping.outcome();
    return {
      accuracy: summarize(confusion, data.classNames).accuracy,
      epochs: history.epoch.length,
      bestEpoch,
      patience,
    };
  } finally {
    optimizer.dispose();
    // The fresh model's layers up to the cut are the control's; disposing it once frees them.
    model.full.dispose();
  }
}
