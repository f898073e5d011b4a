import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { FINETUNEJOB, GROUP, VERSION } from '../../src/api/v1alpha1/index.ts';
import { jobStatusReporter } from '../../src/trainer/report/job-status-reporter.ts';
import { eventually, installCRDs, kubeConfig, kubectl } from '../support/cluster.ts';
import { condition, withOperator } from './support/operator-harness.ts';

describe('operator: FineTuneJob lifecycle on the real control plane', () => {
  before(installCRDs);

  it('creates the trainer pod, tracks stages the trainer reports, and succeeds', async (t) => {
    const { namespace: ns, api } = await withOperator(t, 'op-life');
    await api.create('flowers', { resources: { gpus: 1, cpu: '2', memory: '4Gi' } });
    const [pod] = await api.waitForPods('flowers', 1);
    const container = pod!.spec!.containers[0]!;
    assert.equal(pod!.metadata!.ownerReferences![0]!.name, 'flowers');
    assert.equal(pod!.metadata!.ownerReferences![0]!.controller, true);
    assert.equal(container.resources!.limits!['nvidia.com/gpu'], '1');
    assert.equal(container.securityContext!.runAsNonRoot, true);
    assert.equal(pod!.spec!.securityContext!.seccompProfile!.type, 'RuntimeDefault');

    await api.setPod(pod!, 'Running');
    await api.waitFor('flowers', (j) => j.status?.phase === 'Running', 'Running');

    // The trainer's own reporter: stage transitions through the status subresource.
    const trainer = jobStatusReporter(kubeConfig(), { namespace: ns, name: 'flowers' }, (m) => assert.fail(m));
    trainer.stageStarted!({
      name: 'head',
      index: 0,
      total: 2,
      epochs: 2,
      learningRate: 1e-3,
      trainableBaseLayers: 0,
      unfrozen: 'base frozen',
      cachedFeatures: true,
    });
    trainer.epochEnded!({
      stage: 'head',
      epoch: 1,
      epochs: 2,
      metrics: { loss: 0.9, val_acc: 0.6123456789 },
      samplesPerSecond: 40,
      percent: 25,
      eta: new Date(),
    });
    trainer.stageEnded!({
      name: 'head',
      epochsRun: 2,
      bestEpoch: 2,
      monitor: 'val_loss',
      bestValue: 0.7,
      endReason: 'EpochsDone',
      startTime: new Date().toISOString(),
      endTime: new Date().toISOString(),
    });
    const reported = Date.now();
    trainer.stageStarted!({
      name: 'fine-tune',
      index: 1,
      total: 2,
      epochs: 3,
      learningRate: 1e-5,
      trainableBaseLayers: 10,
      unfrozen: 'all 10 base layers unfrozen (10 with weights)',
      cachedFeatures: false,
    });
    await trainer.flush();
    const running = await api.waitFor('flowers', (j) => j.status?.stage === 'fine-tune', 'stage fine-tune', 1000);
    assert.ok(Date.now() - reported < 1000, 'a stage transition reaches .status.stage within a second');
    assert.deepEqual(
      running.status!.stages!.map((s) => [s.name, s.state]),
      [
        ['head', 'Succeeded'],
        ['fine-tune', 'Running'],
      ],
    );
    assert.equal(running.status!.phase, 'Running', "the trainer's apply left the operator's fields alone");
    const { stdout, stderr } = await kubectl(['get', 'ftj', 'flowers', '-n', ns, '--no-headers']);
    assert.match(
      stdout,
      /^flowers\s+Running\s+fine-tune\s+0\s+0\.6123\s+/,
      `metrics are rounded for people: ${stdout}${stderr}`,
    );

    trainer.exporting!();
    trainer.exported!({ path: '/out/flowers', stages: [] });
    await trainer.flush();
    await api.setPod(pod!, 'Succeeded', 0);
    const done = await api.waitFor('flowers', (j) => j.status?.phase === 'Succeeded', 'Succeeded');
    assert.equal(condition(done, 'Succeeded'), 'True/TrainerSucceeded');
    assert.ok(done.status!.completionTime);
    assert.equal(done.status!.stages!.length, 2, "the operator's apply left the trainer's history alone");
    const wide = await kubectl(['get', 'ftj', 'flowers', '-n', ns, '-o', 'wide']);
    const [header, row] = wide.stdout.split('\n') as [string, string];
    const column = (name: string) => row.slice(header.indexOf(name)).split(/\s{2,}|\s*$/)[0];
    assert.deepEqual(
      [column('PHASE'), column('STAGE'), column('REASON')],
      ['Succeeded', '', 'TrainerSucceeded'],
      `no stage once done; the headline reason: ${wide.stdout}`,
    );
    // Events are sent after the status write, without holding the worker: wait for them.
    await eventually(async () => {
      const events = await api.events('flowers');
      return ['PodCreated', 'TrainerRunning', 'TrainerSucceeded', 'StageStarted', 'StageSucceeded'].every((reason) =>
        events.includes(reason),
      );
    }, 'the PodCreated, TrainerRunning, TrainerSucceeded, StageStarted and StageSucceeded events');
  });

  it('fails at once on a permanent exit code, without a second pod', async (t) => {
    const { api } = await withOperator(t, 'op-perm');
    await api.create('bad-data');
    const [pod] = await api.waitForPods('bad-data', 1);
    await api.setPod(pod!, 'Failed', 2);
    const job = await api.waitFor('bad-data', (j) => j.status?.phase === 'Failed', 'Failed');
    assert.equal(condition(job, 'Failed'), 'True/PodFailurePolicy');
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal((await api.pods('bad-data')).length, 1);
  });

  it('retries a transient failure after the backoff delay, counting it; a deleted pod is retried without counting', async (t) => {
    const { api } = await withOperator(t, 'op-retry');
    await api.create('flaky', { backoffLimit: 2 });
    const [first] = await api.waitForPods('flaky', 1);
    await api.setPod(first!, 'Failed', 3);
    const pods = await api.waitForPods('flaky', 2, 10_000);
    assert.equal(pods[1]!.metadata!.name, 'flaky-trainer-2');
    // The next attempt's pod is created before the status that counts the failure is written: wait for it.
    await api.waitFor('flaky', (j) => j.status?.failedAttempts === 1, 'the failed attempt counted');

    await api.deletePod('flaky-trainer-2');
    await api.waitFor('flaky', (j) => j.status?.attempts === 3, 'attempt 3 after the pod was deleted');
    const job = await api.get('flaky');
    assert.equal(job!.status!.failedAttempts, 1, 'a deleted pod does not count toward backoffLimit');
    // Events are sent after the status write, without holding the worker: wait for it.
    await eventually(async () => (await api.events('flaky')).includes('PodDeleted'), 'the PodDeleted event');
  });

  it('fails with DeadlineExceeded after activeDeadlineSeconds and stops the pod', async (t) => {
    const { api } = await withOperator(t, 'op-deadline');
    await api.create('slow', { activeDeadlineSeconds: 2 });
    const [pod] = await api.waitForPods('slow', 1);
    await api.setPod(pod!, 'Running');
    const job = await api.waitFor('slow', (j) => j.status?.phase === 'Failed', 'DeadlineExceeded', 10_000);
    assert.equal(condition(job, 'Failed'), 'True/DeadlineExceeded');
    await api.waitForPods('slow', 0, 10_000);
  });

  it('deletes a finished job after ttlSecondsAfterFinished', async (t) => {
    const { api } = await withOperator(t, 'op-ttl');
    await api.create('short-lived', { ttlSecondsAfterFinished: 1 });
    const [pod] = await api.waitForPods('short-lived', 1);
    await api.setPod(pod!, 'Succeeded', 0);
    await api.waitFor('short-lived', (j) => j.status?.phase === 'Succeeded', 'Succeeded');
    await eventually(async () => (await api.get('short-lived')) === undefined, 'the job to be deleted', 10_000);
  });

  it('suspends (pod gone, Suspended) and resumes (a new attempt)', async (t) => {
    const { api } = await withOperator(t, 'op-suspend');
    await api.create('pausable');
    const [pod] = await api.waitForPods('pausable', 1);
    await api.setPod(pod!, 'Running');
    await api.waitFor('pausable', (j) => j.status?.phase === 'Running', 'Running');
    await api.setSuspend('pausable', true);
    const suspended = await api.waitFor('pausable', (j) => j.status?.phase === 'Suspended', 'Suspended');
    assert.equal(condition(suspended, 'Suspended'), 'True/JobSuspended');
    await api.waitForPods('pausable', 0);
    await api.setSuspend('pausable', false);
    const [resumed] = await api.waitForPods('pausable', 1);
    assert.equal(resumed!.metadata!.name, 'pausable-trainer-2');
  });

  it('marks an invalid spec InvalidSpec with the field named, creates no pod, and does not crash', async (t) => {
    const { manager, api } = await withOperator(t, 'op-invalid');
    await api.create('broken', { stages: [{ name: 'fine-tune', unfreeze: { policy: 'All' } }] });
    const job = await api.waitFor('broken', (j) => condition(j, 'InvalidSpec') === 'True/InvalidSpec', 'InvalidSpec');
    assert.match(
      job.status!.conditions!.find((c) => c.type === 'InvalidSpec')!.message,
      /spec\.stages\[0\]\.unfreeze\.policy/,
    );
    assert.equal(job.status!.phase, 'Failed');
    assert.equal((await api.pods('broken')).length, 0);
    await api.create('fine');
    await api.waitForPods('fine', 1);
    assert.ok(manager.isLeader, 'the operator kept running');
  });

  it('says in the status why its pod cannot be created (a missing ServiceAccount), retries, and creates it once it can', async (t) => {
    const { namespace: ns, api } = await withOperator(t, 'op-refused');
    await api.create('no-account', { podTemplate: { serviceAccountName: 'missing-trainer-account' } });
    const refused = await api.waitFor(
      'no-account',
      (j) => condition(j, 'PodCreateFailure') === 'True/FailedCreatePod',
      'PodCreateFailure',
    );
    assert.equal(refused.status!.phase, 'Pending');
    assert.match(
      refused.status!.conditions!.find((c) => c.type === 'PodCreateFailure')!.message,
      /missing-trainer-account/,
    );
    const wide = await kubectl(['get', 'ftj', 'no-account', '-n', ns, '-o', 'wide', '--no-headers']);
    assert.match(wide.stdout, /^no-account\s+Pending\s+.*FailedCreatePod/, wide.stdout);
    const core = kubeConfig().makeApiClient(CoreV1Api);
    const failedCreates = async () =>
      (await core.listNamespacedEvent({ namespace: ns })).items.filter((e) => e.reason === 'FailedCreatePod');
    await eventually(async () => (await failedCreates()).length === 1, 'one FailedCreatePod event');

    // The retries go on (with backoff): once the account exists, the pod is created and the condition clears.
    await core.createNamespacedServiceAccount({
      namespace: ns,
      body: { metadata: { name: 'missing-trainer-account' } },
    });
    await api.waitForPods('no-account', 1, 30_000);
    await api.waitFor(
      'no-account',
      (j) => condition(j, 'PodCreateFailure') === 'False/PodCreated',
      'PodCreateFailure cleared',
    );
    assert.equal((await failedCreates()).length, 1, 'repeated refusals are one event, counted');
  });

  it('a job re-created after an orphaning delete never takes the old pods: they are deleted and it trains', async (t) => {
    const { namespace: ns, api } = await withOperator(t, 'op-recreate');
    const first = await api.create('again');
    const [old] = await api.waitForPods('again', 1);
    await api.setPod(old!, 'Succeeded', 0);
    await api.waitFor('again', (j) => j.status?.phase === 'Succeeded', 'the first job Succeeded');
    const { code, stderr } = await kubectl(['delete', 'ftj', 'again', '-n', ns, '--cascade=orphan']);
    assert.equal(code, 0, stderr);
    await eventually(async () => (await api.get('again')) === undefined, 'the first job gone');

    const second = await api.create('again');
    assert.notEqual(second.metadata.uid, first.metadata.uid);
    let pods = await api.pods('again');
    await eventually(async () => {
      pods = await api.pods('again');
      return pods.length === 1 && pods[0]!.metadata!.ownerReferences?.[0]?.uid === second.metadata.uid;
    }, "one pod, the new job's (the old one deleted)");
    const [fresh] = pods;
    assert.equal(fresh!.metadata!.name, 'again-trainer-1');
    assert.equal(fresh!.status?.phase ?? 'Pending', 'Pending', 'a new pod, not the old Succeeded one');
    const job = await api.get('again');
    assert.notEqual(job!.status?.phase, 'Succeeded', 'not Succeeded without training');
    await eventually(
      async () => (await api.events('again')).includes('DeletingStalePod'),
      'the DeletingStalePod event',
    );

    // A trainer of the first job still running (orphaned) cannot write into the second one, even its last word.
    const warnings: string[] = [];
    const stale = jobStatusReporter(kubeConfig(), { namespace: ns, name: 'again', uid: first.metadata.uid }, (m) =>
      warnings.push(m),
    );
    stale.stageStarted!({
      name: 'head',
      index: 0,
      total: 1,
      epochs: 2,
      learningRate: 1e-3,
      trainableBaseLayers: 0,
      unfrozen: 'base frozen',
      cachedFeatures: true,
    });
    stale.failed!(new Error('the old trainer fails'));
    await stale.flush();
    assert.equal((await api.get('again'))!.status?.stages, undefined, 'nothing written into the new job');
    assert.match(warnings.join('\n'), /is another job now.*no more status writes/);
  });

  it('a trainer killed without reporting leaves no stage claiming Running: Interrupted, written as the trainer', async (t) => {
    const { namespace: ns, api } = await withOperator(t, 'op-killed');
    await api.create('killed', { backoffLimit: 1 });
    const [pod] = await api.waitForPods('killed', 1);
    await api.setPod(pod!, 'Running');
    const trainer = jobStatusReporter(kubeConfig(), { namespace: ns, name: 'killed' }, (m) => assert.fail(m));
    trainer.stageStarted!({
      name: 'head',
      index: 0,
      total: 2,
      epochs: 5,
      learningRate: 1e-3,
      trainableBaseLayers: 0,
      unfrozen: 'base frozen',
      cachedFeatures: true,
    });
    await trainer.flush();
    await api.waitFor('killed', (j) => j.status?.stages?.[0]?.state === 'Running', 'stage head Running');

    await api.setPod(pod!, 'Failed', 137);
    const settled = await api.waitFor(
      'killed',
      (j) => j.status?.stages?.[0]?.state === 'Interrupted',
      'stage head Interrupted',
    );
    assert.match(settled.status!.stages![0]!.message!, /stopped without reporting/);
    const custom = kubeConfig().makeApiClient(CustomObjectsApi);
    const raw = (await custom.getNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: ns,
      plural: FINETUNEJOB.plural,
      name: 'killed',
    })) as { metadata: { managedFields: { manager: string; subresource?: string; fieldsV1: unknown }[] } };
    const owners = raw.metadata.managedFields
      .filter((f) => JSON.stringify(f.fieldsV1).includes('"f:stages"'))
      .map((f) => f.manager);
    assert.deepEqual(owners, ['finetune-trainer'], "the stages stay the trainer's");

    // The next attempt's trainer reports the stage Running again, with no conflict.
    const [, next] = await api.waitForPods('killed', 2, 30_000);
    assert.equal(next!.metadata!.name, 'killed-trainer-2');
    const resumed = jobStatusReporter(kubeConfig(), { namespace: ns, name: 'killed' }, (m) => assert.fail(m));
    resumed.resumed!([], { stage: 'head', epoch: 2, batch: 5 });
    resumed.stageStarted!({
      name: 'head',
      index: 0,
      total: 2,
      epochs: 5,
      learningRate: 1e-3,
      trainableBaseLayers: 0,
      unfrozen: 'base frozen',
      cachedFeatures: true,
    });
    await resumed.flush();
    const again = await api.waitFor(
      'killed',
      (j) => j.status?.stages?.[0]?.state === 'Running',
      'stage head Running again',
    );
    assert.equal(
      again.status!.stages![0]!.message,
      'resumed at epoch 3, batch 6 from the checkpoint',
      'the status says where it resumed',
    );
    assert.equal(again.status!.stages![0]!.epochsRun, 2);
  });
});
