import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import type { FineTuneJobStatus } from '../../src/api/v1alpha1/index.ts';
import {
  type Decision,
  podCreateRefused,
  reconcileFineTuneJob,
} from '../../src/operator/reconcile/finetunejob-reconciler.ts';
import { buildTrainerPod } from '../../src/operator/reconcile/trainer-pod.ts';
import { validateFineTuneJobSpec } from '../../src/api/v1alpha1/index.ts';
import { minimalSpec } from '../api/spec-fixtures.ts';

const SETTINGS = {
  trainerImage: 'finetune/trainer:test',
  trainerServiceAccount: 'finetune-trainer',
  retryBaseSeconds: 10,
};
const T0 = new Date('2026-11-28T10:00:00Z');
const later = (s: number) => new Date(T0.getTime() + s * 1000);

/** A job plus the pods "the cluster" has; `step` reconciles and applies the decision as the API would. */
function cluster(spec: Record<string, unknown> = minimalSpec()) {
  const state = {
    job: {
      metadata: { name: 'flowers', namespace: 'team', uid: 'uid-1', generation: 1 },
      spec,
      status: undefined as FineTuneJobStatus | undefined,
    },
    pods: [] as V1Pod[],
  };
  const step = (now = T0): Decision => {
    const decision = reconcileFineTuneJob({ job: state.job, pods: state.pods, now }, SETTINGS);
    if (decision.status) state.job.status = { ...state.job.status, ...decision.status };
    if (decision.createPod) state.pods.push({ ...decision.createPod, status: { phase: 'Pending' } });
    state.pods = state.pods.filter((p) => !decision.deletePods.includes(p.metadata!.name!));
    return decision;
  };
  /** Creates the first pod, then reconciles again as the pod's watch event makes the operator do. */
  const start = (now = T0): Decision => {
    step(now);
    return step(now);
  };
  const pod = (attempt: number) => state.pods.find((p) => p.metadata!.name === `flowers-trainer-${attempt}`)!;
  const exit = (attempt: number, exitCode: number, at = T0) => {
    pod(attempt).status = {
      phase: exitCode === 0 ? 'Succeeded' : 'Failed',
      containerStatuses: [
        {
          name: 'trainer',
          ready: false,
          restartCount: 0,
          image: '',
          imageID: '',
          state: { terminated: { exitCode, finishedAt: at } },
        },
      ],
    };
  };
  const conditions = () =>
    Object.fromEntries((state.job.status?.conditions ?? []).map((c) => [c.type, `${c.status}/${c.reason}`]));
  return { state, step, start, pod, exit, conditions };
}

