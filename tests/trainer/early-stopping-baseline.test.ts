import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { fileSystemModel } from '../../src/trainer/model/file-io-handler.ts';
import { runStagedTraining } from '../../src/trainer/staged-training.ts';
import { pretrainedBase, specFor, useWasm, workspace } from './support/workspace.ts';

const BACKEND = { name: 'wasm', source: 'test', gpu: false };

/** Weights by name: their order in getWeights() follows trainable flags, which differ after an unfrozen stage. */
async function weightsOf(dir: string): Promise<Map<string, Float32Array>> {
  const model = await tf.loadLayersModel(fileSystemModel(join(dir, 'model.json')));
  const weights = new Map(model.weights.map((w) => [w.originalName, w.read().dataSync() as Float32Array]));
  model.dispose();
  return weights;
}

describe('early stopping measures every stage against its starting point', () => {
  before(async () => {
    await useWasm();
    await pretrainedBase();
  });

  it('a stage that only makes the model worse ends with the weights it started from (best epoch 0)', async (t) => {
    const ws = await workspace(t, 20);
    const head = { name: 'head', epochs: 3 };
    const headOnly = await runStagedTraining(
      specFor(ws, { output: { uri: `file://${join(ws.dir, 'head-only')}` }, stages: [head] }),
      { reporters: [], cacheDir: join(ws.dir, 'a'), backend: BACKEND },
    );
    // A rate no pretrained base survives: every epoch is worse than the start.
    const wrecked = await runStagedTraining(
      specFor(ws, {
        output: { uri: `file://${join(ws.dir, 'wrecked')}` },
        stages: [
          head,
          {
            name: 'wreck',
            epochs: 2,
            unfreeze: { policy: 'All' },
            optimizer: { type: 'SGD', learningRate: 1, allowHighLearningRate: true },
          },
        ],
      }),
      { reporters: [], cacheDir: join(ws.dir, 'b'), backend: BACKEND },
    );
    assert.equal(wrecked.stages[1]!.bestEpoch, 0, 'no epoch beat the start');
    assert.equal(wrecked.stages[1]!.bestValue, headOnly.stages[0]!.bestValue, "the start is the head stage's result");
    const [before_, after] = [await weightsOf(headOnly.outputPath), await weightsOf(wrecked.outputPath)];
    assert.deepEqual([...after.keys()].sort(), [...before_.keys()].sort());
    for (const [name, values] of before_)
      assert.ok(
        values.every((v, j) => v === after.get(name)![j]),
        `${name} is the head stage's`,
      );
  });
});
