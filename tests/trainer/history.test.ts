import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_HISTORY_POINTS, type StageHistory } from '../../src/api/v1alpha1/index.ts';
import { withEpoch } from '../../src/trainer/report/history.ts';
import type { EpochEnd } from '../../src/trainer/report/reporter.ts';

const epoch = (stage: string, n: number, loss: number, valAccuracy?: number): EpochEnd => ({
  stage,
  epoch: n,
  epochs: 1000,
  metrics: { loss, val_loss: loss + 0.1, acc: 0.5, ...(valAccuracy === undefined ? {} : { val_acc: valAccuracy }) },
  samplesPerSecond: 100,
  percent: 0,
  eta: new Date(),
});

describe('the per-epoch history in the status (curves)', () => {
  it("keeps each stage's points; an epoch repeated after a resume replaces its point and the ones after it", () => {
    let history: StageHistory[] = [];
    for (const [n, loss] of [
      [1, 2],
      [2, 1.5],
      [3, 1.2],
    ] as const)
      history = withEpoch(history, epoch('head', n, loss, 0.5));
    history = withEpoch(history, epoch('fine-tune', 1, 1.0));
    assert.deepEqual(
      history.find((h) => h.stage === 'head'),
      {
        stage: 'head',
        epoch: [1, 2, 3],
        loss: [2, 1.5, 1.2],
        valLoss: [2.1, 1.6, 1.3],
        accuracy: [0.5, 0.5, 0.5],
        valAccuracy: [0.5, 0.5, 0.5],
      },
    );
    assert.deepEqual(
      history.find((h) => h.stage === 'fine-tune')!.valAccuracy,
      [null],
      'a metric an epoch lacks is null',
    );
    // Resumed at epoch 2: the attempt's epoch 2 replaces the old one, and the old epoch 3 goes.
    history = withEpoch(history, epoch('head', 2, 1.4, 0.6));
    assert.deepEqual(history.find((h) => h.stage === 'head')!.epoch, [1, 2]);
    assert.deepEqual(history.find((h) => h.stage === 'head')!.loss, [2, 1.4]);
  });

  it('stays bounded: a stage that fills up keeps every other point and its last', () => {
    let history: StageHistory[] = [];
    for (let n = 1; n <= 1000; n++) history = withEpoch(history, epoch('long', n, 1 / n));
    const [long] = history;
    assert.ok(long!.epoch.length <= MAX_HISTORY_POINTS, `${long!.epoch.length} points`);
    assert.ok(long!.epoch.length > MAX_HISTORY_POINTS / 4);
    assert.equal(long!.epoch[0], 1);
    assert.equal(long!.epoch.at(-1), 1000, 'the last epoch is always there');
    assert.equal(long!.loss!.length, long!.epoch.length);
    assert.ok(
      long!.epoch.every((e, i) => i === 0 || e > long!.epoch[i - 1]!),
      'in order',
    );
  });
});
