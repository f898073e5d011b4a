import { join } from 'node:path';
import type { FineTuneJobSpec, Location } from '../../api/v1alpha1/index.ts';
import { PermanentError } from '../errors.ts';
import { DEFAULT_CACHE_DIR, localCopy } from '../storage/local-copy.ts';
import { openStore } from '../storage/store.ts';
import type { Example, LoadedDataset } from './example.ts';
import { idxExamples } from './idx-files.ts';
import { imageFolderExamples } from './image-folder.ts';
import { shuffled, stratifiedSplit } from './seeded-random.ts';
import { tabularExamples } from './tabular-files.ts';
import { loadTokenizer } from './tokenizer.ts';

/**
 * The spec's training and validation examples: seeded limit, seeded stratified split (default 0.2).
 * Data in object storage is copied into `cacheDir` first (once per ETag).
 */
export async function loadDataset(
  spec: FineTuneJobSpec,
  pvcRoot?: string,
  cacheDir = DEFAULT_CACHE_DIR,
): Promise<LoadedDataset> {
  const seed = spec.dataset.shuffleSeed ?? spec.seed;
  const examplesAt = (location: Location) => examplesIn(spec, location, pvcRoot, cacheDir);
  const main = await examplesAt(spec.dataset);
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
    const separate = await examplesAt(evaluation);
    checkLabels(spec, separate.examples);
    test = separate.examples;
    skipped.push(...(separate.skipped ?? []));
  }
  const withTest = test ? { test } : {};
  const { validation } = spec.dataset;
  if (validation.uri !== undefined || validation.pvc !== undefined) {
    const separate = await examplesAt(validation);
    checkLabels(spec, separate.examples);
    return {
      train: shuffled(limited, seed),
      validation: separate.examples,
      ...withTest,
      classNames: main.classNames,
      skipped: [...skipped, ...(separate.skipped ?? [])],
    };
  }
  const split = stratifiedSplit(limited, validation.split ?? 0.2, seed);
  return { ...split, ...withTest, classNames: main.classNames, skipped };
}

/**
 * The examples at a location in the spec's format: an ImageFolder is a folder or prefix with one
 * sub-folder per class, IDX a folder or prefix holding its two files, CSV and JSONL one file or object.
 */
async function examplesIn(
  spec: FineTuneJobSpec,
  location: Location,
  pvcRoot: string | undefined,
  cacheDir: string,
): Promise<{ examples: Example[]; classNames: string[]; skipped?: string[] }> {
  const store = openStore(location, pvcRoot);
  const shape = spec.model.input.shape as [number, number, number];
  switch (spec.dataset.format) {
    case 'ImageFolder':
      if (/^https?:/.test(store.uri))
        throw new PermanentError(
          `spec.dataset: ${store.uri}: an ImageFolder cannot be listed over http(s); use s3://, a PVC or file://`,
        );
      return imageFolderExamples(await localCopy(store, cacheDir), spec.dataset.classNames, shape);
    case 'IDX': {
      const { images, labels } = spec.dataset.idx!;
      const dir = await localCopy(store, cacheDir, [images, labels]);
      const examples = await idxExamples(join(dir, images), join(dir, labels));
      const classNames = spec.dataset.classNames ?? Array.from({ length: spec.task.numClasses }, (_, i) => String(i));
      return { examples, classNames };
    }
    case 'CSV':
    case 'JSONL':
      return tabularExamples(
        await localCopy(store, cacheDir),
        spec,
        spec.task.type === 'TextClassification' ? await loadTokenizer(spec, pvcRoot, cacheDir) : undefined,
      );
  }
}

function checkLabels(spec: FineTuneJobSpec, examples: Example[]): void {
  if (!examples.length) throw new PermanentError('spec.dataset: the dataset has no examples');
  const outOfRange = examples.find((e) => e.label >= spec.task.numClasses);
  if (outOfRange) {
    throw new PermanentError(
      `${outOfRange.source} has label ${outOfRange.label}, but spec.task.numClasses is ${spec.task.numClasses}: raise numClasses or fix the labels`,
    );
  }
}
