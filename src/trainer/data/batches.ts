import * as tf from '@tensorflow/tfjs';
import type { FineTuneJobSpec } from '../../api/v1alpha1/index.ts';
import { PermanentError } from '../errors.ts';
import { augment, augments } from './augmentation.ts';
import { type Example, UnreadableFileError } from './example.ts';
import { type ImagePreprocessing, type Preprocessing, preprocess } from './preprocessing.ts';
import { seededRandom, shuffled } from './seeded-random.ts';

/** Inputs and labels (a TensorContainerObject, so tf.data datasets of them fit fitDataset and evaluateDataset). */
export interface Batch extends tf.TensorContainerObject {
  xs: tf.Tensor;
  ys: tf.Tensor1D;
}

/** Called once per file skipped as unreadable (spec.dataset.onCorruptFile: Skip). */
export type SkipListener = (file: string, reason: string) => void;

/**
 * Reads, decodes and preprocesses examples batch by batch. Unreadable files
 * are skipped (and remembered, so they are reported once) or fail the run,
 * always named.
 */
export class ExampleReader {
  private readonly skipped = new Set<Example>();
  private readonly spec: FineTuneJobSpec;
  private readonly preprocessing: Preprocessing;
  private readonly onSkip: SkipListener;

  constructor(spec: FineTuneJobSpec, preprocessing: Preprocessing, onSkip: SkipListener) {
    this.spec = spec;
    this.preprocessing = preprocessing;
    this.onSkip = onSkip;
  }

  /** The readable examples among `examples`, in order, `batchSize` at a time (a batch with none readable is left out). */
  async *inBatches(examples: Example[], batchSize: number): AsyncGenerator<Batch> {
    for (let start = 0; start < examples.length; start += batchSize) {
      const batch = await this.read(examples.slice(start, start + batchSize));
      if (batch) yield batch;
    }
  }

  /** Model inputs (preprocessed pixels or token ids) and labels of the readable examples among `examples`, or undefined when none is. */
  async read(examples: Example[]): Promise<Batch | undefined> {
    const results = await Promise.all(
      examples
        .filter((e) => !this.skipped.has(e))
        .map(async (example) => {
          try {
            return { example, pixels: await example.read() };
          } catch (err) {
            if (!(err instanceof UnreadableFileError)) throw err;
            if (this.spec.dataset.onCorruptFile === 'Fail') {
              throw new PermanentError(
                `cannot read ${err.message} (spec.dataset.onCorruptFile is Fail; set Skip to train without unreadable files)`,
              );
            }
            this.skipped.add(example);
            this.onSkip(err.file, err.message);
            return undefined;
          }
        }),
    );
    const ok = results.filter((r) => r !== undefined);
    if (!ok.length) return undefined;
    const shape = ok[0]!.example.shape;
    const size = shape.reduce((a, b) => a * b, 1);
    const p = this.preprocessing;
    const values = p.kind === 'text' ? new Int32Array(ok.length * size) : new Float32Array(ok.length * size);
    ok.forEach((r, i) => values.set(r.pixels, i * size));
    return tf.tidy(() => ({
      xs:
        p.kind === 'text'
          ? tf.tensor(values, [ok.length, ...shape], 'int32')
          : preprocess(tf.tensor4d(values, [ok.length, shape[0]!, shape[1]!, shape[2]!]), p),
      ys: tf.tensor1d(
        ok.map((r) => r.example.label),
        'float32',
      ),
    }));
  }
}

/** The preprocessed inputs of the readable examples, a batch at a time (the labels released). */
export async function* inputsOf(batches: AsyncIterable<Batch>): AsyncGenerator<tf.Tensor> {
  for await (const batch of batches) {
    batch.ys.dispose();
    yield batch.xs;
  }
}

/** Where a resumed stage goes on: its first epoch is `epoch`, of which `batch` batches were trained already. */
export interface ResumePoint {
  epoch: number;
  batch: number;
}

