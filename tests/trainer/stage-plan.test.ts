import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { validateFineTuneJobSpec } from '../../src/api/v1alpha1/index.ts';
import { planStages } from '../../src/trainer/stages/stage-plan.ts';
import { minimalSpec } from '../api/spec-fixtures.ts';

const stagesOf = (stages?: unknown[]) => {
  const result = validateFineTuneJobSpec({ ...minimalSpec(), ...(stages ? { stages } : {}) });
  assert.ok(result.valid);
  return result.spec.stages;
};
const summary = (stepsPerEpoch: number, stages?: unknown[]) =>
  planStages(stagesOf(stages), stepsPerEpoch, { batchSize: 32, model: { format: 'Layers' } }).map((s) => [
    s.name,
    s.epochs,
    s.earlyStopping.patience,
  ]);

describe('stage plan: defaults budgeted in optimizer steps', () => {
  it('gives a small dataset enough steps: 1,000 for the head, 4,000 unfrozen; patience ~100 steps frozen, ~400 unfrozen', () => {
    // 400 training examples in batches of 32: 13 steps per epoch (the unfrozen stage at the 300-epoch cap).
    assert.deepEqual(summary(13), [
      ['head', 77, 8],
      ['fine-tune', 300, 30],
    ]);
    // 2,000 examples: 63 steps per epoch.
    assert.deepEqual(summary(63), [
      ['head', 16, 3],
      ['fine-tune', 64, 7],
    ]);
  });

  it('gives a large dataset 10 epochs and a patience of 3, and a tiny one at most 300 epochs and a patience of 20 (30 unfrozen)', () => {
    assert.deepEqual(summary(3125), [
      ['head', 10, 3],
      ['fine-tune', 10, 3],
    ]);
    assert.deepEqual(summary(1), [
      ['head', 300, 20],
      ['fine-tune', 300, 30],
    ]);
  });

  it('keeps what the spec sets, and leaves an epoch after a warm-up', () => {
    assert.deepEqual(
      summary(3125, [
        { name: 'head', epochs: 4, earlyStopping: { patience: 1 } },
        { name: 'tune', unfreeze: { policy: 'All' }, optimizer: { warmupEpochs: 12 } },
      ]),
      [
        ['head', 4, 1],
        ['tune', 13, 3],
      ],
    );
  });

  it('trains BatchNormalization in unfrozen stages of a layers model by default from batches of 16 up, and keeps it frozen below, in a graph, or when set', () => {
    const stages = stagesOf([
      { name: 'head' },
      { name: 'top', unfreeze: { policy: 'TopLayers', layers: 2 } },
      { name: 'all', unfreeze: { policy: 'All' }, batchNormalization: 'Frozen' },
      { name: 'last', unfreeze: { policy: 'All' }, batchNormalization: 'Train' },
    ]);
    const modes = (batchSize: number, format: 'Layers' | 'Graph' = 'Layers') =>
      planStages(stages, 10, { batchSize, model: { format } }).map((s) => s.batchNormalization);
    assert.deepEqual(modes(16), ['Frozen', 'Train', 'Frozen', 'Train']);
    assert.deepEqual(modes(15), ['Frozen', 'Frozen', 'Frozen', 'Train']);
    // A graph's batch norm runs in inference mode: Auto leaves its scale and offset frozen too.
    assert.deepEqual(modes(64, 'Graph'), ['Frozen', 'Frozen', 'Frozen', 'Train']);
  });
});
