import * as tf from '@tensorflow/tfjs';
import type { BaseModel } from './load-base-model.ts';

/**
 * Re-estimates the moving mean and variance of a layers base's
 * BatchNormalization layers on the new data (AdaBN): the pretraining data's
 * statistics normalise other data wrongly, and frozen BN layers never
 * correct them. One pass in training mode; each layer gets the mean and
 * variance of everything it saw in that pass (batches merged exactly, as
 * Chan et al.'s parallel variance does), not tfjs' moving average.
 * `trainingOnly`: only the BN layers a stage trains (trainable), the
 * others keep theirs. Returns how many layers were adapted (none for a
 * graph base), on how many examples.
 */
export async function adaptBatchNormStatistics(
  base: BaseModel,
  batches: AsyncIterable<tf.Tensor>,
  { trainingOnly = false } = {},
): Promise<{ layers: number; examples: number }> {
  const none = { layers: 0, examples: 0 };
  if (base.format !== 'Layers') return none;
  // A momentum of 1 means statistics that never move (and nothing to read a batch's from): those stay.
  const layers = base.layers.filter(
    (layer) =>
      layer.getClassName() === 'BatchNormalization' && momentumOf(layer) < 1 && (!trainingOnly || layer.trainable),
  );
  if (!layers.length) return none;
  const extractor = tf.model({ inputs: base.inputs, outputs: base.features });
  const statistics = layers.map(movingStatistics);
  const pretrained = statistics.map((s) => ({ mean: s.mean.read().clone(), variance: s.variance.read().clone() }));
  let merged: { mean: tf.Tensor; sumOfSquares: tf.Tensor }[] = [];
  let count = 0;
  const wasTrainable = layers.map((layer) => layer.trainable);
  try {
    // Frozen BN layers ignore training mode (keepFrozenBatchNormInInference).
    for (const layer of layers) layer.trainable = true;
    for await (const xs of batches) {
      const size = xs.shape[0]!;
      const next = tf.tidy(() => {
        // Training mode normalises with the batch's own statistics and writes
        // moving * momentum + batch * (1 - momentum): from 0, that is the batch's
        // value scaled, exact to float precision (subtracting the pretrained
        // value would lose it at Keras' momentum of 0.999).
        for (const { mean, variance } of statistics) {
          mean.write(tf.zerosLike(mean.read()));
          variance.write(tf.zerosLike(variance.read()));
        }
        extractor.apply(xs, { training: true });
        return statistics.map(({ mean, variance, momentum }, i) => {
          const batch = { mean: mean.read().div(1 - momentum), variance: variance.read().div(1 - momentum) };
          if (!count) return { mean: batch.mean, sumOfSquares: batch.variance.mul(size) };
          const { mean: soFar, sumOfSquares } = merged[i]!;
          const delta = batch.mean.sub(soFar);
          const total = count + size;
          return {
            mean: soFar.add(delta.mul(size / total)),
            sumOfSquares: sumOfSquares.add(batch.variance.mul(size)).add(delta.square().mul((count * size) / total)),
          };
        });
      });
      tf.dispose([xs, ...merged.flatMap((m) => [m.mean, m.sumOfSquares])]);
      merged = next;
      count += size;
    }
    if (count) {
      statistics.forEach(({ mean, variance }, i) =>
        tf.tidy(() => {
          mean.write(merged[i]!.mean);
          variance.write(merged[i]!.sumOfSquares.div(count));
        }),
      );
    }
  } catch (err) {
    // A batch that cannot be read leaves the base as it was.
    statistics.forEach(({ mean, variance }, i) => {
      mean.write(pretrained[i]!.mean);
      variance.write(pretrained[i]!.variance);
    });
    throw err;
  } finally {
    layers.forEach((layer, i) => {
      layer.trainable = wasTrainable[i]!;
    });
    tf.dispose([
      ...merged.flatMap((m) => [m.mean, m.sumOfSquares]),
      ...pretrained.flatMap((p) => [p.mean, p.variance]),
    ]);
  }
  return count ? { layers: layers.length, examples: count } : none;
}

/** A BN layer's moving statistics, found by their Keras names, and its momentum. */
function movingStatistics(layer: tf.layers.Layer) {
  const weight = (name: string) => {
    const found = layer.weights.find((w) => w.originalName === name || w.originalName.endsWith(`/${name}`));
    if (!found) throw new Error(`BatchNormalization layer ${layer.name} has no ${name} weight`);
    return found;
  };
  return { mean: weight('moving_mean'), variance: weight('moving_variance'), momentum: momentumOf(layer) };
}

const momentumOf = (layer: tf.layers.Layer) => (layer.getConfig() as { momentum: number }).momentum;
