import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { CoordinationV1Api } from '@kubernetes/client-node';
import { eventually, installCRDs, kubeConfig, testNamespace } from '../support/cluster.ts';
import { jobs, startOperator } from './support/operator-harness.ts';

const scrape = async (port: number) => (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
const value = (metrics: string, series: string) =>
  Number(
    metrics
      .split('\n')
      .find((l) => l.startsWith(`${series} `))
      ?.split(' ')[1] ?? NaN,
  );

describe('operator: restarts, leader election, metrics', () => {
  before(installCRDs);

  it('a restarted operator adopts the running pod: no duplicate, history intact', async (t) => {
    const ns = await testNamespace(t, 'op-restart');
    const first = startOperator(t, ns);
    const api = jobs(ns);
    await api.create('survivor');
    const [pod] = await api.waitForPods('survivor', 1);
    await api.setPod(pod!, 'Running');
    await api.waitFor('survivor', (j) => j.status?.phase === 'Running', 'Running');
    await first.stop();

    const second = startOperator(t, ns);
    // Evidence, not a sleep: the new operator has reconciled the job (its cache holds the pod) before we look.
    await eventually(() => second.address !== undefined, 'the metrics server');
    const reconciled = 'controller_runtime_reconcile_total{controller="finetunejob",result="success"}';
    await eventually(
      async () => value(await scrape(second.address!.port), reconciled) >= 1,
      'the new operator to reconcile the job',
    );
    const pods = await api.pods('survivor');
    assert.deepEqual(
      pods.map((p) => p.metadata!.name),
      ['survivor-trainer-1'],
    );
    const job = await api.get('survivor');
    assert.deepEqual([job!.status!.phase, job!.status!.attempts], ['Running', 1]);
    // And it goes on driving the adopted pod.
    await api.setPod(pods[0]!, 'Succeeded', 0);
    const done = await api.waitFor(
      'survivor',
      (j) => j.status?.phase === 'Succeeded',
      'Succeeded under the new operator',
    );
    assert.equal(done.status!.attempts, 1);
    assert.deepEqual(
      (await api.pods('survivor')).map((p) => p.metadata!.name),
      ['survivor-trainer-1'],
    );
  });

  it('two replicas elect one leader; when it stops, the other takes over and reconciles', async (t) => {
    const ns = await testNamespace(t, 'op-leader');
    const election = (identity: string) => ({
      namespace: ns,
      name: 'finetune-operator',
      identity,
      leaseDurationSeconds: 3,
      renewDeadlineSeconds: 2,
      retryPeriodSeconds: 0.5,
    });
    const a = startOperator(t, ns, election('replica-a'));
    await eventually(() => a.isLeader, 'replica a to lead', 10_000);
    const b = startOperator(t, ns, election('replica-b'));
    await new Promise((r) => setTimeout(r, 1500));
    assert.deepEqual([a.isLeader, b.isLeader], [true, false]);

    await a.stop();
    await eventually(() => b.isLeader, 'replica b to take over', 10_000);
    const lease = await kubeConfig()
      .makeApiClient(CoordinationV1Api)
      .readNamespacedLease({ name: 'finetune-operator', namespace: ns });
    assert.equal(lease.spec!.holderIdentity, 'replica-b');
    const api = jobs(ns);
    await api.create('after-failover');
    await api.waitForPods('after-failover', 1);
  });

  it("exports controller-runtime and domain metrics that move with the lifecycle; a deleted job's series disappears", async (t) => {
    const ns = await testNamespace(t, 'op-metrics');
    const manager = startOperator(t, ns);
    const api = jobs(ns);
    await eventually(() => manager.address !== undefined, 'the metrics server');
    const port = manager.address!.port;
    const before = await scrape(port);
    await api.create('measured');
    const [pod] = await api.waitForPods('measured', 1);
    await api.setPod(pod!, 'Succeeded', 0);
    await api.waitFor('measured', (j) => j.status?.phase === 'Succeeded', 'Succeeded');

    await eventually(
      async () =>
        (await scrape(port)).includes(
          `finetune_job_info{namespace="${ns}",name="measured",phase="Succeeded",stage=""} 1`,
        ),
      'finetune_job_info for the job',
    );
    const after = await scrape(port);
    const success = 'controller_runtime_reconcile_total{controller="finetunejob",result="success"}';
    assert.ok(value(after, success) > (value(before, success) || 0), 'reconciles counted');
    assert.ok(value(after, 'workqueue_adds_total{controller="finetunejob",name="finetunejob"}') >= 3);
    assert.ok(value(after, 'rest_client_requests_total{method="POST",code="201"}') >= 1, 'the pod creation counted');
    assert.equal(value(after, `finetune_jobs{namespace="${ns}",phase="Succeeded"}`), 1);
    assert.equal(value(after, 'finetune_job_duration_seconds_count{result="Succeeded"}'), 1);
    assert.match(after, /^process_cpu_seconds_total /m);
    assert.match(after, /^controller_runtime_reconcile_time_seconds_bucket\{/m);

    await api.delete('measured');
    await eventually(
      async () => !(await scrape(port)).includes('name="measured"'),
      "the deleted job's series to disappear",
    );
  });
});
