import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import { type FineTuneJobStatus, type FineTuneScheduleStatus, runName } from '../../src/api/v1alpha1/index.ts';
import {
  reconcileFineTuneSchedule,
  type ScheduleDecision,
  type ScheduleRun,
} from '../../src/operator/reconcile/schedule-reconciler.ts';
import { minimalSpec } from '../api/spec-fixtures.ts';

const CREATED = new Date('2026-06-01T00:00:00Z');
const SETTINGS = { trainerImage: 'finetune/trainer:test', trainerServiceAccount: 'finetune-trainer' };
const at = (iso: string) => new Date(iso);

/**
 * A FineTuneSchedule and the FineTuneJobs "the cluster" has; `step(now)` reconciles at `now` and
 * applies the decision as the API server and the controller would. No sleeping: the clock is an input.
 */
function cluster(spec: Record<string, unknown> = {}) {
  const state = {
    schedule: {
      metadata: {
        name: 'nightly',
        namespace: 'team',
        uid: 'sched-uid',
        generation: 1,
        creationTimestamp: CREATED.toISOString(),
      },
      spec: {
        schedule: '30 2 * * *',
        timeZone: 'Europe/Berlin',
        concurrencyPolicy: 'Forbid',
        jobTemplate: {
          metadata: { labels: { team: 'vision' } },
          spec: { ...minimalSpec(), output: { pvc: { claimName: 'models', path: 'flowers' } } },
        },
        ...spec,
      } as Record<string, unknown>,
      status: undefined as FineTuneScheduleStatus | undefined,
    },
    runs: [] as ScheduleRun[],
    probes: [] as V1Pod[],
  };
  let uids = 0;
  const step = (now: Date): ScheduleDecision => {
    const decision = reconcileFineTuneSchedule(
      { schedule: state.schedule, runs: state.runs, probes: state.probes, now },
      SETTINGS,
    );
    state.probes = state.probes.filter((pod) => !decision.deleteProbes.includes(pod.metadata!.name!));
    if (decision.createProbe) state.probes.push({ ...decision.createProbe, status: { phase: 'Pending' } });
    state.runs = state.runs.filter((run) => !decision.deleteRuns.includes(run.metadata!.name!));
    if (decision.createRun) {
      const { metadata, spec } = decision.createRun;
      state.runs.push({
        metadata: { ...metadata, uid: `run-${++uids}`, creationTimestamp: now.toISOString() },
        spec,
        status: { phase: 'Running', startTime: now.toISOString(), conditions: [] },
      });
    }
    if (decision.status) state.schedule.status = decision.status;
    return decision;
  };
  const finish = (name: string, phase: 'Succeeded' | 'Failed', when: Date) => {
    const run = state.runs.find((r) => r.metadata!.name === name)!;
    run.status = {
      ...run.status,
      phase,
      completionTime: when.toISOString(),
      ...(phase === 'Succeeded' ? { outputURI: `pvc://models/flowers/${name}` } : {}),
    } as FineTuneJobStatus;
  };
  const condition = (type: string) => {
    const c = state.schedule.status?.conditions?.find((x) => x.type === type);
    return c ? `${c.status}/${c.reason}` : undefined;
  };
  const reasons = (d: ScheduleDecision) => d.events.map((e) => e.reason);
  return { state, step, finish, condition, reasons };
}

