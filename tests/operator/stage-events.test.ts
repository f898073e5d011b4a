import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { FineTuneJobStatus } from '../../src/api/v1alpha1/index.ts';
import { stageEvents } from '../../src/operator/reconcile/stage-events.ts';

const running = { name: 'head', state: 'Running', startTime: '2026-11-30T10:00:00Z', epochsRun: 0 } as const;
const status = (stages: NonNullable<FineTuneJobStatus['stages']>, attempts = 1): FineTuneJobStatus => ({
  conditions: [],
  stages,
  attempts,
});

describe('stage events', () => {
  it("records a stage's start once, not on every epoch it reports", () => {
    assert.deepEqual(stageEvents(status([]), status([running])), [
      { type: 'Normal', reason: 'StageStarted', message: 'stage head started (attempt 1)' },
    ]);
    assert.deepEqual(stageEvents(status([running]), status([{ ...running, epochsRun: 3 }])), []);
  });

  it("records a stage's end with its epochs, why it ended and its best metric, rounded", () => {
    const done = {
      ...running,
      state: 'Succeeded',
      epochsRun: 12,
      endReason: 'EarlyStopped',
      monitor: 'val_loss',
      bestValue: 0.412345678,
      bestEpoch: 9,
    } as const;
    assert.deepEqual(
      stageEvents(status([running]), status([done])).map((e) => e.message),
      ['stage head ended: 12 epochs (EarlyStopped), best val_loss 0.4123 at epoch 9'],
    );
    assert.deepEqual(stageEvents(status([done]), status([done])), [], 'nothing new, no event');
  });

  it('records a stage started again by a later attempt, and a failed stage as a warning', () => {
    const again = { ...running, startTime: '2026-11-30T11:00:00Z' };
    assert.deepEqual(
      stageEvents(status([running]), status([again], 2)).map((e) => e.message),
      ['stage head started (attempt 2)'],
    );
    const failed = { ...running, state: 'Failed', message: 'out of memory' } as const;
    assert.deepEqual(stageEvents(status([running]), status([failed])), [
      { type: 'Warning', reason: 'StageFailed', message: 'stage head failed (attempt 1): out of memory' },
    ]);
  });

  it("records the selected recipe trial once, with the others' figures", () => {
    const trial = { settings: 'learningRate 0.0001', state: 'Done', epochs: 5 } as const;
    const trials = [
      { ...trial, name: 'head-only', settings: 'head only', valLoss: 0.7, valAccuracy: 0.6 },
      { ...trial, name: 'fast', valLoss: 0.5, valAccuracy: 0.8 },
    ];
    const decided = [trials[0]!, { ...trials[1]!, selected: true }];
    assert.deepEqual(stageEvents({ ...status([]), trials }, { ...status([]), trials }), [], 'not decided yet');
    assert.deepEqual(stageEvents({ ...status([]), trials }, { ...status([]), trials: decided }), [
      {
        type: 'Normal',
        reason: 'TrialSelected',
        message:
          'trial fast (learningRate 0.0001) selected: val_loss 0.5, val_acc 0.8; others: head-only val_loss 0.7, val_acc 0.6',
      },
    ]);
    assert.deepEqual(stageEvents({ ...status([]), trials: decided }, { ...status([]), trials: decided }), [], 'once');
  });
});
