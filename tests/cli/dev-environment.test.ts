import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { FineTuneJobStatus } from '../../src/api/v1alpha1/index.ts';
import { allFinished, type Watched } from '../../src/local/cli/dev-environment.ts';

const phase = (value: FineTuneJobStatus['phase']): FineTuneJobStatus => ({ phase: value, conditions: [] });
const job = (fields: Partial<Watched>): Watched => ({ name: 'j', isRun: false, gone: false, status: undefined, ...fields });

describe('ftj dev --exit-when-done: when the jobs it follows are finished', () => {
  it('waits for a schedule run that exists but has no status yet (the operator has not seen it)', () => {
    assert.equal(allFinished([job({ isRun: true })]), false);
  });

  it('counts a run pruned by its schedule\'s history limit as done, but not a deleted job the user applied', () => {
    assert.equal(allFinished([job({ isRun: true, gone: true })]), true);
    assert.equal(allFinished([job({ gone: true })]), false);
  });

  it('is done once every job has Succeeded or Failed', () => {
    assert.equal(allFinished([job({ status: phase('Succeeded') }), job({ isRun: true, status: phase('Failed') })]), true);
    assert.equal(allFinished([job({ status: phase('Succeeded') }), job({ status: phase('Running') })]), false);
  });
});
