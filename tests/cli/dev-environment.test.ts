import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { FineTuneJobStatus } from '../../src/api/v1alpha1/index.ts';
import { allFinished, progressLine, type Watched } from '../../src/local/cli/dev-environment.ts';

const phase = (value: FineTuneJobStatus['phase']): FineTuneJobStatus => ({ phase: value, conditions: [] });
const job = (fields: Partial<Watched>): Watched => ({
  name: 'j',
  isRun: false,
  gone: false,
  status: undefined,
  ...fields,
});

describe('ftj dev --exit-when-done: when the jobs it follows are finished', () => {
  it('waits for a schedule run that exists but has no status yet (the operator has not seen it)', () => {
    assert.equal(allFinished([job({ isRun: true })]), false);
  });

  it("counts a run pruned by its schedule's history limit as done, but not a deleted job the user applied", () => {
    assert.equal(allFinished([job({ isRun: true, gone: true })]), true);
    assert.equal(allFinished([job({ gone: true })]), false);
  });

  it('is done once every job has Succeeded or Failed', () => {
    assert.equal(
      allFinished([job({ status: phase('Succeeded') }), job({ isRun: true, status: phase('Failed') })]),
      true,
    );
    assert.equal(allFinished([job({ status: phase('Succeeded') }), job({ status: phase('Running') })]), false);
  });
});

describe('ftj dev: the line it prints for a job', () => {
  it("says a run pruned by its schedule's history limit was deleted, not that it is Pending", () => {
    assert.equal(
      progressLine(job({ name: 'nightly-29001', isRun: true, gone: true })),
      "nightly-29001: deleted (a run pruned by its schedule's history limit)",
    );
    assert.equal(progressLine(job({ name: 'mine', gone: true })), 'mine: deleted');
  });

  it("shows phase, stage and the stage's own epoch", () => {
    const status: FineTuneJobStatus = {
      ...phase('Running'),
      stage: 'head',
      progress: { epoch: 3, totalEpochs: 40 },
      metrics: { epoch: 3, loss: 0.51234, valAccuracy: 0.8 },
    };
    assert.equal(progressLine(job({ status })), 'j: phase Running, stage head, epoch 3/40 loss 0.5123 val_acc 0.8000');
    assert.equal(progressLine(job({})), 'j: phase Pending');
  });
});
