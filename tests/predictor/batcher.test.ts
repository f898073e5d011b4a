// The dynamic batcher on its own, with a model call the test controls: when a batch runs, and what is in it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DynamicBatcher, QueueFullError } from '../../src/predictor/batcher.ts';

/** A batcher whose model calls wait until the test releases them; each call's size is recorded. */
function controlled(maxWaitMs: number, maxBatchesInFlight?: number) {
  const calls: { size: number; release: () => void }[] = [];
  const batcher = new DynamicBatcher({
    maxBatchSize: 4,
    maxWaitMs,
    maxQueue: 6,
    maxBatchesInFlight,
    run: (pixels, ready) =>
      new Promise((resolve) =>
        calls.push({ size: pixels.length + ready.length, release: () => resolve([...pixels, ...ready]) }),
      ),
  });
  return { batcher, calls };
}
const example = (value: number) => [Float32Array.of(value)];
const tick = () => new Promise((resolve) => setImmediate(resolve));
/** Lets the batcher run until it has made `count` model calls. */
async function callsMade(calls: unknown[], count: number): Promise<void> {
  for (let i = 0; i < 1000 && calls.length < count; i++) await new Promise((resolve) => setTimeout(resolve, 1));
  assert.equal(calls.length, count);
}

describe('the dynamic batcher', () => {
  it('runs a lone request at once when the model is free (maxWaitMs 0), and batches what queues while it is busy', async () => {
    const { batcher, calls } = controlled(0);
    const first = batcher.submit(example(1), []);
    await tick();
    assert.deepEqual(
      calls.map((c) => c.size),
      [1],
      'no wait for company when the model is free',
    );
    const queued = [2, 3, 4, 5, 6].map((v) => batcher.submit(example(v), []));
    await tick();
    assert.equal(calls.length, 1, 'one batch at a time');
    calls[0]!.release();
    assert.deepEqual(await first, example(1));
    await tick();
    assert.deepEqual(
      calls.map((c) => c.size),
      [1, 4],
      'what queued meanwhile runs together, up to maxBatchSize',
    );
    calls[1]!.release();
    await callsMade(calls, 3);
    calls[2]!.release();
    assert.deepEqual(
      (await Promise.all(queued)).map((rows) => rows[0]![0]),
      [2, 3, 4, 5, 6],
      'each request gets its own rows',
    );
  });

  it('with maxWaitMs, a lone request waits for company; a full queue refuses', async () => {
    const { batcher, calls } = controlled(50);
    const waiting = [batcher.submit(example(1), []), batcher.submit(example(2), [])];
    await tick();
    assert.equal(calls.length, 0, 'waiting for company');
    await new Promise((resolve) => setTimeout(resolve, 80));
    assert.deepEqual(
      calls.map((c) => c.size),
      [2],
    );
    calls[0]!.release();
    await Promise.all(waiting);
    const full = [1, 2, 3, 4].map((v) => batcher.submit(example(v), []));
    await callsMade(calls, 2); // a full batch does not wait
    const held = [5, 6, 7, 8, 9, 10].map((v) => batcher.submit(example(v), []));
    await assert.rejects(batcher.submit(example(11), []), QueueFullError, 'six examples wait: the queue is full');
    calls[1]!.release();
    await callsMade(calls, 3);
    assert.equal(calls[2]!.size, 4);
    calls[2]!.release();
    await callsMade(calls, 4);
    calls[3]!.release();
    await Promise.all(full);
    await Promise.all(held);
  });

  it('with maxBatchesInFlight 2, hands the model the next batch while one runs, and no third; drains them all', async () => {
    const { batcher, calls } = controlled(0, 2);
    const requests = [1, 2, 3, 4, 5, 6].map((v) => batcher.submit(example(v), []));
    await callsMade(calls, 2);
    assert.deepEqual(
      calls.map((c) => c.size),
      [4, 2],
      'the second batch goes to the model while the first runs',
    );
    const more = [7, 8].map((v) => batcher.submit(example(v), []));
    await tick();
    assert.equal(calls.length, 2, 'no third batch while two are with the model');
    const drained = batcher.drain();
    calls[1]!.release();
    await callsMade(calls, 3);
    assert.equal(calls[2]!.size, 2, 'one answered: the next goes');
    calls[0]!.release();
    calls[2]!.release();
    await drained;
    assert.deepEqual(
      (await Promise.all([...requests, ...more])).map((rows) => rows[0]![0]),
      [1, 2, 3, 4, 5, 6, 7, 8],
    );
  });
});
