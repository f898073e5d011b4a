import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FINE_TUNE_LEARNING_RATE, HEAD_LEARNING_RATE, validateFineTuneJobSpec } from '../../src/api/v1alpha1/index.ts';
import { minimalSpec, validSpec } from './spec-fixtures.ts';

describe('FineTuneJob spec defaults follow docs/recipe.md', () => {
  it('gives a minimal spec the two recipe stages: frozen head at 1e-3, then full fine-tune at 1e-4, BN by batch size', () => {
    const spec = validSpec(minimalSpec());
    assert.deepEqual(
      spec.stages.map((s) => [s.name, s.unfreeze.policy, s.optimizer.learningRate, s.batchNormalization]),
      [
        ['head', 'None', HEAD_LEARNING_RATE, 'Auto'],
        ['fine-tune', 'All', 1e-4, 'Auto'],
      ],
    );
  });

  it('defaults the head to Dropout 0.2 without hidden layers or L2, trained with label smoothing 0.1', () => {
    assert.deepEqual(validSpec(minimalSpec()).head, { dropout: 0.2, hiddenUnits: [], l2: 0, labelSmoothing: 0.1 });
  });

  it('defaults early stopping to val_loss, min delta 0, restoring the best weights; epochs and patience are left to the step plan', () => {
    const [stage] = validSpec(minimalSpec()).stages;
    assert.deepEqual(stage!.earlyStopping, {
      enabled: true,
      monitor: 'val_loss',
      minDelta: 0,
      restoreBestWeights: true,
    });
    assert.equal(stage!.epochs, undefined);
  });

  it("derives a stage's learning rate from its unfreeze policy when the rate is omitted", () => {
    const spec = validSpec({
      ...minimalSpec(),
      stages: [{ name: 'head' }, { name: 'top', unfreeze: { policy: 'TopLayers', layers: 4 } }],
    });
    assert.equal(spec.stages[0]!.optimizer.learningRate, HEAD_LEARNING_RATE);
    assert.equal(spec.stages[1]!.optimizer.learningRate, FINE_TUNE_LEARNING_RATE);
  });

  it('keeps an explicit learning rate', () => {
    const spec = validSpec({ ...minimalSpec(), stages: [{ name: 'head', optimizer: { learningRate: 3e-4 } }] });
    assert.equal(spec.stages[0]!.optimizer.learningRate, 3e-4);
  });

  it('defaults the runtime like a Job: one GPU, backoffLimit 3, not suspended, exit codes 2 and 5 fail at once', () => {
    const spec = validSpec(minimalSpec());
    assert.equal(spec.resources.gpus, 1);
    assert.equal(spec.backoffLimit, 3);
    assert.equal(spec.suspend, false);
    assert.deepEqual(spec.retryPolicy.rules, [{ action: 'FailJob', onExitCodes: { operator: 'In', values: [2, 5] } }]);
  });

  it("does not change the input object (the operator never rewrites a user's spec)", () => {
    const input = minimalSpec();
    const before = structuredClone(input);
    validateFineTuneJobSpec(input);
    assert.deepEqual(input, before);
  });
});
