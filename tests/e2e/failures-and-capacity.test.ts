import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { eventually, installCRDs } from '../support/cluster.ts';
import { alive } from '../support/processes.ts';
import { localCluster } from './support/local-cluster.ts';

/** Long enough to catch the trainer in its fine-tune stage (a few seconds on 2 cores). */
const SLOW_STAGES = [
  { name: 'head', epochs: 2 },
  { name: 'fine-tune', epochs: 30, unfreeze: { policy: 'All' }, earlyStopping: { enabled: false } },
];

/** Waits for the trainer's own log (written as it happens; status updates trail it) to show fine-tune epoch 2. */
const untilFineTune = (agent: { logs(ns: string, pod: string): string }, namespace: string, pod: string) =>
  eventually(
    () => /\[fine-tune\] epoch 2\//.test(agent.logs(namespace, pod)),
    `${pod} in its fine-tune stage`,
    120_000,
  );

describe('end to end: failures, capacity and lifecycle', () => {
  before(installCRDs);

  it("a killed trainer is retried and the new attempt resumes from the head stage's checkpoint", async (t) => {
    const { namespace, agent, api, spec } = await localCluster(t, { perClass: 80 });
    await api.create('resumable', spec('resumable', SLOW_STAGES));
    await untilFineTune(agent, namespace, 'resumable-trainer-1');
    process.kill(-agent.pidOf(namespace, 'resumable-trainer-1')!, 'SIGKILL');

    const job = await api.waitFor(
      'resumable',
      (j) => j.status?.phase === 'Succeeded' || j.status?.phase === 'Failed',
      'the job to finish',
      180_000,
    );
    const second = agent.logs(namespace, 'resumable-trainer-2');
    assert.equal(job.status!.phase, 'Succeeded', second);
    assert.deepEqual([job.status!.attempts, job.status!.failedAttempts], [2, 1]);
    assert.match(second, /resuming from checkpoint: stage "head" already completed, not run again/);
    assert.doesNotMatch(second, /stage 1\/2 "head"/, 'the head stage did not run again');
    assert.deepEqual(
      job.status!.stages!.map((s) => [s.name, s.state]),
      [
        ['head', 'Succeeded'],
        ['fine-tune', 'Succeeded'],
      ],
    );
  });

  it('three 1-GPU jobs on a 2-GPU node: two run, the third is Queued until a GPU frees up', async (t) => {
    const { api, spec } = await localCluster(t, { gpus: 2 });
    for (const name of ['gpu-a', 'gpu-b', 'gpu-c']) await api.create(name, spec(name, SLOW_STAGES));
    await eventually(
      async () => {
        const phases = await Promise.all(
          ['gpu-a', 'gpu-b', 'gpu-c'].map(async (n) => (await api.get(n))?.status?.phase),
        );
        return phases.filter((p) => p === 'Running').length === 2 && phases.includes('Queued');
      },
      'two Running and one Queued',
      120_000,
    );
    for (const name of ['gpu-a', 'gpu-b', 'gpu-c']) {
      await api.waitFor(name, (j) => j.status?.phase === 'Succeeded', `${name} to succeed`, 300_000);
    }
  });

  it('suspending a running job stops its pod (SIGTERM: the exact point saved); resuming continues from that point', async (t) => {
    const { namespace, agent, api, spec } = await localCluster(t, { perClass: 80 });
    await api.create('pausable', spec('pausable', SLOW_STAGES));
    await untilFineTune(agent, namespace, 'pausable-trainer-1');
    const pid = agent.pidOf(namespace, 'pausable-trainer-1')!;
    await api.setSuspend('pausable', true);
    await api.waitFor('pausable', (j) => j.status?.phase === 'Suspended', 'Suspended');
    await api.waitForPods('pausable', 0, 60_000);
    assert.equal(alive(pid), false, 'the trainer process is gone');
    // SIGTERM: the trainer finished its batch, saved that point and said so, in its log and in the status.
    assert.match(
      agent.logs(namespace, 'pausable-trainer-1'),
      /INTERRUPTED: interrupted \(SIGTERM\) in stage "fine-tune" after \d+ epochs and \d+ batches; saved there/,
    );
    const suspended = await api.waitFor(
      'pausable',
      (j) => j.status?.stages?.[1]?.state === 'Interrupted',
      'fine-tune Interrupted',
    );
    assert.match(suspended.status!.stages![1]!.message!, /SIGTERM.*the next attempt resumes there/);

    await api.setSuspend('pausable', false);
    const job = await api.waitFor(
      'pausable',
      (j) => j.status?.phase === 'Succeeded',
      'Succeeded after resuming',
      180_000,
    );
    assert.equal(job.status!.attempts, 2);
    assert.equal(job.status!.failedAttempts ?? 0, 0, 'a suspension is not a failure');
    assert.match(
      agent.logs(namespace, 'pausable-trainer-2'),
      /resuming from checkpoint: stage "head" already completed, not run again; stage "fine-tune" continues at epoch \d+, batch \d+, where the last attempt was stopped/,
    );
    assert.deepEqual(
      job.status!.stages!.map((s) => s.state),
      ['Succeeded', 'Succeeded'],
    );
  });

  it('deleting a running job removes its pod (garbage collector) and leaves no orphaned process', async (t) => {
    const { namespace, agent, api, spec } = await localCluster(t);
    await api.create('doomed', spec('doomed', SLOW_STAGES));
    await api.waitFor('doomed', (j) => j.status?.phase === 'Running', 'Running', 120_000);
    await eventually(() => agent.pidOf(namespace, 'doomed-trainer-1') !== undefined, 'the trainer process');
    const pid = agent.pidOf(namespace, 'doomed-trainer-1')!;
    await api.delete('doomed');
    await api.waitForPods('doomed', 0, 60_000);
    await eventually(() => !alive(pid), 'the trainer process to be gone', 30_000);
  });

  it('an operator restarted mid-run creates no duplicate pod, and the history stays intact', async (t) => {
    const { api, spec, operator } = await localCluster(t);
    await api.create('steady', spec('steady', SLOW_STAGES));
    await api.waitFor('steady', (j) => j.status?.stage === 'fine-tune', 'the fine-tune stage', 120_000);
    await operator.stop();
    const { startOperator } = await import('../operator/support/operator-harness.ts');
    const namespace = (await api.pods('steady'))[0]!.metadata!.namespace!;
    startOperator(t, namespace);
    const job = await api.waitFor('steady', (j) => j.status?.phase === 'Succeeded', 'Succeeded', 180_000);
    assert.deepEqual(
      (await api.pods('steady')).map((p) => p.metadata!.name),
      ['steady-trainer-1'],
    );
    assert.deepEqual(
      job.status!.stages!.map((s) => s.name),
      ['head', 'fine-tune'],
    );
  });
});
