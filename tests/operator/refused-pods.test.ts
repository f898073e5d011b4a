import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { installCRDs } from '../support/cluster.ts';
import { condition, withOperator } from './support/operator-harness.ts';

/**
 * Manifests the schema and the validator accept but Kubernetes refuses as a
 * pod: each job must show why in its status (never an empty row). And two
 * that come from valid jobs must give valid pods.
 */
const REFUSED: [string, Record<string, unknown>, RegExp][] = [
  [
    'no-account',
    { podTemplate: { serviceAccountName: 'does-not-exist' } },
    /serviceaccount "does-not-exist" not found/,
  ],
  ['no-priority', { podTemplate: { priorityClassName: 'does-not-exist' } }, /PriorityClass.*does-not-exist/i],
  ['bad-label', { podTemplate: { labels: { team: 'not a label value!' } } }, /metadata\.labels/],
  ['bad-env', { podTemplate: { env: [{ name: '1-NOT-AN-ENV', value: 'x' }] } }, /env\[\d+\]\.name/],
  ['bad-volume', { podTemplate: { volumes: [{ name: 'Not_A_Label', emptyDir: {} }] } }, /volumes\[\d+\]\.name/],
  [
    'bad-toleration',
    { podTemplate: { tolerations: [{ key: 'gpu', operator: 'Sometimes' }] } },
    /tolerations\[0\]\.operator/,
  ],
];

describe('operator: pods the API server refuses, and valid jobs that need care', () => {
  before(installCRDs);

  it("shows every refusal in the status with the API server's message; long names and dotted claims give valid pods", async (t) => {
    const { api } = await withOperator(t, 'op-corpus');
    for (const [name, spec] of REFUSED) await api.create(name, spec);
    const long = `a${'-long'.repeat(16)}-job-name-that-is-longer-than-a-label-value-may-be`;
    assert.ok(long.length > 63);
    await api.create(long);
    await api.create('dotted-claim', { output: { pvc: { claimName: 'models.v2', path: 'out' } } });

    for (const [name, , message] of REFUSED) {
      const job = await api.waitFor(
        name,
        (j) => condition(j, 'PodCreateFailure') === 'True/FailedCreatePod',
        `${name}: PodCreateFailure`,
      );
      assert.equal(job.status!.phase, 'Pending', name);
      assert.match(job.status!.conditions!.find((c) => c.type === 'PodCreateFailure')!.message, message, name);
    }
    for (const name of [long, 'dotted-claim']) {
      const job = await api.waitFor(name, (j) => condition(j, 'Created') === 'True/PodCreated', `${name}: a pod`);
      assert.notEqual(condition(job, 'PodCreateFailure'), 'True/FailedCreatePod', name);
    }
  });
});
