import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { EvaluationStatus } from '../../api/v1alpha1/index.ts';
import { type ExampleReader, exampleDataset } from '../data/batches.ts';
import type { Example } from '../data/example.ts';
import type { FineTuneModel } from './fine-tune-model.ts';

export interface EvaluationReport {
  examples: number;
  accuracy: number;
  macroPrecision: number;
  macroRecall: number;
  classes: { name: string; precision: number; recall: number; support: number }[];
  /** confusion[actual][predicted]: how many test examples of each class were predicted as each class. */
  confusion: number[][];
}

/** Accuracy, per-class precision and recall (0 where a class was never predicted or has no example) and their means. */
export function summarize(confusion: number[][], classNames: string[]): EvaluationReport {
  const total = confusion.flat().reduce((a, b) => a + b, 0);
  const right = confusion.reduce((sum, row, i) => sum + row[i]!, 0);
  const classes = classNames.map((name, i) => {
    const predicted = confusion.reduce((sum, row) => sum + row[i]!, 0);
    const support = confusion[i]!.reduce((a, b) => a + b, 0);
    return { name, precision: predicted ? confusion[i]![i]! / predicted : 0, recall: support ? confusion[i]![i]! / support : 0, support };
  });
  const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / (values.length || 1);
  return {
    examples: total, accuracy: total ? right / total : 0,
    macroPrecision: mean(classes.map((c) => c.precision)), macroRecall: mean(classes.map((c) => c.recall)),
    classes, confusion,
  };
}

/**
 * The exported model on the test set, batch by batch (inference mode): the confusion matrix and what
 * follows from it, written to evaluation.json beside the model.
 */
export async function evaluateTestSet(model: FineTuneModel, test: Example[], reader: ExampleReader, options: { batchSize: number; classNames: string[]; outputDir: string }):
  Promise<EvaluationStatus> {
  const n = options.classNames.length;
  const confusion = Array.from({ length: n }, () => Array<number>(n).fill(0));
  await exampleDataset(test, reader, { batchSize: options.batchSize }).forEachAsync((batch) => {
    const predicted = tf.tidy(() => (model.full.predict(batch.xs) as tf.Tensor).argMax(-1).dataSync());
    const actual = batch.ys.dataSync();
    actual.forEach((label, i) => { confusion[label]![predicted[i]!]! += 1; });
    tf.dispose([batch.xs, batch.ys]);
  });
  const report = summarize(confusion, options.classNames);
  const path = join(options.outputDir, 'evaluation.json');
  await writeFile(path, `${JSON.stringify(report, null, 2)}\n`);
  return { examples: report.examples, accuracy: report.accuracy, macroPrecision: report.macroPrecision, macroRecall: report.macroRecall, report: path };
}
