import { join } from 'node:path';
import type { FineTuneJobSpec, Location } from '../../api/v1alpha1/index.ts';
import { resolveLocation } from '../../api/v1alpha1/index.ts';
import { PermanentError } from '../errors.ts';
import type { Example, LoadedDataset } from './example.ts';
import { idxExamples } from './idx-files.ts';
import { imageFolderExamples } from './image-folder.ts';
import { shuffled, stratifiedSplit } from './seeded-random.ts';
import { tabularExamples } from './tabular-files.ts';
import { loadTokenizer } from './tokenizer.ts';

/** The spec's training and validation examples: seeded limit, seeded stratified split (default 0.2). */
export async function loadDataset(spec: FineTuneJobSpec, pvcRoot?: string): Promise<LoadedDataset> {
  const seed = spec.dataset.shuffleSeed ?? spec.seed;
  const main = await examplesAt(spec, spec.dataset, pvcRoot);
  const skipped = main.skipped ?? [];
  checkLabels(spec, main.examples);
  let limited = spec.dataset.limit ? shuffled(main.examples, seed).slice(0, spec.dataset.limit) : main.examples;
  // The test set first, so neither training nor the validation split (early stopping) ever sees it.
  let test: Example[] | undefined;
  const { evaluation } = spec;
  if (evaluation?.split !== undefined) {
    const held = stratifiedSplit(limited, evaluation.split, seed + 1);
    [limited, test] = [held.train, held.validation];
  } else if (evaluation) {
    const separate = await examplesAt(spec, evaluation, pvcRoot);
    checkLabels(spec, separate.examples);
    test = separate.examples;
    skipped.push(...separate.skipped ?? []);
  }
  const withTest = test ? { test } : {};
  const { validation } = spec.dataset;
  if (validation.uri !== undefined || validation.pvc !== undefined) {
    const separate = await examplesAt(spec, validation, pvcRoot);
    checkLabels(spec, separate.examples);
    return { train: shuffled(limited, seed), validation: separate.examples, ...withTest, classNames: main.classNames, skipped: [...skipped, ...separate.skipped ?? []] };
  }
  const split = stratifiedSplit(limited, validation.split ?? 0.2, seed);
  return { ...split, ...withTest, classNames: main.classNames, skipped };
}

async function examplesAt(spec: FineTuneJobSpec, location: Location, pvcRoot?: string): Promise<{ examples: Example[]; classNames: string[]; skipped?: string[] }> {
  const resolved = resolveLocation(location, pvcRoot);
  if (resolved.kind !== 'file') throw new PermanentError(`spec.dataset: datasets are read from files or PVCs, not ${resolved.url}; copy the data to a volume`);
  const shape = spec.model.input.shape as [number, number, number];
  switch (spec.dataset.format) {
    case 'ImageFolder':
      return imageFolderExamples(resolved.path, spec.dataset.classNames, shape);
    case 'IDX': {
      const examples = await idxExamples(join(resolved.path, spec.dataset.idx!.images), join(resolved.path, spec.dataset.idx!.labels));
      const classNames = spec.dataset.classNames ?? Array.from({ length: spec.task.numClasses }, (_, i) => String(i));
      return { examples, classNames };
    }
    case 'CSV':
    case 'JSONL':
      return tabularExamples(resolved.path, spec, spec.task.type === 'TextClassification' ? await loadTokenizer(spec, pvcRoot) : undefined);
  }
}

function checkLabels(spec: FineTuneJobSpec, examples: Example[]): void {
  if (!examples.length) throw new PermanentError('spec.dataset: the dataset has no examples');
  const outOfRange = examples.find((e) => e.label >= spec.task.numClasses);
  if (outOfRange) {
    throw new PermanentError(`${outOfRange.source} has label ${outOfRange.label}, but spec.task.numClasses is ${spec.task.numClasses}: raise numClasses or fix the labels`);
  }
}