describe('FineTuneJob reconcile (pure state machine)', () => {
  it('creates the first trainer pod with GPU limits, owner, security context and the spec', () => {
    const c = cluster({
      ...minimalSpec(),
      resources: { gpus: 1, memory: '8Gi' },
      dataset: { pvc: { claimName: 'data', path: 'flowers' }, format: 'ImageFolder' },
    });
    const decision = c.step();
    const pod = decision.createPod!;
    assert.equal(pod.metadata!.name, 'flowers-trainer-1');
    assert.deepEqual(pod.metadata!.ownerReferences, [
      {
        apiVersion: 'finetune.dev/v1alpha1',
        kind: 'FineTuneJob',
        name: 'flowers',
        uid: 'uid-1',
        controller: true,
        blockOwnerDeletion: true,
      },
    ]);
    const container = pod.spec!.containers[0]!;
    assert.deepEqual(container.resources!.limits, { 'nvidia.com/gpu': '1', memory: '8Gi' });
    assert.deepEqual(container.resources!.requests, container.resources!.limits);
    assert.equal(container.securityContext!.readOnlyRootFilesystem, true);
    assert.equal(container.securityContext!.allowPrivilegeEscalation, false);
    assert.equal(pod.spec!.securityContext!.seccompProfile!.type, 'RuntimeDefault');
    assert.equal(pod.spec!.restartPolicy, 'Never');
    assert.deepEqual(pod.spec!.volumes!.find((v) => v.name === 'pvc-data')!.persistentVolumeClaim, {
      claimName: 'data',
      readOnly: true,
    });
    assert.equal(JSON.parse(container.env!.find((e) => e.name === 'FTJ_SPEC')!.value!).spec.resources.gpus, 1);
    assert.equal(decision.status, undefined, "a new job's first pass only creates the pod");
    assert.deepEqual(decision.events, []);
    const observed = c.step();
    assert.deepEqual(
      [c.state.job.status!.phase, c.state.job.status!.attempts, c.state.job.status!.podName],
      ['Pending', 1, 'flowers-trainer-1'],
    );
    assert.equal(c.conditions()['Created'], 'True/PodCreated');
    assert.deepEqual(
      observed.events.map((e) => e.reason),
      ['PodCreated'],
    );
    assert.equal(observed.createPod, undefined, 'the observed pod is not created twice');
  });

  it('gives a GPU trainer a CUDA JIT cache: an emptyDir, or the node directory the operator is told (--cuda-cache-host-path)', () => {
    const spec = { ...minimalSpec(), resources: { gpus: 1 } };
    const job = { name: 'flowers', namespace: 'team', uid: 'uid-1' };
    const parsed = validateFineTuneJobSpec(spec);
    assert.ok(parsed.valid);
    const cache = (pod: V1Pod) => ({
      env: Object.fromEntries(
        pod.spec!.containers[0]!.env!.filter((e) => e.name.startsWith('CUDA_')).map((e) => [e.name, e.value]),
      ),
      mount: pod.spec!.containers[0]!.volumeMounts!.find((m) => m.name === 'cuda-cache')?.mountPath,
      volume: pod.spec!.volumes!.find((v) => v.name === 'cuda-cache'),
    });
    const perPod = cache(buildTrainerPod(job, parsed.spec, 1, SETTINGS));
    assert.deepEqual(perPod.env, { CUDA_CACHE_PATH: '/var/cache/cuda', CUDA_CACHE_MAXSIZE: String(4 * 1024 ** 3) });
    assert.equal(perPod.mount, '/var/cache/cuda');
    assert.deepEqual(perPod.volume, { name: 'cuda-cache', emptyDir: {} });
    const perNode = cache(
      buildTrainerPod(job, parsed.spec, 1, { ...SETTINGS, cudaCacheHostPath: '/var/cache/finetune-cuda' }),
    );
    assert.deepEqual(perNode.volume, {
      name: 'cuda-cache',
      hostPath: { path: '/var/cache/finetune-cuda', type: 'DirectoryOrCreate' },
    });
    const cpu = validateFineTuneJobSpec({ ...minimalSpec(), resources: { gpus: 0 } });
    assert.ok(cpu.valid);
    assert.equal(cache(buildTrainerPod(job, cpu.spec, 1, SETTINGS)).volume, undefined, 'a CPU trainer needs none');
  });

  it("passes Kueue's queue and priority-class labels to the trainer pod, and no other job label", () => {
    const c = cluster();
    Object.assign(c.state.job.metadata, {
      labels: { 'kueue.x-k8s.io/queue-name': 'gpu-queue', 'kueue.x-k8s.io/priority-class': 'nightly', team: 'vision' },
    });
    const labels = c.step().createPod!.metadata!.labels!;
    assert.equal(labels['kueue.x-k8s.io/queue-name'], 'gpu-queue');
    assert.equal(labels['kueue.x-k8s.io/priority-class'], 'nightly');
    assert.equal(labels['team'], undefined);
  });

  it('is idempotent: a settled job gives an empty decision', () => {
    const c = cluster();
    c.start();
    c.pod(1).status = { phase: 'Running' };
    assert.equal(c.step().status!.phase, 'Running');
    const again = c.step();
    assert.deepEqual(again, { deletePods: [], deleteJob: false, events: [] });
  });

  it('goes Queued while the scheduler cannot place the pod', () => {
    const c = cluster();
    c.start();
    c.pod(1).status = {
      phase: 'Pending',
      conditions: [
        { type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: 'Insufficient nvidia.com/gpu' },
      ],
    };
    assert.equal(c.step().status!.phase, 'Queued');
  });

  it('succeeds when the trainer exits 0, with completion time and an event', () => {
    const c = cluster();
    c.start();
    c.exit(1, 0, later(60));
    const decision = c.step(later(61));
    assert.equal(c.state.job.status!.phase, 'Succeeded');
    assert.equal(c.state.job.status!.completionTime, later(61).toISOString());
    assert.equal(c.conditions()['Succeeded'], 'True/TrainerSucceeded');
    assert.deepEqual(
      decision.events.map((e) => e.reason),
      ['TrainerSucceeded'],
    );
  });

  it('fails at once on a permanent exit code (2), without retrying', () => {
    const c = cluster();
    c.start();
    c.exit(1, 2);
    const decision = c.step();
    assert.equal(decision.createPod, undefined);
    assert.equal(c.conditions()['Failed'], 'True/PodFailurePolicy');
    assert.equal(c.state.job.status!.phase, 'Failed');
  });

  it('retries a transient failure after the backoff delay, counting it, up to backoffLimit', () => {
    const c = cluster({ ...minimalSpec(), backoffLimit: 1 });
    c.start();
    c.exit(1, 3, T0);
    const waiting = c.step(later(1));
    assert.equal(waiting.createPod, undefined);
    assert.equal(waiting.requeueAfterSeconds, 9);
    assert.equal(c.conditions()['Restarting'], 'True/TrainerFailed');
    const retry = c.step(later(10));
    assert.equal(retry.createPod!.metadata!.name, 'flowers-trainer-2');
    assert.equal(c.state.job.status!.failedAttempts, 1);
    c.exit(2, 3, later(30));
    c.step(later(31));
    assert.equal(c.conditions()['Failed'], 'True/BackoffLimitExceeded');
    assert.equal(c.state.pods.length, 2, 'no third attempt');
  });

  it('starts a new attempt without counting it when the pod was deleted or evicted', () => {
    const c = cluster({ ...minimalSpec(), backoffLimit: 0 });
    c.start();
    c.state.pods = [];
    assert.equal(c.step().createPod!.metadata!.name, 'flowers-trainer-2');
    assert.equal(c.conditions()['Restarting'], 'True/PodDeleted');
    c.pod(2).status = { phase: 'Failed', reason: 'Evicted', message: 'node pressure' };
    assert.equal(c.step().createPod!.metadata!.name, 'flowers-trainer-3');
    assert.equal(c.state.job.status!.failedAttempts, 0);
  });

  it('waits until a terminating pod is gone before starting the next attempt (never two live pods)', () => {
    const c = cluster();
    c.start();
    c.pod(1).status = { phase: 'Running' };
    c.step();
    c.pod(1).metadata!.deletionTimestamp = T0;
    assert.equal(c.step().createPod, undefined);
    c.state.pods = [];
    assert.equal(c.step().createPod!.metadata!.name, 'flowers-trainer-2');
  });

  it('fails with DeadlineExceeded and stops the pod after activeDeadlineSeconds', () => {
    const c = cluster({ ...minimalSpec(), activeDeadlineSeconds: 100 });
    assert.equal(c.start().requeueAfterSeconds, 100);
    c.pod(1).status = { phase: 'Running' };
    c.step(later(50));
    const decision = c.step(later(100));
    assert.deepEqual(decision.deletePods, ['flowers-trainer-1']);
    assert.equal(c.conditions()['Failed'], 'True/DeadlineExceeded');
  });

  it('deletes a finished job after ttlSecondsAfterFinished, by a scheduled requeue', () => {
    const c = cluster({ ...minimalSpec(), ttlSecondsAfterFinished: 300 });
    c.start();
    c.exit(1, 0);
    assert.equal(c.step().requeueAfterSeconds, 300);
    assert.equal(c.step(later(200)).requeueAfterSeconds, 100);
    assert.equal(c.step(later(300)).deleteJob, true);
  });

  it('suspends (pod stopped) and resumes (new attempt) on spec.suspend', () => {
    const c = cluster();
    c.start();
    c.pod(1).status = { phase: 'Running' };
    c.step();
    c.state.job.spec = { ...minimalSpec(), suspend: true };
    const suspended = c.step();
    assert.deepEqual(suspended.deletePods, ['flowers-trainer-1']);
    assert.equal(c.state.job.status!.phase, 'Suspended');
    assert.deepEqual(c.step(), { deletePods: [], deleteJob: false, events: [] }, 'suspended and settled');
    c.state.job.spec = { ...minimalSpec(), suspend: false };
    assert.equal(c.step().createPod!.metadata!.name, 'flowers-trainer-2');
    assert.equal(c.conditions()['Suspended'], 'False/JobResumed');
  });

  it('leaves jobs managed by another controller alone', () => {
    const c = cluster({ ...minimalSpec(), managedBy: 'kueue.x-k8s.io/multikueue' });
    assert.deepEqual(c.step(), { deletePods: [], deleteJob: false, events: [] });
  });

  it('marks an invalid spec InvalidSpec/Failed with the field named, once, and does not hot-loop', () => {
    const c = cluster({ ...minimalSpec(), batchSize: 0 });
    const first = c.step();
    assert.match(c.state.job.status!.conditions!.find((x) => x.type === 'InvalidSpec')!.message, /spec\.batchSize/);
    assert.equal(first.events[0]!.type, 'Warning');
    assert.equal(first.requeueAfterSeconds, undefined);
    assert.deepEqual(c.step(), { deletePods: [], deleteJob: false, events: [] });
  });

  it("never takes an earlier job's pods of the same name for its own: deletes them, then starts attempt 1", () => {
    const c = cluster();
    c.start();
    c.exit(1, 0);
    c.step();
    assert.equal(c.state.job.status!.phase, 'Succeeded');
    // The job is deleted with --cascade=orphan (or re-applied before the GC ran) and applied again: a new UID.
    const leftover = c.state.pods;
    leftover[0]!.metadata!.ownerReferences = [];
    c.state.job = { ...c.state.job, metadata: { ...c.state.job.metadata, uid: 'uid-2' }, status: undefined };
    const first = c.step();
    assert.deepEqual(
      [c.state.job.status!.phase, c.state.job.status!.attempts],
      ['Pending', 0],
      'not Succeeded without training',
    );
    assert.deepEqual(first.deletePods, ['flowers-trainer-1']);
    assert.equal(first.createPod, undefined, 'no pod while the old one (and its trainer) may still be there');
    assert.deepEqual(
      first.events.map((e) => e.reason),
      ['DeletingStalePod'],
    );
    assert.equal(c.state.pods.length, 0);
    const created = c.step();
    assert.equal(created.createPod!.metadata!.name, 'flowers-trainer-1');
    assert.equal(created.createPod!.metadata!.ownerReferences![0]!.uid, 'uid-2');
    assert.equal(created.createPod!.spec!.containers[0]!.env!.find((e) => e.name === 'FTJ_JOB_UID')!.value, 'uid-2');
  });

  it("does not count an earlier job's failed pods toward backoffLimit", () => {
    const c = cluster({ ...minimalSpec(), backoffLimit: 0 });
    c.start();
    c.exit(1, 3);
    c.state.pods[0]!.metadata!.ownerReferences![0]!.uid = 'uid-0';
    const decision = c.step();
    assert.notEqual(c.state.job.status!.phase, 'Failed');
    assert.deepEqual(decision.deletePods, ['flowers-trainer-1']);
    assert.equal(c.state.job.status!.failedAttempts, 0);
  });

  it('counts activeDeadlineSeconds over active time only: the clock restarts on resume', () => {
    const c = cluster({ ...minimalSpec(), activeDeadlineSeconds: 100 });
    c.start();
    c.pod(1).status = { phase: 'Running' };
    c.step(later(50));
    c.state.job.spec = { ...minimalSpec(), activeDeadlineSeconds: 100, suspend: true };
    c.step(later(60));
    c.state.job.spec = { ...minimalSpec(), activeDeadlineSeconds: 100, suspend: false };
    const resumed = c.step(later(1000));
    assert.equal(c.state.job.status!.phase, 'Pending', 'suspended for 940 s, resumed: not DeadlineExceeded');
    assert.equal(resumed.requeueAfterSeconds, 100);
    assert.equal(c.state.job.status!.startTime, later(1000).toISOString());
    c.step(later(1100));
    assert.equal(c.conditions()['Failed'], 'True/DeadlineExceeded');
  });

  it('stays Pending, not Queued, while the pod waits for its volumes to bind', () => {
    const c = cluster();
    c.start();
    const unschedulable = (message: string) => ({
      phase: 'Pending',
      conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message }],
    });
    c.pod(1).status = unschedulable('0/1 nodes are available: 1 pod has unbound immediate PersistentVolumeClaims.');
    c.step();
    assert.equal(c.state.job.status!.phase, 'Pending');
    c.pod(1).status = unschedulable('0/1 nodes are available: 1 Insufficient nvidia.com/gpu.');
    assert.equal(c.step().status!.phase, 'Queued');
  });

  it('says why the pod does not run, as kubectl describe pod would, first in the Reason column; clears it once the pod runs', () => {
    const c = cluster();
    c.start();
    const trueReasons = () =>
      (c.state.job.status?.conditions ?? []).filter((x) => x.status === 'True').map((x) => x.reason);
    const message = () => c.state.job.status!.conditions.find((x) => x.type === 'PodPending')?.message;
    c.pod(1).status = {
      phase: 'Pending',
      conditions: [
        {
          type: 'PodScheduled',
          status: 'False',
          reason: 'Unschedulable',
          message: '0/1 nodes are available: 1 persistentvolumeclaim "data.v2" not found.',
        },
      ],
    };
    const missingClaim = c.step();
    assert.equal(c.state.job.status!.phase, 'Pending', 'a missing claim is no queue: Pending');
    assert.equal(trueReasons()[0], 'Unschedulable', 'the Reason column shows the first True condition');
    assert.equal(
      message(),
      'pod flowers-trainer-1: 0/1 nodes are available: 1 persistentvolumeclaim "data.v2" not found.',
    );
    assert.match(
      c.state.job.status!.conditions.find((x) => x.type === 'Reconciling')!.message,
      /the job is pending: pod flowers-trainer-1: .*"data.v2" not found/,
    );
    assert.deepEqual(
      missingClaim.events.map((e) => `${e.type}/${e.reason}`),
      ['Warning/Unschedulable'],
    );
    assert.equal(c.step().status, undefined, 'the same reason again writes nothing');

    c.pod(1).status = {
      phase: 'Pending',
      conditions: [{ type: 'PodScheduled', status: 'True' }],
      containerStatuses: [
        {
          name: 'trainer',
          ready: false,
          restartCount: 0,
          image: 'i',
          imageID: '',
          state: { waiting: { reason: 'CreateContainerConfigError', message: 'secret "s3-credentials" not found' } },
        },
      ],
    };
    c.step();
    assert.equal(trueReasons()[0], 'CreateContainerConfigError');
    assert.equal(message(), 'pod flowers-trainer-1: secret "s3-credentials" not found');

    c.pod(1).status!.containerStatuses![0]!.state = {
      waiting: { reason: 'ImagePullBackOff', message: 'Back-off pulling image "i"' },
    };
    c.step();
    assert.equal(trueReasons()[0], 'ImagePullBackOff');

    c.pod(1).status = { phase: 'Running' };
    c.step();
    assert.equal(c.conditions()['PodPending'], 'False/TrainerRunning');
    assert.equal(trueReasons()[0], 'TrainerRunning');
  });

  it('records waiting for a GPU as the queue at work (a Normal event, phase Queued), not a fault', () => {
    const c = cluster();
    c.start();
    c.pod(1).status = {
      phase: 'Pending',
      conditions: [
        {
          type: 'PodScheduled',
          status: 'False',
          reason: 'Unschedulable',
          message: '0/1 nodes are available: 1 Insufficient nvidia.com/gpu.',
        },
      ],
    };
    const decision = c.step();
    assert.equal(c.state.job.status!.phase, 'Queued');
    assert.deepEqual(
      decision.events.map((e) => `${e.type}/${e.reason}`),
      ['Normal/Unschedulable'],
    );
  });

  it('shows a pod the API server refused in the status, once, and clears it when a pod exists', () => {
    const c = cluster();
    const refused = podCreateRefused(
      { job: c.state.job, pods: [], now: T0 },
      'flowers-trainer-1',
      'serviceaccount "missing" not found',
    );
    assert.equal(refused.status!.phase, 'Pending');
    const failure = refused.status!.conditions.find((x) => x.type === 'PodCreateFailure')!;
    assert.deepEqual([failure.status, failure.reason], ['True', 'FailedCreatePod']);
    assert.match(failure.message, /serviceaccount "missing" not found/);
    assert.deepEqual(
      refused.events.map((e) => e.reason),
      ['FailedCreatePod'],
    );
    c.state.job.status = refused.status;
    const again = podCreateRefused(
      { job: c.state.job, pods: [], now: later(10) },
      'flowers-trainer-1',
      'serviceaccount "missing" not found',
    );
    assert.equal(again.status, undefined, 'a second refusal changes nothing');
    assert.deepEqual(again.events, [], 'and records no second event');
    c.step();
    c.step();
    assert.equal(c.conditions()['PodCreateFailure'], 'False/PodCreated');
  });

  it('retries a trainer stopped by SIGTERM (exit 4, its point saved) without counting it, whatever the rules say', () => {
    const c = cluster({
      ...minimalSpec(),
      backoffLimit: 0,
      retryPolicy: { rules: [{ action: 'Count', onExitCodes: { operator: 'NotIn', values: [0] } }] },
    });
    c.start();
    c.exit(1, 4);
    const retry = c.step();
    assert.equal(retry.createPod!.metadata!.name, 'flowers-trainer-2');
    assert.equal(c.conditions()['Restarting'], 'True/TrainerInterrupted');
    assert.equal(c.state.job.status!.failedAttempts, 0);
  });

  it("gives the trainer pod a termination grace period to save its point (60 s, or podTemplate's)", () => {
    assert.equal(cluster().step().createPod!.spec!.terminationGracePeriodSeconds, 60);
    const custom = cluster({ ...minimalSpec(), podTemplate: { terminationGracePeriodSeconds: 300 } });
    assert.equal(custom.step().createPod!.spec!.terminationGracePeriodSeconds, 300);
  });

  it('settles the Running stage of a trainer that died without reporting: Interrupted, as the trainer, once no pod can run', () => {
    const c = cluster({ ...minimalSpec(), backoffLimit: 1 });
    c.start();
    c.pod(1).status = { phase: 'Running' };
    c.step();
    const head = { name: 'head', state: 'Succeeded', epochsRun: 3 } as const;
    const fineTune = { name: 'fine-tune', state: 'Running', epochsRun: 2, startTime: T0.toISOString() } as const;
    c.state.job.status = {
      ...c.state.job.status!,
      stage: 'fine-tune',
      stages: [head, fineTune],
      metrics: { epoch: 2, loss: 0.5 },
    };
    c.pod(1).metadata!.deletionTimestamp = T0;
    assert.equal(c.step().trainerStatus, undefined, 'a terminating trainer may still report its own interruption');
    delete c.pod(1).metadata!.deletionTimestamp;
    c.exit(1, 137, T0); // SIGKILL: no report
    const decision = c.step(later(1));
    const settled = decision.trainerStatus!;
    assert.deepEqual(
      settled.stages!.map((s) => [s.name, s.state, s.endReason]),
      [
        ['head', 'Succeeded', undefined],
        ['fine-tune', 'Interrupted', 'Interrupted'],
      ],
    );
    assert.match(settled.stages![1]!.message!, /stopped without reporting.*the next attempt resumes/);
    assert.deepEqual(
      settled.metrics,
      { epoch: 2, loss: 0.5 },
      "the trainer's other fields are kept: the apply owns them all",
    );
    c.state.job.status = { ...c.state.job.status!, ...settled };
    assert.equal(c.step(later(2)).trainerStatus, undefined, 'settled once');

    c.state.job.status = { ...c.state.job.status!, stages: [head, fineTune] };
    c.step(later(20));
    c.exit(2, 137, later(30));
    const failed = c.step(later(31));
    assert.equal(c.state.job.status!.phase, 'Failed');
    assert.deepEqual(
      failed.trainerStatus!.stages!.map((s) => s.state),
      ['Succeeded', 'Failed'],
    );
  });

  it('says that a spec edited while an attempt runs applies from the next attempt, and that a finished job does not run again', () => {
    const c = cluster();
    c.start();
    c.pod(1).status = { phase: 'Running' };
    c.step();
    c.state.job.metadata.generation = 2;
    c.state.job.spec = { ...minimalSpec(), batchSize: 16 };
    const edited = c.step();
    assert.deepEqual(
      edited.events.map((e) => e.reason),
      ['SpecChanged'],
    );
    assert.equal(edited.createPod, undefined, 'the running attempt is left alone');
    assert.deepEqual(c.step().events, [], 'said once');
    c.exit(1, 0);
    c.step();
    c.state.job.metadata.generation = 3;
    assert.deepEqual(
      c.step().events.map((e) => e.reason),
      ['SpecChangeIgnored'],
    );
    assert.equal(c.state.job.status!.phase, 'Succeeded');
  });

  it('carries what kstatus reads: in progress while it trains, Failed once failed for good, Current when done or suspended', () => {
    // kstatus' documented rules for custom resources (cli-utils, Flux): a stale observedGeneration or
    // Reconciling=True is InProgress, Stalled=True is Failed, anything else is Current.
    const kstatus = (job: { metadata: { generation: number }; status?: FineTuneJobStatus }) => {
      const status = job.status;
      if (status?.observedGeneration !== undefined && status.observedGeneration !== job.metadata.generation)
        return 'InProgress';
      const isTrue = (type: string) => status?.conditions?.some((c) => c.type === type && c.status === 'True');
      if (isTrue('Reconciling')) return 'InProgress';
      if (isTrue('Stalled')) return 'Failed';
      return 'Current';
    };
    const c = cluster({ ...minimalSpec(), backoffLimit: 0 });
    c.start();
    assert.equal(kstatus(c.state.job), 'InProgress', 'Pending');
    c.pod(1).status = { phase: 'Running' };
    c.step();
    assert.equal(kstatus(c.state.job), 'InProgress', 'Running');
    c.state.job.spec = { ...minimalSpec(), backoffLimit: 0, suspend: true };
    c.state.job.metadata.generation = 2;
    assert.equal(kstatus(c.state.job), 'InProgress', 'a spec change not yet observed');
    c.step();
    assert.equal(kstatus(c.state.job), 'Current', 'Suspended');
    c.state.job.spec = { ...minimalSpec(), backoffLimit: 0 };
    c.state.job.metadata.generation = 3;
    c.step();
    c.exit(2, 3);
    c.step();
    assert.equal(c.state.job.status!.phase, 'Failed');
    assert.equal(kstatus(c.state.job), 'Failed');
    assert.equal(c.conditions()['Stalled'], 'True/BackoffLimitExceeded');

    const done = cluster();
    done.start();
    done.exit(1, 0);
    done.step();
    assert.equal(kstatus(done.state.job), 'Current');
    assert.equal(done.conditions()['Ready'], 'True/Succeeded');
  });
});

