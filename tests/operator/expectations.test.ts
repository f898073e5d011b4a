import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CreateExpectations } from '../../src/operator/controller/expectations.ts';

describe('create expectations', () => {
  it('an owner waits until its cache sees the object it created, another object does not count, and a timeout ends the wait', async () => {
    const expectations = new CreateExpectations(50);
    assert.equal(expectations.pending('team/flowers'), false);
    expectations.expect('team/flowers', 'flowers-trainer-2');
    assert.equal(expectations.pending('team/flowers'), true);
    expectations.observed('team/flowers', 'flowers-trainer-1');
    assert.equal(expectations.pending('team/flowers'), true, 'an older pod is not the one created');
    expectations.observed('team/flowers', 'flowers-trainer-2');
    assert.equal(expectations.pending('team/flowers'), false);

    expectations.expect('team/birds', 'birds-trainer-1');
    expectations.forget('team/birds');
    assert.equal(expectations.pending('team/birds'), false, 'a failed create is not waited for');
    expectations.expect('team/birds', 'birds-trainer-1');
    await new Promise((resolve) => setTimeout(resolve, 80));
    assert.equal(expectations.pending('team/birds'), false, 'a create the cache never shows stops holding the owner');
  });
});
