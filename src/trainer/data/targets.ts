import * as tf from '@tensorflow/tfjs';
import type { FineTuneJobSpec } from '../../api/v1alpha1/index.ts';

/**
 * The loss a model is compiled with and the targets it trains and validates
 * on (docs/recipe.md §2). Without label smoothing: class indices and sparse
 * cross-entropy. With smoothing ε over K classes, a training example's target
 * is (1 - ε) on its class plus ε / K on every class (Keras' label_smoothing),
 * while validation keeps one-hot targets: val_loss, which early stopping and
 * trials compare, stays the plain cross-entropy of the held-out labels.
 */
export interface Targets {
  loss: 'sparseCategoricalCrossentropy' | 'categoricalCrossentropy';
  /** Turns a batch's labels (class indices) into the training targets; none: the labels are the targets. */
  training?: (labels: tf.Tensor) => tf.Tensor;
  /** Turns a batch's labels into the validation targets; none: the labels are the targets. */
  validation?: (labels: tf.Tensor) => tf.Tensor;
}

export function targetsFor(spec: Pick<FineTuneJobSpec, 'head' | 'task'>): Targets {
  const {
    head: { labelSmoothing: smoothing },
    task: { numClasses },
  } = spec;
  if (smoothing === 0) return { loss: 'sparseCategoricalCrossentropy' };
  return {
    loss: 'categoricalCrossentropy',
    training: (ys) => tf.tidy(() => tf.add(tf.mul(oneHot(ys, numClasses), 1 - smoothing), smoothing / numClasses)),
    validation: (ys) => oneHot(ys, numClasses),
  };
}

function oneHot(labels: tf.Tensor, numClasses: number): tf.Tensor {
  return tf.tidy(() => tf.oneHot(tf.cast(tf.reshape(labels, [-1]), 'int32'), numClasses));
}

/** A dataset of `{ xs, ys }` batches with each batch's labels turned into targets. */
export function withTargets(
  dataset: tf.data.Dataset<{ xs: tf.Tensor; ys: tf.Tensor }>,
  toTargets: ((labels: tf.Tensor) => tf.Tensor) | undefined,
): tf.data.Dataset<{ xs: tf.Tensor; ys: tf.Tensor }> {
  return toTargets ? dataset.map(({ xs, ys }) => ({ xs, ys: toTargets(ys) })) : dataset;
}
