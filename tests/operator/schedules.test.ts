// The FineTuneSchedule controller against the real API server: the operator's
// clock is shifted so a scheduled time comes within seconds, and the real
// work queue's timer wakes it (no polling); runs are real FineTuneJobs run by
// the FineTuneJob controller, their pods played as the kubelet would.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import {
  API_VERSION,
  FINETUNESCHEDULE,
  type FineTuneScheduleStatus,
  GROUP,
  VERSION,
} from '../../src/api/v1alpha1/index.ts';
import { runName } from '../../src/api/v1alpha1/index.ts';
import { minimalSpec } from '../api/spec-fixtures.ts';
import { eventually, installCRDs, kubeConfig, kubectl, testNamespace } from '../support/cluster.ts';
import { jobs, startOperator } from './support/operator-harness.ts';

type Schedule = { metadata: { name: string; uid: string }; status?: FineTuneScheduleStatus };

function schedules(namespace: string) {
  const custom = kubeConfig().makeApiClient(CustomObjectsApi);
  const ref = { group: GROUP, version: VERSION, namespace, plural: FINETUNESCHEDULE.plural };
  const api = {
    create: (name: string, spec: Record<string, unknown>) =>
      custom.createNamespacedCustomObject({
        ...ref,
        body: { apiVersion: API_VERSION, kind: FINETUNESCHEDULE.kind, metadata: { name }, spec },
      }) as Promise<Schedule>,
    get: async (name: string) =>
      (await custom.getNamespacedCustomObject({ ...ref, name }).catch(() => undefined)) as Schedule | undefined,
    waitFor: async (
      name: string,
      check: (s: Schedule) => boolean,
      what: string,
      timeoutMs = 20_000,
    ): Promise<Schedule> => {
      let last: Schedule | undefined;
      await eventually(
        async () => {
          last = await api.get(name);
          return last !== undefined && check(last);
        },
        `${what} (status: ${JSON.stringify(last?.status)})`,
        timeoutMs,
      );
      return last!;
    },
  };
  return api;
}

/** A daily time in UTC as a cron expression. */
const dailyAt = (time: Date) => `${time.getUTCMinutes()} ${time.getUTCHours()} * * *`;
const condition = (s: Schedule, type: string) => {
  const c = s.status?.conditions?.find((x) => x.type === type);
  return c ? `${c.status}/${c.reason}` : undefined;
};

