import * as tf from '@tensorflow/tfjs';

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

export function targetsFor(labelSmoothing: number, numClasses: number): Targets {
  if (labelSmoothing === 0) return { loss: 'sparseCategoricalCrossentropy' };
  return {
    loss: 'categoricalCrossentropy',
    training: (ys) => smoothedOneHot(ys, numClasses, labelSmoothing),
    validation: (ys) => smoothedOneHot(ys, numClasses, 0),
  };
}

function smoothedOneHot(labels: tf.Tensor, numClasses: number, smoothing: number): tf.Tensor {
  return tf.tidy(() => {
    const oneHot = tf.oneHot(tf.cast(tf.reshape(labels, [-1]), 'int32'), numClasses);
    return smoothing === 0 ? oneHot : tf.add(tf.mul(oneHot, 1 - smoothing), smoothing / numClasses);
  });
}

/** A dataset of `{ xs, ys }` batches with each batch's labels turned into targets. */
export function withTargets(
  dataset: tf.data.Dataset<{ xs: tf.Tensor; ys: tf.Tensor }>, toTargets: ((labels: tf.Tensor) => tf.Tensor) | undefined,
): tf.data.Dataset<{ xs: tf.Tensor; ys: tf.Tensor }> {
  return toTargets ? dataset.map(({ xs, ys }) => ({ xs, ys: toTargets(ys) })) : dataset;
}
