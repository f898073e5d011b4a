import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { TrainerExitCode } from '../../src/api/v1alpha1/index.ts';
import { exitCodeFor, PermanentError } from '../../src/trainer/errors.ts';
import { InterruptedError } from '../../src/trainer/interruption.ts';

describe('trainer exit codes', () => {
  it('tells invalid input, bugs, interruptions and transient failures apart', async () => {
    assert.equal(exitCodeFor(new PermanentError('spec.model: cannot read')), TrainerExitCode.Permanent);
    assert.equal(exitCodeFor(new InterruptedError('SIGTERM')), TrainerExitCode.Interrupted);
    // A programming error repeats on every retry: not transient.
    const bug = (() => {
      try {
        (undefined as unknown as { f(): void }).f();
      } catch (err) {
        return err;
      }
    })();
    assert.equal(exitCodeFor(bug), TrainerExitCode.InternalError);
    assert.equal(exitCodeFor(new ReferenceError('x is not defined')), TrainerExitCode.InternalError);
    // tfjs refusing to build a model repeats too (it once did so for a warm-started base, retried four times).
    const modelError = (() => {
      const input = tf.input({ shape: [2] });
      const layer = tf.layers.dense({ units: 1, name: 'same' });
      try {
        tf.model({
          inputs: input,
          outputs: tf.layers.dense({ units: 1, name: 'same' }).apply(layer.apply(input)) as tf.SymbolicTensor,
        });
      } catch (err) {
        return err;
      }
      return undefined;
    })();
    assert.equal((modelError as Error).constructor.name, 'RuntimeError');
    assert.equal(exitCodeFor(modelError), TrainerExitCode.InternalError);
    // fetch() reports a network failure as a TypeError: that one may pass on retry.
    const network = await fetch('http://127.0.0.1:1/').then(
      () => undefined,
      (err: unknown) => err,
    );
    assert.ok(network instanceof TypeError);
    assert.equal(exitCodeFor(network), TrainerExitCode.Transient);
    assert.equal(
      exitCodeFor(Object.assign(new Error('ECONNRESET'), { code: 'ECONNRESET' })),
      TrainerExitCode.Transient,
    );
  });
});
