import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import type { FineTuneJobStatus } from '../../src/api/v1alpha1/index.ts';
import { type Decision, reconcileFineTuneJob } from '../../src/operator/reconcile/finetunejob-reconciler.ts';
import { minimalSpec } from '../api/spec-fixtures.ts';

const SETTINGS = { trainerImage: 'finetune/trainer:test', trainerServiceAccount: 'finetune-trainer', retryBaseSeconds: 10 };
const T0 = new Date('2026-11-28T10:00:00Z');
const later = (s: number) => new Date(T0.getTime() + s * 1000);

/** A job plus the pods "the cluster" has; `step` reconciles and applies the decision as the API would. */
function cluster(spec: Record<string, unknown> = minimalSpec()) {
  const state = {
    job: { metadata: { name: 'flowers', namespace: 'team', uid: 'uid-1', generation: 1 }, spec, status: undefined as FineTuneJobStatus | undefined },
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
  const start = (now = T0): Decision => { step(now); return step(now); };
  const pod = (attempt: number) => state.pods.find((p) => p.metadata!.name === `flowers-trainer-${attempt}`)!;
  const exit = (attempt: number, exitCode: number, at = T0) => {
    pod(attempt).status = { phase: exitCode === 0 ? 'Succeeded' : 'Failed', containerStatuses: [{ name: 'trainer', ready: false, restartCount: 0, image: '', imageID: '', state: { terminated: { exitCode, finishedAt: at } } }] };
  };
  const conditions = () => Object.fromEntries((state.job.status?.conditions ?? []).map((c) => [c.type, `${c.status}/${c.reason}`]));
  return { state, step, start, pod, exit, conditions };
}

describe('FineTuneJob reconcile (pure state machine)', () => {
  it('creates the first trainer pod with GPU limits, owner, security context and the spec', () => {
    const c = cluster({ ...minimalSpec(), resources: { gpus: 2, memory: '8Gi' }, dataset: { pvc: { claimName: 'data', path: 'flowers' }, format: 'ImageFolder' } });
    const decision = c.step();
    const pod = decision.createPod!;
    assert.equal(pod.metadata!.name, 'flowers-trainer-1');
    assert.deepEqual(pod.metadata!.ownerReferences, [{ apiVersion: 'finetune.dev/v1alpha1', kind: 'FineTuneJob', name: 'flowers', uid: 'uid-1', controller: true, blockOwnerDeletion: true }]);
    const container = pod.spec!.containers[0]!;
    assert.deepEqual(container.resources!.limits, { 'nvidia.com/gpu': '2', memory: '8Gi' });
    assert.deepEqual(container.resources!.requests, container.resources!.limits);
    assert.equal(container.securityContext!.readOnlyRootFilesystem, true);
    assert.equal(container.securityContext!.allowPrivilegeEscalation, false);
    assert.equal(pod.spec!.securityContext!.seccompProfile!.type, 'RuntimeDefault');
    assert.equal(pod.spec!.restartPolicy, 'Never');
    assert.deepEqual(pod.spec!.volumes!.find((v) => v.name === 'pvc-data')!.persistentVolumeClaim, { claimName: 'data', readOnly: true });
    assert.equal(JSON.parse(container.env!.find((e) => e.name === 'FTJ_SPEC')!.value!).spec.resources.gpus, 2);
    assert.equal(decision.status, undefined, 'a new job\'s first pass only creates the pod');
    assert.deepEqual(decision.events, []);
    const observed = c.step();
    assert.deepEqual([c.state.job.status!.phase, c.state.job.status!.attempts, c.state.job.status!.podName], ['Pending', 1, 'flowers-trainer-1']);
    assert.equal(c.conditions()['Created'], 'True/PodCreated');
    assert.deepEqual(observed.events.map((e) => e.reason), ['PodCreated']);
    assert.equal(observed.createPod, undefined, 'the observed pod is not created twice');
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
    c.pod(1).status = { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: 'Insufficient nvidia.com/gpu' }] };
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
    assert.deepEqual(decision.events.map((e) => e.reason), ['TrainerSucceeded']);
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
});
