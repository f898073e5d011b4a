import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { runStagedTraining } from '../../src/trainer/staged-training.ts';
import {
  createOptimizer,
  learningRateAt,
  LearningRateSchedule,
  type ScheduledOptimizer,
} from '../../src/trainer/stages/learning-rate-schedule.ts';
import { pretrainedBase, specFor, useWasm, workspace } from './support/workspace.ts';

const settings = (decay: Parameters<typeof learningRateAt>[1]['decay'], warmupEpochs = 0) => ({
  rate: 1e-3,
  warmupEpochs,
  decay,
  epochs: 4,
  stepsPerEpoch: 10,
});

/** Reads the optimizer's rate at every step, after the schedule has set it. */
class RateProbe extends tf.Callback {
  readonly rates: number[] = [];
  private readonly optimizer: ScheduledOptimizer;
  constructor(optimizer: ScheduledOptimizer) {
    super();
    this.optimizer = optimizer;
  }
  override async onBatchBegin(): Promise<void> {
    this.rates.push(this.optimizer.rate);
  }
}

describe('learning-rate warm-up and decay', () => {
  before(async () => {
    await useWasm();
    await pretrainedBase();
  });

  it('warms up linearly step by step, then keeps, cosine-decays or steps down the rate', () => {
    const warm = settings({ type: 'None', everyEpochs: 1, factor: 0.5 }, 2);
    assert.deepEqual(
      [0, 9, 19, 20, 39].map((s) => learningRateAt(s, warm)),
      [1e-3 / 20, 1e-3 / 2, 1e-3, 1e-3, 1e-3],
    );
    const cosine = settings({ type: 'Cosine', everyEpochs: 1, factor: 0.5 });
    assert.equal(learningRateAt(0, cosine), 1e-3);
    assert.ok(Math.abs(learningRateAt(20, cosine) - 5e-4) < 1e-12, 'half-way: half the rate');
    assert.ok(learningRateAt(39, cosine) < 1e-5);
    const step = settings({ type: 'Step', everyEpochs: 2, factor: 0.1 });
    assert.deepEqual(
      [0, 19, 20, 39].map((s) => learningRateAt(s, step)),
      [1e-3, 1e-3, 1e-4, 1e-4],
    );
  });

  for (const type of ['Adam', 'SGD', 'RMSProp'] as const) {
    it(`sets ${type}'s rate before every step through its public setter, resumed mid-epoch too`, async () => {
      const model = tf.sequential({ layers: [tf.layers.dense({ units: 2, inputShape: [3], activation: 'softmax' })] });
      const optimizer = createOptimizer(type, 1e-3);
      model.compile({ optimizer, loss: 'sparseCategoricalCrossentropy' });
      const xs = tf.randomNormal([40, 3]);
      const ys = tf.tensor1d(Array.from({ length: 40 }, (_, i) => i % 2));
      const schedule = settings({ type: 'Cosine', everyEpochs: 1, factor: 0.5 }, 1);
      // 40 examples in batches of 4: 10 steps per epoch; resumed at epoch 1 after 3 batches, as an interrupted stage is.
      const probe = new RateProbe(optimizer);
      await model.fit(xs, ys, {
        batchSize: 4,
        epochs: 4,
        initialEpoch: 1,
        callbacks: [new LearningRateSchedule(optimizer, schedule, { epoch: 1, batch: 3 }), probe],
        verbose: 0,
      });
      // fit() trains every batch of epoch 1: the schedule counts them from step 13, as a resumed dataset skips 3.
      const steps = [...Array.from({ length: 10 }, (_, i) => 13 + i), ...Array.from({ length: 20 }, (_, i) => 20 + i)];
      const expected = steps.map((step) => learningRateAt(step, schedule));
      assert.deepEqual(
        probe.rates.slice(0, 30).map((r) => r.toExponential(6)),
        expected.map((r) => r.toExponential(6)),
      );
      tf.dispose([xs, ys]);
      model.dispose();
    });
  }

  it('trains a stage with warm-up and cosine decay to the end (it crashed with setLearningRate is not a function)', async (t) => {
    const ws = await workspace(t, 20);
    const spec = specFor(ws, {
      stages: [
        { name: 'head', epochs: 2, optimizer: { warmupEpochs: 1, decay: { type: 'Cosine' } } },
        {
          name: 'fine-tune',
          epochs: 2,
          unfreeze: { policy: 'All' },
          optimizer: { learningRate: 1e-4, warmupEpochs: 1 },
        },
      ],
    });
    const outcome = await runStagedTraining(spec, {
      reporters: [],
      cacheDir: ws.dir,
      backend: { name: 'wasm', source: 'test', gpu: false },
    });
    assert.deepEqual(
      outcome.stages.map((s) => [s.name, s.epochsRun]),
      [
        ['head', 2],
        ['fine-tune', 2],
      ],
    );
  });
});
