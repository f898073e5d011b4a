import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TrainerExitCode } from '../../src/api/v1alpha1/index.ts';
import { exitCodeFor, PermanentError } from '../../src/trainer/errors.ts';
import { InterruptedError } from '../../src/trainer/interruption.ts';

describe('trainer exit codes', () => {
  it('tells invalid input, bugs, interruptions and transient failures apart', async () => {
    assert.equal(exitCodeFor(new PermanentError('spec.model: cannot read')), TrainerExitCode.Permanent);
    assert.equal(exitCodeFor(new InterruptedError('SIGTERM')), TrainerExitCode.Interrupted);
    // A programming error repeats on every retry: not transient.
    const bug = (() => { try { (undefined as unknown as { f(): void }).f(); } catch (err) { return err; } })();
    assert.equal(exitCodeFor(bug), TrainerExitCode.InternalError);
    assert.equal(exitCodeFor(new ReferenceError('x is not defined')), TrainerExitCode.InternalError);
    // fetch() reports a network failure as a TypeError: that one may pass on retry.
    const network = await fetch('http://127.0.0.1:1/').then(() => undefined, (err: unknown) => err);
    assert.ok(network instanceof TypeError);
    assert.equal(exitCodeFor(network), TrainerExitCode.Transient);
    assert.equal(exitCodeFor(Object.assign(new Error('ECONNRESET'), { code: 'ECONNRESET' })), TrainerExitCode.Transient);
  });
});