describe('trainer pod', () => {
  const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
  const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
  const SETTINGS_ = { trainerImage: 'i', trainerServiceAccount: 'sa' };
  const spec = (extra: Record<string, unknown>) => {
    const result = validateFineTuneJobSpec({ ...minimalSpec(), ...extra });
    assert.ok(result.valid, JSON.stringify(!result.valid && result.errors));
    return result.spec;
  };

  it('is valid for a job name of 253 characters: label value and pod name within their limits, distinct per name', () => {
    const long = (end: string) => `${'a'.repeat(61)}.${'b'.repeat(120)}.${'c'.repeat(69)}${end}`;
    const [one, two] = ['x', 'y'].map((end) =>
      buildTrainerPod({ name: long(end), namespace: 'team', uid: 'u' }, spec({}), 12, SETTINGS_),
    );
    for (const pod of [one!, two!]) {
      const label = pod.metadata!.labels!['finetune.dev/job-name']!;
      assert.ok(label.length <= 63 && LABEL_VALUE.test(label), label);
      assert.ok(pod.metadata!.name!.length <= 253, `${pod.metadata!.name!.length}`);
      assert.match(pod.metadata!.name!, /-trainer-12$/);
    }
    assert.notEqual(one!.metadata!.labels!['finetune.dev/job-name'], two!.metadata!.labels!['finetune.dev/job-name']);
    assert.notEqual(one!.metadata!.name, two!.metadata!.name);
  });

  it("gives the trainer the storage Secret's keys as its environment, and no volume for a location in a bucket", () => {
    const pod = buildTrainerPod(
      { name: 'j', namespace: 'team', uid: 'u' },
      spec({
        model: { uri: 's3://models/base/model.json', input: { shape: [64, 64, 3] } },
        dataset: { uri: 's3://data/flowers', format: 'ImageFolder' },
        output: { uri: 's3://models/out' },
        storage: { secretRef: { name: 's3-credentials' } },
      }),
      1,
      SETTINGS_,
    );
    assert.deepEqual(pod.spec!.containers[0]!.envFrom, [{ secretRef: { name: 's3-credentials' } }]);
    assert.ok(!pod.spec!.volumes!.some((v) => v.persistentVolumeClaim), 'no PersistentVolumeClaim');
    assert.equal(
      buildTrainerPod({ name: 'j', namespace: 'team', uid: 'u' }, spec({}), 1, SETTINGS_).spec!.containers[0]!.envFrom,
      undefined,
    );
  });

  it('names the volume of a claim with dots (a valid claim name) as a DNS label, distinct per claim', () => {
    const pod = buildTrainerPod(
      { name: 'j', namespace: 'team', uid: 'u' },
      spec({
        dataset: { pvc: { claimName: 'data.v1', path: 'x' }, format: 'ImageFolder' },
        output: { pvc: { claimName: 'data-v1', path: 'out' } },
      }),
      1,
      SETTINGS_,
    );
    const names = pod.spec!.volumes!.map((v) => v.name);
    for (const name of names) assert.ok(name.length <= 63 && DNS_LABEL.test(name), name);
    assert.equal(new Set(names).size, names.length);
    const mounts = pod.spec!.containers[0]!.volumeMounts!;
    assert.equal(
      mounts.find((m) => m.mountPath === '/mnt/pvc/data.v1')!.name,
      pod.spec!.volumes!.find((v) => v.persistentVolumeClaim?.claimName === 'data.v1')!.name,
    );
  });
});