export interface BatchStreamOptions {
  batchSize: number;
  /** Reshuffle every epoch with seed + epoch. */
  shuffleSeed?: number;
  /** A resumed stage: epochs are numbered from here (so each gets the order it had), and its first batches are skipped unread. */
  resumeAt?: ResumePoint;
  /** Augment (training only); seeded per epoch. */
  augmentation?: { spec: FineTuneJobSpec; preprocessing: Preprocessing; seed: number };
  /** Map each batch's inputs (e.g. through the frozen base). */
  map?: (xs: tf.Tensor) => tf.Tensor;
}

/**
 * A tf.data dataset over examples for fitDataset: shuffled per epoch, read and
 * decoded a batch ahead (prefetch) while the previous batch trains.
 */
export function exampleDataset(
  examples: Example[],
  reader: ExampleReader,
  options: BatchStreamOptions,
): tf.data.Dataset<Batch> {
  let epoch = options.resumeAt?.epoch ?? 0;
  return tf.data
    .generator<Batch>(async function* () {
      const current = epoch++;
      const order = options.shuffleSeed === undefined ? examples : shuffled(examples, options.shuffleSeed + current);
      for (let index = skippedBatches(options.resumeAt, current); index * options.batchSize < order.length; index++) {
        const start = index * options.batchSize;
        const batch = await reader.read(order.slice(start, start + options.batchSize));
        if (!batch) continue;
        // Seeded per batch, not per epoch: a resumed epoch augments its remaining batches as they would have been.
        const random = options.augmentation
          ? seededRandom(batchSeed(options.augmentation.seed, current, index))
          : undefined;
        yield transform(batch, options, random);
      }
    } as unknown as () => Generator<Batch>)
    .prefetch(2);
}

/**
 * Batches of `epoch` a resumed stage trained before it stopped (a batch of only unreadable files counts too):
 * the dataset skips them, and the callbacks that count steps (the schedule, the interruption) add them.
 */
export const skippedBatches = (resumeAt: ResumePoint | undefined, epoch: number) =>
  resumeAt?.epoch === epoch ? resumeAt.batch : 0;

const batchSeed = (seed: number, epoch: number, batch: number) =>
  (seed + Math.imul(epoch + 1, 0x9e3779b1) + Math.imul(batch + 1, 0x85ebca6b)) >>> 0;

/** A tf.data dataset over feature tensors held in memory (cached base features), shuffled per epoch. */
export function tensorDataset(
  xs: tf.Tensor,
  ys: tf.Tensor,
  batchSize: number,
  shuffleSeed?: number,
  resumeAt?: ResumePoint,
): tf.data.Dataset<tf.TensorContainer> {
  let epoch = resumeAt?.epoch ?? 0;
  const count = ys.shape[0];
  return tf.data.generator(function* () {
    const indices = Array.from({ length: count }, (_, i) => i);
    const current = epoch++;
    const order = shuffleSeed === undefined ? indices : shuffled(indices, shuffleSeed + current);
    for (let start = skippedBatches(resumeAt, current) * batchSize; start < count; start += batchSize) {
      yield tf.tidy(() => {
        const picked = tf.tensor1d(order.slice(start, start + batchSize), 'int32');
        return { xs: tf.gather(xs, picked), ys: tf.gather(ys, picked) };
      });
    }
  } as unknown as () => Generator<tf.TensorContainer>);
}

function transform(batch: Batch, options: BatchStreamOptions, random: (() => number) | undefined): Batch {
  const augmentation =
    random && options.augmentation && augments(options.augmentation.spec.augmentation)
      ? options.augmentation
      : undefined;
  if (!augmentation && !options.map) return { xs: batch.xs, ys: batch.ys };
  const xs = tf.tidy(() => {
    let x = batch.xs as tf.Tensor4D;
    if (augmentation)
      x = augment(x, augmentation.spec.augmentation, augmentation.preprocessing as ImagePreprocessing, random!);
    return options.map ? options.map(x) : x;
  });
  batch.xs.dispose();
  return { xs, ys: batch.ys };
}