describe('FineTuneSchedule controller on the control plane', () => {
  before(installCRDs);

  it('creates a run at the scheduled time (woken by its timer), follows it to Succeeded, runs the next day and prunes history', async (t) => {
    const namespace = await testNamespace(t, 'sched');
    // The operator's clock: 4 s before a whole minute `due`, a couple of minutes ahead of real time, and no daily
    // occurrence between the schedule's creation and now (so nothing counts as missed).
    const due = new Date(Math.ceil((Date.now() + 120_000) / 60_000) * 60_000);
    let offset = due.getTime() - 4_000 - Date.now();
    startOperator(t, namespace, undefined, {}, () => new Date(Date.now() + offset));
    const api = schedules(namespace);
    const runs = jobs(namespace);
    await api.create('nightly', {
      schedule: dailyAt(due),
      timeZone: 'Etc/UTC',
      concurrencyPolicy: 'Forbid',
      successfulJobsHistoryLimit: 1,
      jobTemplate: {
        metadata: { labels: { team: 'vision' } },
        spec: { ...minimalSpec(), output: { uri: 'file:///out/model' } },
      },
    });

    const waiting = await api.waitFor(
      'nightly',
      (s) => s.status?.nextScheduleTime !== undefined,
      'the next scheduled time',
    );
    assert.equal(waiting.status!.nextScheduleTime, due.toISOString());
    assert.equal(waiting.status!.lastScheduleTime, undefined, 'nothing runs before its time');

    const first = runName('nightly', due);
    const run = await runs.waitFor(first, () => true, `run ${first}`, 15_000);
    const created = (await runs.get(first)) as unknown as {
      metadata: {
        labels: Record<string, string>;
        annotations: Record<string, string>;
        ownerReferences: { kind: string; uid: string }[];
      };
      spec: { output: unknown };
    };
    assert.equal(created.metadata.labels['team'], 'vision');
    assert.equal(created.metadata.labels['finetune.dev/schedule-name'], 'nightly');
    assert.equal(created.metadata.annotations['finetune.dev/scheduled-time'], due.toISOString());
    assert.deepEqual(
      created.metadata.ownerReferences.map((o) => [o.kind, o.uid]),
      [['FineTuneSchedule', waiting.metadata.uid]],
    );
    assert.deepEqual(created.spec.output, { uri: `file:///out/model/${first}` });

    const nextDue = new Date(due.getTime() + 24 * 3600_000);
    const active = await api.waitFor('nightly', (s) => s.status?.activeCount === 1, 'the run listed as active');
    assert.deepEqual(
      active.status!.active!.map((a) => [a.name, a.uid]),
      [[first, run.metadata.uid]],
    );
    assert.equal(active.status!.lastScheduleTime, due.toISOString());
    const table = await kubectl(['get', 'ftsched', 'nightly', '-n', namespace]);
    assert.match(table.stdout, /NAME\s+SCHEDULE\s+SUSPEND\s+ACTIVE\s+LAST-SCHEDULE\s+NEXT\s+AGE/);
    // SUSPEND is empty unless set (the CRD states defaults in descriptions, not in the schema); ACTIVE counts the run.
    assert.match(
      table.stdout,
      new RegExp(`nightly\\s+${dailyAt(due).replaceAll('*', '\\*')}\\s+1\\s+\\S+\\s+${nextDue.toISOString()}`),
    );

    // The next day: the clock moves on while the first run finishes; the run's completion wakes the schedule.
    offset = nextDue.getTime() - 3_000 - Date.now();
    const [pod] = await runs.waitForPods(first, 1);
    await runs.setPod(pod!, 'Succeeded', 0);
    const succeeded = await api.waitFor(
      'nightly',
      (s) => s.status?.lastSuccessfulRun?.name === first && s.status.activeCount === 0,
      'the first run seen as succeeded',
    );
    assert.ok(succeeded.status!.lastSuccessfulTime);

    const second = runName('nightly', nextDue);
    const [secondPod] = await runs.waitForPods(second, 1, 20_000);
    await runs.setPod(secondPod!, 'Succeeded', 0);
    // successfulJobsHistoryLimit 1: the first run is deleted once the second has succeeded.
    await eventually(async () => (await runs.get(first)) === undefined, `run ${first} pruned`);
    assert.ok(await runs.get(second), 'the newest succeeded run is kept');

    const core = kubeConfig().makeApiClient(CoreV1Api);
    const reasons = (await core.listNamespacedEvent({ namespace })).items
      .filter((e) => e.involvedObject.kind === 'FineTuneSchedule')
      .map((e) => e.reason);
    for (const reason of ['SuccessfulCreate', 'SawCompletedJob', 'SuccessfulDelete'])
      assert.ok(reasons.includes(reason), `event ${reason} in ${reasons}`);

    // The garbage collector deletes a deleted schedule's runs: it is their controller owner.
    await kubectl(['delete', 'ftsched', 'nightly', '-n', namespace]);
    await eventually(async () => (await runs.get(second)) === undefined, `run ${second} deleted with its schedule`);
  });

  it('fires at the scheduled time in a named time zone across a DST change: 02:30 Berlin on 28 March 2027 runs at 03:30 CEST', async (t) => {
    const namespace = await testNamespace(t, 'sched-dst');
    // 02:30 does not exist in Europe/Berlin on 28 March 2027 (02:00 becomes 03:00): the run is at 03:30 CEST, 01:30 UTC.
    const due = new Date('2027-03-28T01:30:00Z');
    // The operator's clock first stands at 01:50 CET, before the change, when the schedule is created.
    let offset = Date.parse('2027-03-28T00:50:00Z') - Date.now();
    startOperator(t, namespace, undefined, {}, () => new Date(Date.now() + offset));
    const api = schedules(namespace);
    // A deadline keeps the months between the schedule's creation and this clock from counting as missed nights.
    await api.create('nightly', {
      schedule: '30 2 * * *',
      timeZone: 'Europe/Berlin',
      startingDeadlineSeconds: 60,
      jobTemplate: { spec: minimalSpec() },
    });
    const waiting = await api.waitFor(
      'nightly',
      (s) => s.status?.nextScheduleTime !== undefined,
      'the next scheduled time',
    );
    assert.equal(waiting.status!.nextScheduleTime, '2027-03-28T01:30:00.000Z');
    // Then, after the change, just before 03:30 CEST; any change to the schedule wakes it.
    offset = due.getTime() - 3_000 - Date.now();
    await kubectl(['annotate', 'ftsched', 'nightly', '-n', namespace, 'test/wake=1']);
    const run = await jobs(namespace).waitFor(runName('nightly', due), () => true, 'the run at 03:30 CEST', 15_000);
    assert.equal(
      (run as unknown as { metadata: { annotations: Record<string, string> } }).metadata.annotations[
        'finetune.dev/scheduled-time'
      ],
      due.toISOString(),
    );
    const next = await api.waitFor(
      'nightly',
      (s) => s.status?.lastScheduleTime === due.toISOString(),
      'the run recorded',
    );
    assert.equal(next.status!.nextScheduleTime, '2027-03-29T00:30:00.000Z', 'the next night at 02:30 CEST');
  });

  it('concurrencyPolicy Forbid, Replace and Allow, and suspend, when the next night comes while the first run is still going', async (t) => {
    const namespace = await testNamespace(t, 'sched-policies');
    const due = new Date(Math.ceil((Date.now() + 120_000) / 60_000) * 60_000);
    let offset = due.getTime() - 60_000 - Date.now();
    startOperator(t, namespace, undefined, {}, () => new Date(Date.now() + offset));
    const api = schedules(namespace);
    const runs = jobs(namespace);
    for (const [name, policy, suspend] of [
      ['forbid', 'Forbid', false],
      ['replace', 'Replace', false],
      ['allow', 'Allow', false],
      ['paused', 'Forbid', true],
    ] as const) {
      await api.create(name, {
        schedule: dailyAt(due),
        timeZone: 'Etc/UTC',
        concurrencyPolicy: policy,
        suspend,
        jobTemplate: { spec: minimalSpec() },
      });
    }
    await api.waitFor('allow', (s) => s.status?.nextScheduleTime === due.toISOString(), 'the schedules waiting');
    const wake = async () => {
      for (const name of ['forbid', 'replace', 'allow', 'paused'])
        await kubectl(['annotate', '--overwrite', 'ftsched', name, '-n', namespace, `test/wake=${Date.now()}`]);
    };
    offset = due.getTime() + 1_000 - Date.now();
    await wake();
    for (const name of ['forbid', 'replace', 'allow'])
      await runs.waitFor(runName(name, due), () => true, `the first ${name} run`);
    // Nobody plays the kubelet: the first runs stay Pending, so they are active when the next night comes.
    const nextDue = new Date(due.getTime() + 24 * 3600_000);
    offset = nextDue.getTime() + 1_000 - Date.now();
    await wake();
    await runs.waitFor(runName('allow', nextDue), () => true, 'Allow: a second run beside the first');
    assert.ok(await runs.get(runName('allow', due)), 'Allow keeps the first');
    await runs.waitFor(runName('replace', nextDue), () => true, 'Replace: the new run');
    await eventually(
      async () => (await runs.get(runName('replace', due))) === undefined,
      'Replace: the first run deleted',
    );
    const forbid = await api.waitFor(
      'forbid',
      (s) => s.status?.conditions?.some((c) => c.type === 'RunSkipped' && c.reason === 'JobAlreadyActive') ?? false,
      'Forbid: RunSkipped',
    );
    assert.equal(await runs.get(runName('forbid', nextDue)), undefined, 'Forbid: no second run');
    assert.deepEqual(
      forbid.status!.active!.map((r) => r.name),
      [runName('forbid', due)],
    );
    const paused = await api.get('paused');
    assert.equal(paused!.status!.nextScheduleTime, undefined, 'suspended: no next run');
    assert.equal(await runs.get(runName('paused', due)), undefined, 'suspended: no run');
    const core = kubeConfig().makeApiClient(CoreV1Api);
    const reasons = (await core.listNamespacedEvent({ namespace })).items
      .filter((e) => e.involvedObject.kind === 'FineTuneSchedule')
      .map((e) => `${e.involvedObject.name}/${e.reason}`);
    for (const event of ['forbid/JobAlreadyActive', 'replace/SuccessfulDelete', 'allow/SuccessfulCreate'])
      assert.ok(reasons.includes(event), `${event} in ${reasons}`);
  });

  it('two operators reconciling one schedule at once (a split brain) create its run once', async (t) => {
    const namespace = await testNamespace(t, 'sched-twice');
    const due = new Date(Math.ceil((Date.now() + 120_000) / 60_000) * 60_000);
    const offset = due.getTime() - 3_000 - Date.now();
    for (let i = 0; i < 2; i++) startOperator(t, namespace, undefined, {}, () => new Date(Date.now() + offset));
    await schedules(namespace).create('nightly', {
      schedule: dailyAt(due),
      timeZone: 'Etc/UTC',
      concurrencyPolicy: 'Allow',
      jobTemplate: { spec: minimalSpec() },
    });
    const runs = jobs(namespace);
    await runs.waitFor(runName('nightly', due), () => true, 'the run', 15_000);
    await new Promise((resolve) => setTimeout(resolve, 3_000)); // both have woken and reconciled by now
    const custom = kubeConfig().makeApiClient(CustomObjectsApi);
    const all = (await custom.listNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace,
      plural: 'finetunejobs',
    })) as { items: unknown[] };
    assert.equal(all.items.length, 1, 'one run for one scheduled time');
    const core = kubeConfig().makeApiClient(CoreV1Api);
    const failed = (await core.listNamespacedEvent({ namespace })).items.filter((e) => e.reason === 'FailedCreate');
    assert.deepEqual(
      failed.map((e) => e.message),
      [],
      "the second create found the first one's run: its own, not a failure",
    );
  });

  it('an invalid schedule gets InvalidSpec naming the field, and no runs; a fixed one runs', async (t) => {
    const namespace = await testNamespace(t, 'sched-invalid');
    startOperator(t, namespace);
    const api = schedules(namespace);
    await api.create('broken', { schedule: 'every night', jobTemplate: { spec: minimalSpec() } });
    const broken = await api.waitFor(
      'broken',
      (s) => condition(s, 'InvalidSpec') === 'True/InvalidSpec',
      'InvalidSpec',
    );
    assert.match(
      broken.status!.conditions!.find((c) => c.type === 'InvalidSpec')!.message,
      /spec\.schedule: "every night" is not a 5-field cron expression/,
    );
    assert.equal(condition(broken, 'Stalled'), 'True/InvalidSpec');
    assert.equal(broken.status!.nextScheduleTime, undefined);

    await kubectl([
      'patch',
      'ftsched',
      'broken',
      '-n',
      namespace,
      '--type=merge',
      '-p',
      '{"spec":{"schedule":"0 3 * * *"}}',
    ]);
    const fixed = await api.waitFor(
      'broken',
      (s) => condition(s, 'InvalidSpec') === 'False/Valid',
      'the fixed schedule',
    );
    assert.ok(fixed.status!.nextScheduleTime);
    assert.equal(condition(fixed, 'Stalled'), 'False/Valid');
  });
});
