import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CoreV1Api } from '@kubernetes/client-node';
import { API_VERSION, FINETUNEJOB } from '../../src/api/v1alpha1/index.ts';
import { EventRecorder } from '../../src/operator/controller/event-recorder.ts';
import { kubeConfig, testNamespace } from '../support/cluster.ts';

describe('event recorder', () => {
  it('queues events and writes them in order, one at a time, past a failed write', async (t) => {
    const kc = kubeConfig();
    const namespace = await testNamespace(t, 'events');
    const codes: number[] = [];
    const recorder = new EventRecorder(
      kc,
      'test-instance',
      (code) => codes.push(code),
      () => undefined,
    );
    const job = { name: 'job-a', namespace, uid: '00000000-0000-0000-0000-000000000001' };
    for (let i = 0; i < 10; i++) recorder.record(job, { type: 'Normal', reason: 'Step', message: `step ${i}` });
    recorder.record(
      { name: 'job-b', namespace: `${namespace}-missing` },
      { type: 'Warning', reason: 'Lost', message: 'no such namespace' },
    );
    for (let i = 10; i < 20; i++) recorder.record(job, { type: 'Normal', reason: 'Step', message: `step ${i}` });
    assert.equal(codes.length, 0, 'record() only queues; nothing is written before it returns');
    await recorder.flush();

    assert.deepEqual(codes, [...Array(10).fill(201), 404, ...Array(10).fill(201)]);
    const events = (await kc.makeApiClient(CoreV1Api).listNamespacedEvent({ namespace })).items
      .filter((e) => e.reason === 'Step')
      .sort((a, b) => Number(a.metadata!.resourceVersion) - Number(b.metadata!.resourceVersion));
    // Stored in the order they were recorded: a second writer in flight would interleave them.
    assert.deepEqual(
      events.map((e) => e.message),
      Array.from({ length: 20 }, (_, i) => `step ${i}`),
    );
    const { apiVersion, kind, name, uid } = events[0]!.involvedObject;
    assert.deepEqual(
      { apiVersion, kind, name, uid },
      { apiVersion: API_VERSION, kind: FINETUNEJOB.kind, name: 'job-a', uid: job.uid },
    );
    assert.equal(events[0]!.reportingInstance, 'test-instance');
    // Ordered by time as kubectl orders them, events of the same second keep their order: microseconds.
    const byTime = [...events].sort(
      (a, b) =>
        new Date(a.eventTime!).getTime() - new Date(b.eventTime!).getTime() ||
        Number(a.metadata!.resourceVersion) - Number(b.metadata!.resourceVersion),
    );
    assert.match(String(events[0]!.eventTime), /\.\d{6}Z$/, 'eventTime keeps microseconds');
    assert.ok(new Set(events.map((e) => String(e.eventTime))).size > 1, 'the events do not all share one time');
    assert.deepEqual(
      byTime.map((e) => e.message),
      events.map((e) => e.message),
    );
  });

  it('aggregates a repeated event into one, with its count and last time, as client-go does', async (t) => {
    const kc = kubeConfig();
    const core = kc.makeApiClient(CoreV1Api);
    const namespace = await testNamespace(t, 'events');
    const codes: number[] = [];
    const recorder = new EventRecorder(
      kc,
      'test-instance',
      (code) => codes.push(code),
      () => undefined,
    );
    const job = { name: 'retrying', namespace, uid: '00000000-0000-0000-0000-000000000002' };
    const refused = { type: 'Warning', reason: 'FailedCreatePod', message: 'serviceaccount "x" not found' } as const;
    for (let i = 0; i < 5; i++) recorder.record(job, refused);
    recorder.record(job, { ...refused, message: 'another message' });
    await recorder.flush();
    assert.deepEqual(codes, [201, 200, 200, 200, 200, 201]);
    const stored = async () =>
      (await core.listNamespacedEvent({ namespace })).items.filter((e) => e.reason === 'FailedCreatePod');
    const events = await stored();
    const count = (e: (typeof events)[number]) => e.series?.count ?? 1;
    assert.deepEqual(events.map((e) => [e.message, count(e)]).sort(), [
      ['another message', 1],
      ['serviceaccount "x" not found', 5],
    ]);
    const repeated = events.find((e) => count(e) === 5)!;
    assert.ok(new Date(repeated.series!.lastObservedTime!).getTime() >= new Date(repeated.eventTime!).getTime());

    // Once the stored event is gone (expired after an hour), a repeat is written anew.
    await core.deleteNamespacedEvent({ name: repeated.metadata!.name!, namespace });
    codes.length = 0;
    recorder.record(job, refused);
    await recorder.flush();
    assert.deepEqual(codes, [404, 201]);
    assert.deepEqual((await stored()).map((e) => e.series?.count ?? 1).sort(), [1, 1]);
  });
});
