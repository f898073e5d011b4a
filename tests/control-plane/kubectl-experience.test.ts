import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { API_VERSION, FINETUNEJOB, GROUP, VERSION } from '../../src/api/v1alpha1/index.ts';
import { minimalSpec } from '../api/spec-fixtures.ts';
import { installCRDs, kubeConfig, kubectl, testNamespace } from '../support/cluster.ts';

const plural = FINETUNEJOB.plural;
type Job = {
  metadata: { name: string; generation: number };
  spec: Record<string, unknown>;
  status?: Record<string, unknown>;
};

async function createJob(namespace: string, name: string): Promise<Job> {
  const api = kubeConfig().makeApiClient(CustomObjectsApi);
  return (await api.createNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    namespace,
    plural,
    body: { apiVersion: API_VERSION, kind: FINETUNEJOB.kind, metadata: { name }, spec: minimalSpec() },
  })) as Job;
}

async function writeStatus(namespace: string, job: Job, status: Record<string, unknown>): Promise<Job> {
  const api = kubeConfig().makeApiClient(CustomObjectsApi);
  return (await api.replaceNamespacedCustomObjectStatus({
    group: GROUP,
    version: VERSION,
    namespace,
    plural,
    name: job.metadata.name,
    body: { ...job, status },
  })) as Job;
}

const now = new Date().toISOString();
const runningStatus = {
  phase: 'Running',
  stage: 'fine-tune',
  progress: { epoch: 3, totalEpochs: 10, percent: 65 },
  metrics: { epoch: 3, valAccuracy: 0.9123, valLoss: 0.25 },
  attempts: 2,
  conditions: [
    { type: 'Running', status: 'True', reason: 'TrainerRunning', message: '', lastTransitionTime: now },
    {
      type: 'Restarting',
      status: 'False',
      reason: 'PodDeleted',
      message: 'an earlier pod was deleted',
      lastTransitionTime: now,
    },
  ],
};

describe('kubectl shows FineTuneJobs as a platform engineer expects', () => {
  before(installCRDs);

  it("explains spec.stages with the schema's descriptions", async () => {
    const { code, stdout, stderr } = await kubectl(['explain', 'finetunejob.spec.stages']);
    assert.equal(code, 0, stderr);
    assert.match(stdout, /Training stages, run in order/);
    assert.match(stdout, /unfreeze\s+<Object>\s+Which layers of the base train in this stage/);
    assert.match(stdout, /batchNormalization\s+<string>\s+Auto \(default\): Train in a/);
  });

  it('explains a default through the short name', async () => {
    const { stdout } = await kubectl(['explain', 'ftj.spec.head.dropout']);
    assert.match(stdout, /Dropout rate before the output layer\. Default: 0\.2\./);
  });

  it('lists jobs under the short name and the finetune category with the printer columns', async (t) => {
    const namespace = await testNamespace(t, 'columns');
    await createJob(namespace, 'fresh');
    const { stdout } = await kubectl(['get', 'ftj', '-n', namespace]);
    assert.match(stdout.split('\n')[0]!, /^NAME\s+PHASE\s+STAGE\s+EPOCH\s+VAL-ACC\s+TEST-ACC\s+AGE$/);
    const category = await kubectl(['get', 'finetune', '-n', namespace]);
    assert.match(category.stdout, /finetunejob\.finetune\.dev\/fresh/);
  });

  it('shows a status written through the status subresource in the columns; stale conditions never show', async (t) => {
    const namespace = await testNamespace(t, 'status');
    const job = await createJob(namespace, 'train');
    await writeStatus(namespace, job, runningStatus);
    const { stdout } = await kubectl(['get', 'ftj', 'train', '-n', namespace, '-o', 'wide', '--no-headers']);
    const [name, phase, stage, epoch, valAcc, attempts, reason] = stdout.trim().split(/\s+/);
    assert.deepEqual(
      [name, phase, stage, epoch, valAcc, attempts, reason],
      ['train', 'Running', 'fine-tune', '3', '0.9123', '2', 'TrainerRunning'],
    );
    assert.doesNotMatch(stdout, /PodDeleted/);
  });

  it('keeps spec and status apart: status writes cannot change the spec, spec writes cannot change the status', async (t) => {
    const namespace = await testNamespace(t, 'subresource');
    const api = kubeConfig().makeApiClient(CustomObjectsApi);
    const job = await createJob(namespace, 'split');
    const afterStatus = await writeStatus(namespace, { ...job, spec: { ...job.spec, batchSize: 7 } }, runningStatus);
    assert.equal(afterStatus.spec['batchSize'], undefined, 'a status write changed the spec');
    assert.equal(afterStatus.metadata.generation, job.metadata.generation);

    const replaced = (await api.replaceNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace,
      plural,
      name: 'split',
      body: { ...afterStatus, spec: { ...afterStatus.spec, batchSize: 16 }, status: { phase: 'Failed' } },
    })) as Job;
    assert.equal(replaced.status?.['phase'], 'Running', 'a spec write changed the status');
    assert.equal(replaced.metadata.generation, job.metadata.generation + 1, 'a spec change bumps the generation');
  });
});
