import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { ExampleReader } from '../../src/trainer/data/batches.ts';
import { loadDataset } from '../../src/trainer/data/load-dataset.ts';
import { preprocessingOf } from '../../src/trainer/data/preprocessing.ts';
import { fileSystemModel } from '../../src/trainer/model/file-io-handler.ts';
import { runStagedTraining } from '../../src/trainer/staged-training.ts';
import { smallCnn } from './support/base-model.ts';
import { specFor, useWasm, workspace } from './support/workspace.ts';

const accuracy = (model: tf.LayersModel, xs: tf.Tensor, ys: tf.Tensor1D) => tf.tidy(() =>
  (model.predict(xs) as tf.Tensor).argMax(1).equal(ys.cast('int32')).mean().dataSync()[0]!);

describe('transfer learning on Fashion-MNIST', () => {
  before(useWasm);

  it('a base pretrained on classes 0-4, fine-tuned on 300 labels of classes 5-9, beats the same network trained from scratch', async (t) => {
    const ws = await workspace(t, 100);
    const spec = specFor(ws, {
      dataset: { ...specFor(ws).dataset, validation: { split: 0.4 } },
      stages: [
        { name: 'head', epochs: 12, optimizer: { learningRate: 1e-2 }, earlyStopping: { enabled: false } },
        { name: 'fine-tune', epochs: 4, unfreeze: { policy: 'All' }, optimizer: { learningRate: 1e-4 }, earlyStopping: { enabled: false } },
      ],
    });
    const outcome = await runStagedTraining(spec, { reporters: [], cacheDir: ws.dir, backend: { name: 'wasm', source: 'test', gpu: false } });

    const data = await loadDataset(spec);
    const reader = new ExampleReader(spec, preprocessingOf(spec), () => undefined);
    const train = (await reader.read(data.train))!;
    const validation = (await reader.read(data.validation))!;
    assert.equal(train.ys.shape[0], 300);

    const transfer = await tf.loadLayersModel(fileSystemModel(join(outcome.outputPath, 'model.json')));
    const scratch = smallCnn(5, 7);
    scratch.compile({ optimizer: tf.train.adam(3e-3), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
    await scratch.fit(train.xs, train.ys, { epochs: 16, batchSize: 32, verbose: 0 });

    const transferAccuracy = accuracy(transfer, validation.xs, validation.ys);
    const scratchAccuracy = accuracy(scratch, validation.xs, validation.ys);
    t.diagnostic(`validation accuracy: transfer ${transferAccuracy.toFixed(3)}, from scratch ${scratchAccuracy.toFixed(3)}`);
    assert.ok(transferAccuracy > scratchAccuracy, `transfer ${transferAccuracy} did not beat scratch ${scratchAccuracy}`);
  });
});
