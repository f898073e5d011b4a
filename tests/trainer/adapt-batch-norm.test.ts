import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { adaptBatchNormStatistics } from '../../src/trainer/model/adapt-batch-norm.ts';
import type { BaseModel } from '../../src/trainer/model/load-base-model.ts';
import { keepFrozenBatchNormInInference } from '../../src/trainer/stages/unfreeze-policy.ts';
import { useWasm } from './support/workspace.ts';

/**
 * Dense(2, fixed weights) then BatchNormalization: the BN layer sees 2x and 3x the inputs' two channels.
 * Its pretrained statistics are far from the data's, and its momentum is Keras MobileNetV2's 0.999: reading
 * a batch's statistics back from a moving average that starts there would lose them to float precision.
 */
function baseWithBatchNorm(): { base: BaseModel; bn: tf.layers.Layer } {
  const input = tf.input({ shape: [2] });
  const dense = tf.layers.dense({
    units: 2,
    useBias: false,
    trainable: false,
    weights: [
      tf.tensor2d([
        [2, 0],
        [0, 3],
      ]),
    ],
  });
  const bn = tf.layers.batchNormalization({
    trainable: false,
    momentum: 0.999,
    movingMeanInitializer: tf.initializers.constant({ value: 1000 }),
    movingVarianceInitializer: tf.initializers.constant({ value: 10000 }),
  });
  const features = bn.apply(dense.apply(input)) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: features });
  const layers = model.layers.filter((layer) => layer.getClassName() !== 'InputLayer');
  keepFrozenBatchNormInInference(layers);
  return { base: { format: 'Layers', inputs: model.inputs, features, layers, path: '' }, bn };
}

/** Two BatchNormalization layers over the same input: `trained` is trainable (a stage trains it), `frozen` not. */
function baseWithTwoBatchNorms(): { base: BaseModel; trained: tf.layers.Layer; frozen: tf.layers.Layer } {
  const input = tf.input({ shape: [2] });
  const bn = (trainable: boolean) =>
    tf.layers.batchNormalization({
      trainable,
      momentum: 0.999,
      movingMeanInitializer: tf.initializers.constant({ value: 1000 }),
      movingVarianceInitializer: tf.initializers.constant({ value: 10000 }),
    });
  const [frozen, trained] = [bn(false), bn(true)];
  const features = trained.apply(frozen.apply(input)) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: features });
  const layers = model.layers.filter((layer) => layer.getClassName() !== 'InputLayer');
  keepFrozenBatchNormInInference(layers);
  return { base: { format: 'Layers', inputs: model.inputs, features, layers, path: '' }, trained, frozen };
}

const movingStatistics = (layer: tf.layers.Layer) =>
  layer
    .getWeights()
    .slice(2)
    .map((w) => Array.from(w.dataSync()));

async function* batchesOf(values: number[][], size: number) {
  for (let start = 0; start < values.length; start += size) yield tf.tensor2d(values.slice(start, start + size));
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const variance = (xs: number[]) => mean(xs.map((x) => (x - mean(xs)) ** 2));

describe('BatchNormalization statistics adapted to the new data (AdaBN)', () => {
  before(useWasm);

  it('sets moving mean and variance to those of the whole dataset, not an average of its batches; gamma and beta keep theirs', async () => {
    const { base, bn } = baseWithBatchNorm();
    // 10 examples in batches of 4, 4 and 2: channel 0 around 1, channel 1 around -2.
    const values = Array.from({ length: 10 }, (_, i) => [1 + Math.sin(i), -2 + 0.5 * Math.cos(3 * i)]);
    const gammaBeta = bn
      .getWeights()
      .slice(0, 2)
      .map((w) => Array.from(w.dataSync()));

    assert.deepEqual(await adaptBatchNormStatistics(base, batchesOf(values, 4)), { layers: 1, examples: 10 });

    const [gamma, beta, movingMean, movingVariance] = bn.getWeights().map((w) => Array.from(w.dataSync()));
    assert.deepEqual([gamma, beta], gammaBeta);
    [2, 3].forEach((scale, channel) => {
      const seen = values.map((v) => scale * v[channel]!);
      const [adaptedMean, adaptedVariance] = [movingMean![channel]!, movingVariance![channel]!];
      assert.ok(
        Math.abs(adaptedMean - mean(seen)) < 1e-3,
        `channel ${channel}: mean ${adaptedMean} is not ${mean(seen)}`,
      );
      assert.ok(
        Math.abs(adaptedVariance - variance(seen)) < 1e-3,
        `channel ${channel}: variance ${adaptedVariance} is not ${variance(seen)}`,
      );
    });
    assert.equal(bn.trainable, false, 'the layer is frozen again');
  });

  it('leaves the pretrained statistics when a batch cannot be read, and says why', async () => {
    const { base, bn } = baseWithBatchNorm();
    async function* failing() {
      yield tf.tensor2d([
        [1, 2],
        [3, 4],
      ]);
      throw new Error('cannot read images/3.png');
    }
    await assert.rejects(adaptBatchNormStatistics(base, failing()), /images\/3\.png/);
    assert.deepEqual(
      bn
        .getWeights()
        .slice(2)
        .map((w) => Array.from(w.dataSync())),
      [
        [1000, 1000],
        [10000, 10000],
      ],
    );
    assert.equal(bn.trainable, false);
  });

  it('adapts nothing without data, and leaves the statistics as they were', async () => {
    const { base, bn } = baseWithBatchNorm();
    assert.deepEqual(await adaptBatchNormStatistics(base, batchesOf([], 4)), { layers: 0, examples: 0 });
    assert.deepEqual(
      bn
        .getWeights()
        .slice(2)
        .map((w) => Array.from(w.dataSync())),
      [
        [1000, 1000],
        [10000, 10000],
      ],
    );
  });

  it('trainingOnly: adapts only the BatchNormalization layers a stage trains; the frozen ones keep their statistics', async () => {
    const values = Array.from({ length: 8 }, (_, i) => [i, -i]);
    const only = baseWithTwoBatchNorms();
    assert.deepEqual(await adaptBatchNormStatistics(only.base, batchesOf(values, 4), { trainingOnly: true }), {
      layers: 1,
      examples: 8,
    });
    assert.deepEqual(
      movingStatistics(only.frozen),
      [
        [1000, 1000],
        [10000, 10000],
      ],
      'the frozen layer keeps its pretrained statistics',
    );
    assert.notDeepEqual(movingStatistics(only.trained)[0], [1000, 1000], 'the trained layer is adapted');
    assert.deepEqual([only.trained.trainable, only.frozen.trainable], [true, false], 'trainable as before');

    const all = baseWithTwoBatchNorms();
    assert.deepEqual(await adaptBatchNormStatistics(all.base, batchesOf(values, 4)), { layers: 2, examples: 8 });
    assert.notDeepEqual(movingStatistics(all.frozen)[0], [1000, 1000], 'without trainingOnly, every layer is');
  });
});
