// End to end on the local control plane, with a real S3 server (Ceph RGW): jobs whose model, data and
// output are in a bucket, credentials from a Secret the operator never reads.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { before, describe, it } from 'node:test';
import { CoreV1Api } from '@kubernetes/client-node';
import { S3Store } from '../../src/trainer/storage/s3-store.ts';
import { eventually, installCRDs, kubeConfig } from '../support/cluster.ts';
import { s3Credentials, testBucket, uploadTo, useS3Credentials } from '../support/object-store.ts';
import { pretrainedBase } from '../trainer/support/workspace.ts';
import { localCluster } from './support/local-cluster.ts';

const SLOW_STAGES = [
  { name: 'head', epochs: 2 },
  { name: 'fine-tune', epochs: 30, unfreeze: { policy: 'All' }, earlyStopping: { enabled: false } },
];
const IDX = { images: 'images.idx.gz', labels: 'labels.idx.gz' };

describe('end to end: object storage', () => {
  before(installCRDs);

  it("trains from a bucket into a bucket with a Secret's credentials; a SIGKILLed trainer's retry, on an empty disk, resumes from the bucket", async (t) => {
    const { root, namespace, agent, api, spec } = await localCluster(t, { perClass: 80 });
    useS3Credentials(t);
    const bucket = await testBucket('e2e');
    const model = await uploadTo(bucket, 'models/base', dirname(await pretrainedBase()));
    const data = await uploadTo(bucket, 'data', join(root, 'data'));
    const core = kubeConfig().makeApiClient(CoreV1Api);
    await core.createNamespacedSecret({
      namespace,
      body: { metadata: { name: 's3-credentials' }, stringData: s3Credentials() },
    });
    const base = spec('in-bucket', SLOW_STAGES);
    await api.create('in-bucket', {
      ...base,
      model: { ...base.model, uri: `${model}/model.json` },
      dataset: { uri: data, format: 'IDX', idx: IDX },
      output: { uri: `s3://${bucket}/out/in-bucket` },
      storage: { secretRef: { name: 's3-credentials' } },
    });
    await eventually(
      () => /\[fine-tune\] epoch 2\//.test(agent.logs(namespace, 'in-bucket-trainer-1')),
      'the trainer in its fine-tune stage',
      180_000,
    );
    assert.match(
      agent.logs(namespace, 'in-bucket-trainer-1'),
      new RegExp(`checkpoint committed to s3://${bucket}/out/in-bucket/checkpoints: [\\d.]+ MB in [\\d.]+ s`),
    );
    process.kill(-agent.pidOf(namespace, 'in-bucket-trainer-1')!, 'SIGKILL');
    // The retry lands on a node with nothing on its disk: no cached model, data or checkpoint.
    rmSync(join(root, 'cache'), { recursive: true, force: true });

    const job = await api.waitFor(
      'in-bucket',
      (j) => j.status?.phase === 'Succeeded' || j.status?.phase === 'Failed',
      'the job to finish',
      300_000,
    );
    const second = agent.logs(namespace, 'in-bucket-trainer-2');
    assert.equal(job.status!.phase, 'Succeeded', second);
    assert.match(second, /resuming from checkpoint: stage "head" already completed, not run again/);
    assert.equal(job.status!.outputURI, `s3://${bucket}/out/in-bucket`);
    const listed = (await new S3Store('s3', bucket, 'out/in-bucket').list()).map((entry) => entry.path);
    assert.ok(listed.includes('model.json') && listed.includes('metadata.json'), listed.join(', '));
  });

  it('says which Secret is missing (CreateContainerConfigError), and fails at once on wrong keys, naming the URI and the code', async (t) => {
    const { namespace, api, spec } = await localCluster(t);
    useS3Credentials(t);
    const bucket = await testBucket('keys');
    const model = await uploadTo(bucket, 'models/base', dirname(await pretrainedBase()));
    const inBucket = (name: string, secret: string) => {
      const base = spec(name, [{ name: 'head', epochs: 1 }]);
      return {
        ...base,
        model: { ...base.model, uri: `${model}/model.json` },
        output: { uri: `s3://${bucket}/out/${name}` },
        storage: { secretRef: { name: secret } },
      };
    };
    await api.create('no-secret', inBucket('no-secret', 'missing-credentials'));
    const waiting = await api.waitFor(
      'no-secret',
      (j) => j.status?.conditions.some((c) => c.type === 'PodPending' && c.status === 'True') ?? false,
      'the pod to wait',
      60_000,
    );
    const pending = waiting.status!.conditions.find((c) => c.type === 'PodPending')!;
    assert.equal(pending.reason, 'CreateContainerConfigError');
    assert.equal(pending.message, 'pod no-secret-trainer-1: secret "missing-credentials" not found');

    const core = kubeConfig().makeApiClient(CoreV1Api);
    await core.createNamespacedSecret({
      namespace,
      body: { metadata: { name: 'wrong' }, stringData: { ...s3Credentials(), AWS_SECRET_ACCESS_KEY: 'not-it' } },
    });
    await api.create('wrong-keys', inBucket('wrong-keys', 'wrong'));
    const failed = await api.waitFor('wrong-keys', (j) => j.status?.phase === 'Failed', 'the job to fail', 120_000);
    const reason = failed.status!.conditions.find((c) => c.type === 'Failed')!;
    assert.match(
      reason.message,
      new RegExp(`s3://${bucket}/models/base/model\\.json: Forbidden \\(HTTP 403\\).*AWS_SECRET_ACCESS_KEY`),
    );
    assert.equal(failed.status!.attempts, 1, 'not retried: wrong keys stay wrong');
  });
});
