import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { ExampleReader } from '../../src/trainer/data/batches.ts';
import { loadDataset } from '../../src/trainer/data/load-dataset.ts';
import { preprocessingOf } from '../../src/trainer/data/preprocessing.ts';
import { fileSystemModel } from '../../src/trainer/model/file-io-handler.ts';
import { runStagedTraining } from '../../src/trainer/staged-training.ts';
import { smallCnn } from '../../src/local/quickstart/fashion-base-model.ts';
import { specFor, useWasm, workspace } from './support/workspace.ts';

const accuracy = (model: tf.LayersModel, xs: tf.Tensor, ys: tf.Tensor1D) =>
  tf.tidy(() => (model.predict(xs) as tf.Tensor).argMax(1).equal(ys.cast('int32')).mean().dataSync()[0]!);

const STAGES = [
  { name: 'head', epochs: 15, optimizer: { learningRate: 1e-2 }, earlyStopping: { enabled: false } },
  {
    name: 'fine-tune',
    epochs: 8,
    unfreeze: { policy: 'All' as const },
    optimizer: { learningRate: 1e-4 },
    earlyStopping: { enabled: false },
  },
];

describe('transfer learning on Fashion-MNIST', () => {
  before(useWasm);

  it('a base pretrained on classes 0-4, fine-tuned on 250 labels of classes 5-9, beats the same network trained from scratch', async (t) => {
    const ws = await workspace(t, 100);
    const spec = specFor(ws, { dataset: { ...specFor(ws).dataset, validation: { split: 0.5 } }, stages: STAGES });
    const outcome = await runStagedTraining(spec, {
      reporters: [],
      cacheDir: ws.dir,
      backend: { name: 'wasm', source: 'test', gpu: false },
    });

    const data = await loadDataset(spec);
    const reader = new ExampleReader(spec, preprocessingOf(spec), () => undefined);
    const train = (await reader.read(data.train))!;
    const validation = (await reader.read(data.validation))!;
    assert.equal(train.ys.shape[0], 250);
    const transfer = accuracy(
      await tf.loadLayersModel(fileSystemModel(join(outcome.outputPath, 'model.json'))),
      validation.xs,
      validation.ys,
    );

    // The same architecture from random weights, the same labels and epoch budget,
    // a fixed example order; two initialisations, and transfer must beat each.
    const epochs = STAGES.reduce((sum, s) => sum + s.epochs, 0);
    for (const seed of [7, 8]) {
      const scratch = smallCnn(5, seed);
      scratch.compile({ optimizer: tf.train.adam(3e-3), loss: 'sparseCategoricalCrossentropy' });
      await scratch.fit(train.xs, train.ys, { epochs, batchSize: 32, shuffle: false, verbose: 0 });
      const fromScratch = accuracy(scratch, validation.xs, validation.ys);
      t.diagnostic(
        `validation accuracy: transfer ${transfer.toFixed(3)}, from scratch (seed ${seed}) ${fromScratch.toFixed(3)}`,
      );
      assert.ok(transfer > fromScratch, `transfer ${transfer} did not beat scratch ${fromScratch} (seed ${seed})`);
    }
  });
});
