import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import { type FineTuneJobStatus } from '../../src/api/v1alpha1/index.ts';
import { reconcileFineTuneJob } from '../../src/operator/reconcile/finetunejob-reconciler.ts';
import { minimalSpec } from '../api/spec-fixtures.ts';
import { ROOT } from '../support/paths.ts';

const SCRIPT = join(ROOT, 'deploy', 'argocd', 'finetunejob-health.lua');

/** A JSON value as a Lua table constructor (what Argo CD hands the script as `obj`). */
function lua(value: unknown): string {
  if (value === null || value === undefined) return 'nil';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return `{${value.map(lua).join(', ')}}`;
  return `{${Object.entries(value)
    .map(([k, v]) => `[${JSON.stringify(k)}] = ${lua(v)}`)
    .join(', ')}}`;
}

/** Runs the health script with Debian's Lua 5.4, as Argo CD's gopher-lua would. */
function health(obj: object): { status: string; message: string } {
  const program = `obj = ${lua(obj)}\nlocal hs = dofile(${JSON.stringify(SCRIPT)})\nio.write(hs.status, "\\t", hs.message)`;
  const [status, message] = execFileSync('lua5.4', ['-'], { input: program, encoding: 'utf8' }).split('\t') as [
    string,
    string,
  ];
  return { status, message };
}

/** The statuses the operator really writes, through the pure reconcile: the job in each phase. */
function lifecycle() {
  const job = {
    metadata: { name: 'nightly', namespace: 'team', uid: 'u1', generation: 1 },
    spec: minimalSpec() as Record<string, unknown>,
    status: undefined as FineTuneJobStatus | undefined,
  };
  let pods: V1Pod[] = [];
  const step = () => {
    const decision = reconcileFineTuneJob(
      { job, pods, now: new Date('2026-11-30T10:00:00Z') },
      { trainerImage: 'i', trainerServiceAccount: 'sa', retryBaseSeconds: 10 },
    );
    if (decision.status) job.status = { ...job.status, ...decision.status };
    if (decision.createPod) pods.push({ ...decision.createPod, status: { phase: 'Pending' } });
    return structuredClone(job);
  };
  const pod = () => pods[pods.length - 1]!;
  const terminated = (exitCode: number) => ({
    phase: exitCode ? 'Failed' : 'Succeeded',
    containerStatuses: [
      { name: 'trainer', ready: false, restartCount: 0, image: '', imageID: '', state: { terminated: { exitCode } } },
    ],
  });
  return {
    created: () => {
      step();
      return structuredClone(job);
    },
    pending: () => step(),
    running: () => {
      pod().status = { phase: 'Running' };
      return step();
    },
    succeeded: () => {
      pod().status = terminated(0);
      return step();
    },
    failed: () => {
      pod().status = terminated(2);
      return step();
    },
    suspended: () => {
      job.spec = { ...job.spec, suspend: true };
      return step();
    },
    edited: () => {
      job.metadata.generation++;
      return structuredClone(job);
    },
    reset: () => {
      job.status = undefined;
      pods = [];
      job.spec = minimalSpec();
    },
  };
}

describe('Argo CD health check (deploy/argocd/finetunejob-health.lua, run by Lua 5.4)', () => {
  it('is Progressing while pending or running, Healthy once succeeded, Degraded once failed, Suspended while suspended', () => {
    const job = lifecycle();
    assert.deepEqual(health(job.created()), { status: 'Progressing', message: 'Waiting for the operator' });
    assert.equal(health(job.pending()).status, 'Progressing');
    const running = health(job.running());
    assert.equal(running.status, 'Progressing');
    assert.match(running.message, /^Running \(TrainerRunning/);
    const edited = health(job.edited());
    assert.deepEqual(edited, { status: 'Progressing', message: 'Waiting for the operator to observe generation 2' });
    const done = health(job.succeeded());
    assert.equal(done.status, 'Healthy');
    assert.match(done.message, /^Succeeded \(TrainerSucceeded: the fine-tuned model was exported/);

    job.reset();
    job.created();
    job.pending();
    const failed = health(job.failed());
    assert.equal(failed.status, 'Degraded');
    assert.match(failed.message, /^Failed \(PodFailurePolicy: trainer exited with code 2/);

    job.reset();
    job.created();
    job.running();
    assert.equal(health(job.suspended()).status, 'Suspended');
  });
});