describe('FineTuneSchedule reconcile (CronJob semantics, pure)', () => {
  it('waits for the first scheduled time: a wake-up at that time, never polling', () => {
    const c = cluster();
    const decision = c.step(at('2026-06-01T00:10:00Z'));
    assert.equal(decision.createRun, undefined);
    // 02:30 in Berlin in June is 00:30 UTC (CEST).
    assert.equal(c.state.schedule.status!.nextScheduleTime, '2026-06-01T00:30:00.000Z');
    assert.equal(decision.requeueAfterSeconds, 20 * 60 + 0.1);
    assert.equal(c.state.schedule.status!.activeCount, 0);
  });

  it('creates one run at the scheduled time: deterministic name, template labels, owner, scheduled time, its own output', () => {
    const c = cluster();
    const decision = c.step(at('2026-06-02T00:30:00.200Z'));
    const run = decision.createRun!;
    const minutes = Date.parse('2026-06-02T00:30:00Z') / 60_000;
    assert.equal(run.metadata.name, `nightly-${minutes}`);
    assert.equal(run.metadata.name, runName('nightly', at('2026-06-02T00:30:00Z')));
    assert.deepEqual(run.metadata.labels, { team: 'vision', 'finetune.dev/schedule-name': 'nightly' });
    assert.equal(run.metadata.annotations['finetune.dev/scheduled-time'], '2026-06-02T00:30:00.000Z');
    assert.deepEqual(run.metadata.ownerReferences, [
      {
        apiVersion: 'finetune.dev/v1alpha1',
        kind: 'FineTuneSchedule',
        name: 'nightly',
        uid: 'sched-uid',
        controller: true,
        blockOwnerDeletion: true,
      },
    ]);
    assert.deepEqual(run.spec['output'], { pvc: { claimName: 'models', path: `flowers/nightly-${minutes}` } });
    assert.deepEqual(c.reasons(decision), ['SuccessfulCreate']);
    assert.deepEqual(decision.outcomes, ['created']);
    assert.equal(c.state.schedule.status!.lastScheduleTime, '2026-06-02T00:30:00.000Z');
    assert.equal(c.state.schedule.status!.nextScheduleTime, '2026-06-03T00:30:00.000Z');

    // The run's watch event brings the schedule back: it is active now, and nothing else is created.
    const again = c.step(at('2026-06-02T00:30:01Z'));
    assert.equal(again.createRun, undefined);
    assert.deepEqual(
      c.state.schedule.status!.active!.map((r) => r.name),
      [`nightly-${minutes}`],
    );
    assert.equal(c.state.schedule.status!.activeCount, 1);
    assert.equal(c.step(at('2026-06-02T00:30:02Z')).status, undefined, 'an unchanged schedule writes nothing');
  });

  it('never creates a time twice: a run of that name (from before a restart) is recorded, not created again', () => {
    const c = cluster({ concurrencyPolicy: 'Allow' });
    const name = runName('nightly', at('2026-06-02T00:30:00Z'));
    c.state.runs.push({
      metadata: { name, uid: 'x', ownerReferences: [{ kind: 'FineTuneSchedule', uid: 'sched-uid', controller: true }] },
      status: { phase: 'Running', conditions: [] },
    });
    const decision = c.step(at('2026-06-02T00:31:00Z'));
    assert.equal(decision.createRun, undefined);
    assert.equal(c.state.schedule.status!.lastScheduleTime, '2026-06-02T00:30:00.000Z');
  });

  it('after downtime starts at most one run, for the most recent missed time', () => {
    const c = cluster();
    c.step(at('2026-06-02T00:30:00Z'));
    c.finish(runName('nightly', at('2026-06-02T00:30:00Z')), 'Succeeded', at('2026-06-02T01:00:00Z'));
    // The operator was down for three nights.
    const decision = c.step(at('2026-06-05T09:00:00Z'));
    assert.equal(decision.createRun!.metadata.name, runName('nightly', at('2026-06-05T00:30:00Z')));
    assert.equal(c.step(at('2026-06-05T09:00:01Z')).createRun, undefined);
  });

  it('with startingDeadlineSeconds, a missed time older than the deadline is not run', () => {
    const c = cluster({ startingDeadlineSeconds: 3600 });
    const late = c.step(at('2026-06-02T02:00:00Z'));
    assert.equal(late.createRun, undefined, 'due at 00:30, deadline one hour: too late at 02:00');
    assert.equal(c.state.schedule.status!.nextScheduleTime, '2026-06-03T00:30:00.000Z');
    const inTime = cluster({ startingDeadlineSeconds: 3600 }).step(at('2026-06-02T01:00:00Z'));
    assert.ok(inTime.createRun, 'within the deadline it runs late');
  });

  it('more than 100 missed times is reported once, and only the most recent may run: never a storm', () => {
    const c = cluster({ schedule: '* * * * *', timeZone: undefined });
    const decision = c.step(at('2026-06-01T12:00:30Z'));
    assert.deepEqual(c.reasons(decision), ['TooManyMissedTimes', 'SuccessfulCreate']);
    assert.equal(decision.createRun!.metadata.name, runName('nightly', at('2026-06-01T12:00:00Z')));
    assert.equal(c.state.schedule.status!.nextScheduleTime, '2026-06-01T12:01:00.000Z');
  });

  it('Forbid: skips while a run is active (event once, condition), and starts the skipped time when it finishes, like CronJob', () => {
    const c = cluster({ startingDeadlineSeconds: 6 * 3600 });
    c.step(at('2026-06-02T00:30:00Z'));
    const first = runName('nightly', at('2026-06-02T00:30:00Z'));
    const skipped = c.step(at('2026-06-03T00:30:00Z'));
    assert.equal(skipped.createRun, undefined);
    assert.deepEqual(c.reasons(skipped), ['JobAlreadyActive']);
    assert.deepEqual(skipped.outcomes, ['skipped']);
    assert.equal(c.condition('RunSkipped'), 'True/JobAlreadyActive');
    assert.match(
      c.state.schedule.status!.conditions!.find((x) => x.type === 'RunSkipped')!.message,
      new RegExp(`${first} is still running`),
    );
    assert.deepEqual(c.step(at('2026-06-03T00:40:00Z')).events, [], 'the same skip is not reported again');

    c.finish(first, 'Failed', at('2026-06-03T01:00:00Z'));
    const resumed = c.step(at('2026-06-03T01:00:01Z'));
    assert.deepEqual(c.reasons(resumed), ['SawCompletedJob', 'SuccessfulCreate']);
    assert.deepEqual(resumed.outcomes, ['failed', 'created']);
    assert.equal(resumed.createRun!.metadata.name, runName('nightly', at('2026-06-03T00:30:00Z')));
    assert.equal(c.condition('RunSkipped'), 'False/RunCreated');
  });

  it('Replace deletes the active run and starts the new one; Allow lets them overlap', () => {
    const replace = cluster({ concurrencyPolicy: 'Replace' });
    replace.step(at('2026-06-02T00:30:00Z'));
    const decision = replace.step(at('2026-06-03T00:30:00Z'));
    assert.deepEqual(decision.deleteRuns, [runName('nightly', at('2026-06-02T00:30:00Z'))]);
    assert.equal(decision.createRun!.metadata.name, runName('nightly', at('2026-06-03T00:30:00Z')));
    assert.deepEqual(replace.reasons(decision), ['SuccessfulDelete', 'SuccessfulCreate']);
    assert.deepEqual(decision.outcomes, ['replaced', 'created']);

    const allow = cluster({ concurrencyPolicy: 'Allow' });
    allow.step(at('2026-06-02T00:30:00Z'));
    const overlapping = allow.step(at('2026-06-03T00:30:00Z'));
    assert.deepEqual(overlapping.deleteRuns, []);
    assert.ok(overlapping.createRun);
    allow.step(at('2026-06-03T00:30:01Z'));
    assert.equal(allow.state.schedule.status!.activeCount, 2);
  });

  it('suspend: no new runs and no wake-up; on resume at most one catch-up run', () => {
    const c = cluster({ suspend: true });
    const decision = c.step(at('2026-06-04T12:00:00Z'));
    assert.equal(decision.createRun, undefined);
    assert.equal(decision.requeueAfterSeconds, undefined);
    assert.equal(c.condition('Suspended'), 'True/Suspended');
    assert.equal(c.state.schedule.status!.nextScheduleTime, undefined);
    c.state.schedule.spec['suspend'] = false;
    const resumed = c.step(at('2026-06-04T12:00:01Z'));
    assert.equal(resumed.createRun!.metadata.name, runName('nightly', at('2026-06-04T00:30:00Z')));
    assert.equal(c.condition('Suspended'), 'False/Active');
  });

  it('keeps successfulJobsHistoryLimit and failedJobsHistoryLimit finished runs, deleting the oldest', () => {
    const c = cluster({ concurrencyPolicy: 'Allow', successfulJobsHistoryLimit: 2, failedJobsHistoryLimit: 1 });
    const days = [2, 3, 4, 5, 6];
    for (const day of days) c.step(at(`2026-06-0${day}T00:30:00Z`));
    const names = days.map((day) => runName('nightly', at(`2026-06-0${day}T00:30:00Z`)));
    for (const [i, name] of names.entries())
      c.finish(name, i % 2 ? 'Failed' : 'Succeeded', at(`2026-06-0${days[i]}T01:00:00Z`));
    const decision = c.step(at('2026-06-06T02:00:00Z'));
    // Succeeded: days 2, 4, 6 (keep 4 and 6); failed: days 3, 5 (keep 5).
    assert.deepEqual(decision.deleteRuns.sort(), [names[0], names[1]].sort());
    assert.deepEqual(c.state.runs.map((r) => r.metadata!.name).sort(), [names[2], names[3], names[4]].sort());
    assert.equal(c.state.schedule.status!.lastSuccessfulTime, '2026-06-06T01:00:00.000Z');
    assert.deepEqual(c.state.schedule.status!.lastSuccessfulRun, {
      name: names[4],
      outputURI: `pvc://models/flowers/${names[4]}`,
      modelURI: `pvc://models/flowers/${names[4]}/model.json`,
    });
  });

  it('an invalid schedule gets InvalidSpec naming the field, no runs and no wake-up; it never throws', () => {
    for (const [spec, field] of [
      [{ schedule: '61 * * * *' }, /spec\.schedule/],
      [{ schedule: 'every night' }, /spec\.schedule: "every night" is not a 5-field cron expression/],
      [{ timeZone: 'Mars/Olympus' }, /spec\.timeZone: unknown time zone/],
      [{ jobTemplate: { spec: { ...minimalSpec(), batchSize: 0 } } }, /spec\.jobTemplate\.spec\.batchSize/],
      [{ jobTemplate: undefined }, /spec\.jobTemplate/],
    ] as const) {
      const c = cluster(spec);
      const decision = c.step(at('2026-06-02T00:30:00Z'));
      assert.equal(decision.createRun, undefined);
      assert.equal(decision.requeueAfterSeconds, undefined);
      assert.equal(c.condition('InvalidSpec'), 'True/InvalidSpec');
      assert.equal(c.condition('Stalled'), 'True/InvalidSpec');
      assert.match(c.state.schedule.status!.conditions!.find((x) => x.type === 'InvalidSpec')!.message, field);
      assert.deepEqual(c.reasons(decision), ['InvalidSpec']);
      assert.deepEqual(c.step(at('2026-06-02T00:31:00Z')).events, [], 'reported once');
    }
  });

  it('says when an active run finished or went missing', () => {
    const c = cluster();
    c.step(at('2026-06-02T00:30:00Z'));
    c.step(at('2026-06-02T00:30:01Z'));
    const name = runName('nightly', at('2026-06-02T00:30:00Z'));
    c.finish(name, 'Succeeded', at('2026-06-02T01:00:00Z'));
    const done = c.step(at('2026-06-02T01:00:01Z'));
    assert.deepEqual(done.events, [
      { type: 'Normal', reason: 'SawCompletedJob', message: `Saw completed run: ${name}, status: Succeeded` },
    ]);
    assert.deepEqual(done.outcomes, ['succeeded']);
    assert.equal(c.state.schedule.status!.active, undefined);

    const gone = cluster();
    gone.step(at('2026-06-02T00:30:00Z'));
    gone.step(at('2026-06-02T00:30:01Z'));
    gone.state.runs = [];
    assert.deepEqual(gone.reasons(gone.step(at('2026-06-02T00:40:00Z'))), ['MissingJob']);
  });

  it('counts only the runs it controls: a FineTuneJob owned by another schedule of that name is not its run', () => {
    const c = cluster({ concurrencyPolicy: 'Forbid' });
    c.state.runs.push({
      metadata: {
        name: 'nightly-other',
        uid: 'x',
        ownerReferences: [{ kind: 'FineTuneSchedule', uid: 'old-uid', controller: true }],
      },
      status: { phase: 'Running', conditions: [] },
    });
    const decision = c.step(at('2026-06-02T00:30:00Z'));
    assert.ok(decision.createRun, 'a run of a deleted schedule with the same name does not block this one');
  });

  it("warmStart LastSucceeded: a run starts from the last successful run's model, the first from the template's base", () => {
    const c = cluster({ warmStart: 'LastSucceeded', concurrencyPolicy: 'Allow' });
    const first = c.step(at('2026-06-02T00:30:00Z')).createRun!;
    assert.deepEqual(
      (first.spec['model'] as { uri: string }).uri,
      'file:///models/base/model.json',
      'no run has succeeded yet',
    );
    assert.equal(first.metadata.annotations['finetune.dev/warm-start-from'], undefined);
    c.finish(first.metadata.name, 'Succeeded', at('2026-06-02T01:00:00Z'));
    c.step(at('2026-06-02T01:00:01Z'));
    assert.equal(
      c.state.schedule.status!.lastSuccessfulRun!.modelURI,
      `pvc://models/flowers/${first.metadata.name}/model.json`,
    );

    const second = c.step(at('2026-06-03T00:30:00Z')).createRun!;
    assert.deepEqual(second.spec['model'], {
      uri: `pvc://models/flowers/${first.metadata.name}/model.json`,
      input: { shape: [64, 64, 3] },
      format: 'Layers',
      outputKind: 'Classifier',
      provenance: { source: `FineTuneJob team/${first.metadata.name} (warm start)` },
    });
    assert.equal(second.metadata.annotations['finetune.dev/warm-start-from'], first.metadata.name);
    const cold = cluster({ concurrencyPolicy: 'Allow' });
    cold.step(at('2026-06-02T00:30:00Z'));
    cold.finish(first.metadata.name, 'Succeeded', at('2026-06-02T01:00:00Z'));
    cold.step(at('2026-06-02T01:00:01Z'));
    assert.equal(
      (cold.step(at('2026-06-03T00:30:00Z')).createRun!.spec['model'] as { uri: string }).uri,
      'file:///models/base/model.json',
      'warmStart None',
    );
  });

  it("promotion: each run may update the pointer in the template's output; the schedule records the promoted run and says either way", () => {
    const c = cluster({ promotion: { metric: 'valAccuracy', minDelta: 0.01 }, concurrencyPolicy: 'Allow' });
    const first = c.step(at('2026-06-02T00:30:00Z')).createRun!;
    assert.deepEqual(first.spec['promotion'], {
      pointer: { pvc: { claimName: 'models', path: 'flowers/latest.json' } },
      metric: 'valAccuracy',
      minDelta: 0.01,
    });
    c.step(at('2026-06-02T00:30:01Z'));
    const decide = (name: string, promoted: boolean, value: number, when: Date) => {
      c.finish(name, 'Succeeded', when);
      const run = c.state.runs.find((r) => r.metadata!.name === name)!;
      run.status!.promotion = {
        promoted,
        metric: 'valAccuracy',
        value,
        pointer: '/mnt/pvc/models/flowers/latest.json',
        message: promoted ? `valAccuracy ${value} beats none` : `valAccuracy ${value} is not better than 0.9`,
      };
    };
    decide(first.metadata.name, true, 0.9, at('2026-06-02T01:00:00Z'));
    const promoted = c.step(at('2026-06-02T01:00:01Z'));
    assert.ok(c.reasons(promoted).includes('Promoted'));
    assert.deepEqual(c.state.schedule.status!.promoted, {
      name: first.metadata.name,
      modelURI: `pvc://models/flowers/${first.metadata.name}/model.json`,
      metric: 'valAccuracy',
      value: 0.9,
      time: '2026-06-02T01:00:00.000Z',
    });

    const second = c.step(at('2026-06-03T00:30:00Z')).createRun!;
    c.step(at('2026-06-03T00:30:01Z'));
    decide(second.metadata.name, false, 0.85, at('2026-06-03T01:00:00Z'));
    const refused = c.step(at('2026-06-03T01:00:01Z'));
    assert.deepEqual(
      refused.events.filter((e) => e.reason === 'NotPromoted').map((e) => e.type),
      ['Warning'],
    );
    assert.equal(
      c.state.schedule.status!.promoted!.name,
      first.metadata.name,
      'a worse model never replaces a better one',
    );
    assert.equal(
      c.state.schedule.status!.lastSuccessfulRun!.name,
      second.metadata.name,
      'though it is the last success',
    );
  });

  it('skipIfUnchanged: a probe pod fingerprints the data; the same data as the last success skips the time, new data runs', () => {
    const c = cluster({ skipIfUnchanged: true, concurrencyPolicy: 'Allow' });
    const first = c.step(at('2026-06-02T00:30:00Z'));
    assert.ok(first.createRun, 'no run has succeeded yet: nothing to compare with, it runs');
    assert.equal(first.createProbe, undefined);
    c.finish(first.createRun.metadata.name, 'Succeeded', at('2026-06-02T01:00:00Z'));
    c.state.runs[0]!.status!.datasetFingerprint = 'sha256:aaa';
    c.step(at('2026-06-02T01:00:01Z'));
    assert.equal(c.state.schedule.status!.lastSuccessfulRun!.datasetFingerprint, 'sha256:aaa');

    const probing = c.step(at('2026-06-03T00:30:00Z'));
    assert.equal(probing.createRun, undefined, 'no run before the data is compared');
    const probe = probing.createProbe!;
    const second = runName('nightly', at('2026-06-03T00:30:00Z'));
    assert.equal(probe.metadata!.name, `${second}-fingerprint`);
    assert.equal(probe.metadata!.labels!['finetune.dev/fingerprint-for'], second);
    assert.equal(probe.metadata!.labels!['finetune.dev/job-name'], undefined, 'not a trainer pod of any job');
    assert.deepEqual(
      probe.metadata!.ownerReferences!.map((o) => o.kind),
      ['FineTuneSchedule'],
    );
    const container = probe.spec!.containers[0]!;
    assert.deepEqual(container.args, ['--fingerprint']);
    assert.equal(container.resources!.limits!['nvidia.com/gpu'], undefined, 'no GPU to fingerprint files');
    assert.deepEqual(
      container.env!.map((e) => e.name),
      ['FTJ_SPEC'],
      'the spec, and no job to report to',
    );
    assert.deepEqual([probe.spec!.automountServiceAccountToken, probe.spec!.activeDeadlineSeconds], [false, 600]);
    assert.equal(c.step(at('2026-06-03T00:30:01Z')).createProbe, undefined, 'one probe');

    const exit = (message: string, phase: 'Succeeded' | 'Failed' = 'Succeeded') => {
      c.state.probes[0]!.status = {
        phase,
        containerStatuses: [
          {
            name: 'trainer',
            ready: false,
            restartCount: 0,
            image: '',
            imageID: '',
            state: { terminated: { exitCode: phase === 'Succeeded' ? 0 : 2, message } },
          },
        ],
      };
    };
    exit('sha256:aaa');
    const skipped = c.step(at('2026-06-03T00:31:00Z'));
    assert.equal(skipped.createRun, undefined);
    assert.deepEqual(skipped.deleteProbes, [`${second}-fingerprint`]);
    assert.deepEqual(c.reasons(skipped), ['DatasetUnchanged']);
    assert.deepEqual(skipped.outcomes, ['skipped']);
    assert.equal(c.condition('RunSkipped'), 'True/DatasetUnchanged');
    assert.deepEqual(c.state.schedule.status!.lastSkipped, {
      scheduledTime: '2026-06-03T00:30:00.000Z',
      reason: 'DatasetUnchanged',
      message: `Not starting the run for 2026-06-03T00:30:00.000Z: its data is unchanged since run ${first.createRun.metadata.name} (skipIfUnchanged)`,
    });
    assert.equal(c.state.schedule.status!.lastScheduleTime, '2026-06-03T00:30:00.000Z', 'the time is used up');
    assert.equal(c.step(at('2026-06-03T00:32:00Z')).createProbe, undefined, 'and not probed again');

    c.step(at('2026-06-04T00:30:00Z'));
    exit('sha256:bbb');
    assert.ok(c.step(at('2026-06-04T00:31:00Z')).createRun, 'new data: it runs');

    c.step(at('2026-06-05T00:30:00Z'));
    exit('cannot read /mnt/pvc/data', 'Failed');
    const failed = c.step(at('2026-06-05T00:31:00Z'));
    assert.ok(failed.createRun, 'a probe that failed never skips a run');
    assert.deepEqual(
      failed.events.filter((e) => e.reason === 'FingerprintFailed').map((e) => e.type),
      ['Warning'],
    );
  });

  it('refuses warmStart from a graph base, and a promotion in the template, naming the fields', () => {
    const graph = cluster({
      warmStart: 'LastSucceeded',
      jobTemplate: {
        spec: {
          ...minimalSpec(),
          model: { uri: 'file:///m/model.json', format: 'Graph', input: { shape: [64, 64, 3] } },
        },
      },
    });
    graph.step(at('2026-06-02T00:30:00Z'));
    assert.match(
      graph.state.schedule.status!.conditions!.find((x) => x.type === 'InvalidSpec')!.message,
      /spec\.warmStart: LastSucceeded needs jobTemplate\.spec\.model\.format Layers/,
    );
    const inTemplate = cluster({
      jobTemplate: { spec: { ...minimalSpec(), promotion: { pointer: { uri: 'file:///out/latest.json' } } } },
    });
    inTemplate.step(at('2026-06-02T00:30:00Z'));
    assert.match(
      inTemplate.state.schedule.status!.conditions!.find((x) => x.type === 'InvalidSpec')!.message,
      /spec\.jobTemplate\.spec\.promotion: set by the schedule/,
    );
  });

  it('follows the time zone across daylight saving time: a time in the spring gap runs once, an hour late; the autumn repeat once', () => {
    const spring = cluster({ concurrencyPolicy: 'Allow' });
    spring.state.schedule.status = { lastScheduleTime: '2026-03-28T01:30:00.000Z', conditions: [] };
    spring.step(at('2026-03-29T00:00:00Z'));
    // 02:30 does not exist in Berlin on 29 March 2026: the run is at 03:30 CEST (01:30 UTC).
    assert.equal(spring.state.schedule.status.nextScheduleTime, '2026-03-29T01:30:00.000Z');
    assert.ok(spring.step(at('2026-03-29T01:30:00.100Z')).createRun);
    assert.equal(spring.state.schedule.status.nextScheduleTime, '2026-03-30T00:30:00.000Z');

    // With a short startingDeadlineSeconds too (the walk for due times must still cross the gap).
    const deadline = cluster({ concurrencyPolicy: 'Allow', startingDeadlineSeconds: 60 });
    deadline.state.schedule.status = { lastScheduleTime: '2026-03-28T01:30:00.000Z', conditions: [] };
    deadline.step(at('2026-03-29T00:50:00Z'));
    assert.equal(deadline.state.schedule.status!.nextScheduleTime, '2026-03-29T01:30:00.000Z');
    assert.equal(
      deadline.step(at('2026-03-29T01:30:00.100Z')).createRun?.metadata.name,
      runName('nightly', at('2026-03-29T01:30:00Z')),
    );

    const autumn = cluster({ concurrencyPolicy: 'Allow' });
    autumn.state.schedule.status = { lastScheduleTime: '2026-10-24T00:30:00.000Z', conditions: [] };
    // 02:30 happens twice in Berlin on 25 October 2026 (00:30 and 01:30 UTC): one run.
    assert.ok(autumn.step(at('2026-10-25T00:30:00.100Z')).createRun);
    assert.equal(autumn.step(at('2026-10-25T01:30:00.100Z')).createRun, undefined);
    assert.equal(autumn.state.schedule.status.nextScheduleTime, '2026-10-26T01:30:00.000Z');
  });
});
