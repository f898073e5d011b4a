// A FineTuneSchedule's retraining pipeline end to end on the local node agent, with real training:
// the first run starts from the base and is promoted; the next day's run starts from the first
// run's exported model (warmStart), and the promotion gate decides on it.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it, type TestContext } from 'node:test';
import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import {
  API_VERSION,
  FINETUNESCHEDULE,
  type FineTuneScheduleStatus,
  GROUP,
  VERSION,
} from '../../src/api/v1alpha1/index.ts';
import { runName } from '../../src/api/v1alpha1/index.ts';
import { S3Store } from '../../src/trainer/storage/s3-store.ts';
import { eventually, installCRDs, kubeConfig, kubectl } from '../support/cluster.ts';
import { s3Credentials, testBucket, uploadTo, useS3Credentials } from '../support/object-store.ts';
import { TRANSFER_CLASSES } from '../../src/local/quickstart/fashion-base-model.ts';
import { fashionSubset } from '../../src/local/quickstart/fashion-mnist.ts';
import { localCluster } from './support/local-cluster.ts';
import { pngs, predictorPod } from './support/predictor-pod.ts';

type Schedule = { metadata: { uid: string }; status?: FineTuneScheduleStatus };

/**
 * The local cluster with a FineTuneSchedule "nightly" due a few seconds after it is created (the operator's
 * clock is shifted), with `spec` on top of a daily schedule at that time; `moveTo` shifts the clock.
 */
async function nightlySchedule(
  t: TestContext,
  stages: unknown[],
  spec: Record<string, unknown>,
  changeTemplate: (
    template: Record<string, unknown>,
    cluster: Awaited<ReturnType<typeof localCluster>>,
  ) => Promise<Record<string, unknown>> = async (template) => template,
) {
  const due = new Date(Math.ceil((Date.now() + 120_000) / 60_000) * 60_000);
  let offset = due.getTime() - 3_000 - Date.now();
  const cluster = await localCluster(t, { clock: () => new Date(Date.now() + offset) });
  const custom = kubeConfig().makeApiClient(CustomObjectsApi);
  const ref = { group: GROUP, version: VERSION, namespace: cluster.namespace, plural: FINETUNESCHEDULE.plural };
  const template = await changeTemplate({ ...cluster.spec('nightly'), stages }, cluster);
  offset = due.getTime() - 3_000 - Date.now();
  await custom.createNamespacedCustomObject({
    ...ref,
    body: {
      apiVersion: API_VERSION,
      kind: FINETUNESCHEDULE.kind,
      metadata: { name: 'nightly' },
      spec: {
        schedule: `${due.getUTCMinutes()} ${due.getUTCHours()} * * *`,
        timeZone: 'Etc/UTC',
        jobTemplate: { spec: template },
        ...spec,
      },
    },
  });
  return {
    cluster,
    due,
    template: template as ReturnType<typeof cluster.spec>,
    custom,
    schedule: async () => (await custom.getNamespacedCustomObject({ ...ref, name: 'nightly' })) as Schedule,
    moveTo: (time: Date) => {
      offset = time.getTime() - Date.now();
    },
    /** The scheduled time `days` after the first: the clock moved just past it, and the schedule woken. */
    nextDay: async (days: number) => {
      const time = new Date(due.getTime() + days * 24 * 3600_000);
      offset = time.getTime() + 1_000 - Date.now();
      await kubectl(['annotate', '--overwrite', 'ftsched', 'nightly', '-n', cluster.namespace, `test/wake=${days}`]);
      return time;
    },
  };
}

describe('scheduled retraining on the local node agent', () => {
  before(installCRDs);

  it("the second run fine-tunes the first run's model (warmStart), and the promotion gate names the promoted run in latest.json", async (t) => {
    const { cluster, due, template, custom, schedule, moveTo } = await nightlySchedule(
      t,
      [
        { name: 'head', epochs: 2 },
        { name: 'fine-tune', epochs: 1, unfreeze: { policy: 'All' } },
      ],
      { warmStart: 'LastSucceeded', promotion: { metric: 'valAccuracy' } },
    );
    const { namespace, root, api } = cluster;
    const first = runName('nightly', due);
    const firstJob = await api.waitFor(
      first,
      (job) => job.status?.phase === 'Succeeded' || job.status?.phase === 'Failed',
      `${first} finished`,
      180_000,
    );
    assert.equal(firstJob.status!.phase, 'Succeeded', JSON.stringify(firstJob.status?.conditions));
    assert.equal(
      (firstJob.spec['model'] as { uri: string }).uri,
      template.model.uri,
      'the first run starts from the base',
    );
    await eventually(async () => (await schedule()).status?.promoted?.name === first, 'the first run promoted', 20_000);
    const pointer = join(root, 'output', 'nightly', 'latest.json');
    assert.equal((JSON.parse(readFileSync(pointer, 'utf8')) as { job: string }).job, `${namespace}/${first}`);

    // The next day: move the clock, and wake the schedule (any change to it does).
    const nextDue = new Date(due.getTime() + 24 * 3600_000);
    moveTo(new Date(nextDue.getTime() + 1_000));
    await kubectl(['annotate', 'ftsched', 'nightly', '-n', namespace, 'test/wake=1']);
    const second = runName('nightly', nextDue);
    const secondJob = await api.waitFor(
      second,
      (job) => job.status?.phase === 'Succeeded' || job.status?.phase === 'Failed',
      `${second} finished`,
      180_000,
    );
    assert.equal(secondJob.status!.phase, 'Succeeded', JSON.stringify(secondJob.status?.conditions));
    const model = secondJob.spec['model'] as { uri: string; format: string; outputKind: string };
    assert.deepEqual(
      [model.uri, model.format, model.outputKind],
      [`file://${join(root, 'output', 'nightly', first, 'model.json')}`, 'Layers', 'Classifier'],
    );
    const runs = (await custom.getNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace,
      plural: 'finetunejobs',
      name: second,
    })) as { metadata: { annotations: Record<string, string> } };
    assert.equal(runs.metadata.annotations['finetune.dev/warm-start-from'], first);
    const decision = secondJob.status!.promotion!;
    assert.ok(decision, 'the trainer decided on promotion');
    assert.equal(decision.previous?.job, `${namespace}/${first}`, 'compared with the promoted first run');
    await eventually(
      async () => (await schedule()).status?.lastSuccessfulRun?.name === second,
      'the second run recorded',
      20_000,
    );
    const promoted = (await schedule()).status!.promoted!.name;
    assert.equal(promoted, decision.promoted ? second : first, "the schedule follows the trainer's decision");
    assert.equal(
      (JSON.parse(readFileSync(pointer, 'utf8')) as { job: string }).job,
      `${namespace}/${promoted}`,
      'and so does latest.json',
    );
    const exposition = await cluster.operator.metrics.registry.metrics();
    const value = (await schedule()).status!.promoted!.value;
    assert.match(
      exposition,
      new RegExp(
        `finetune_schedule_promoted_value\\{namespace="${namespace}",schedule="nightly",metric="valAccuracy"\\} ${value}`,
      ),
    );
  });

  it('a predictor following latest.json swaps to the promoted second run, with no failed request while a client keeps asking', async (t) => {
    const { cluster, due, custom, schedule, nextDay } = await nightlySchedule(
      t,
      // The first run barely moves from its random head (a learning rate of 1e-7), so that the second,
      // trained properly, beats it and is promoted.
      [{ name: 'head', epochs: 1, optimizer: { learningRate: 1e-7 } }],
      { promotion: { metric: 'valAccuracy' } },
    );
    const { namespace, root, api, agent } = cluster;
    const first = runName('nightly', due);
    await api.waitFor(first, (job) => job.status?.phase === 'Succeeded', `${first} succeeded`, 180_000);
    await eventually(async () => (await schedule()).status?.promoted?.name === first, 'the first run promoted', 20_000);
    const pointer = `file://${join(root, 'output', 'nightly', 'latest.json')}`;
    const url = await predictorPod(namespace, agent, 'nightly-predictor', [
      ...['--model', pointer, '--model-name', 'nightly', '--poll-seconds', '1'],
    ]);

    // One client, a request after another, from before the second run starts until it is served.
    const test = await fashionSubset(TRANSFER_CLASSES, 1, 0, 't10k');
    const body = JSON.stringify({
      inputs: [
        {
          name: 'image',
          datatype: 'BYTES',
          shape: [test.count],
          data: (await pngs(test.images, test.count)).map((b) => b.toString('base64')),
        },
      ],
    });
    const versions: string[] = [];
    const failures: string[] = [];
    let requests = 0;
    let stopped = false;
    const client = (async () => {
      while (!stopped) {
        requests++;
        const response = await fetch(`${url}/v2/models/nightly/infer`, { method: 'POST', body }).catch(
          (err: Error) => err,
        );
        if (response instanceof Error) failures.push(response.message);
        else if (response.status !== 200) failures.push(`${response.status}: ${await response.text()}`);
        else {
          const version = ((await response.json()) as { model_version: string }).model_version;
          if (versions.at(-1) !== version) versions.push(version);
        }
      }
    })();
    t.after(() => {
      stopped = true;
    });

    await custom.patchNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace,
      plural: FINETUNESCHEDULE.plural,
      name: 'nightly',
      body: [
        {
          op: 'replace',
          path: '/spec/jobTemplate/spec/stages',
          value: [{ name: 'head', epochs: 20, optimizer: { learningRate: 1e-2 } }],
        },
      ],
    });
    const second = runName('nightly', await nextDay(1));
    const secondJob = await api.waitFor(
      second,
      (job) => job.status?.phase === 'Succeeded' || job.status?.phase === 'Failed',
      `${second} finished`,
      180_000,
    );
    assert.equal(secondJob.status!.promotion?.promoted, true, JSON.stringify([secondJob.spec, secondJob.status]));
    await eventually(
      () => versions.at(-1) === `${namespace}/${second}`,
      'the predictor serving the second run',
      30_000,
    ).catch((err: Error) => assert.fail(`${err.message}: ${versions.join(', ')}`));
    stopped = true;
    await client;
    assert.deepEqual(versions, [`${namespace}/${first}`, `${namespace}/${second}`]);
    assert.deepEqual(failures, [], `${failures.length} of ${requests} requests failed`);
    assert.ok(requests > 20, `the client kept asking through the run (${requests} requests)`);
  });

  it('skipIfUnchanged: a probe pod finds the data unchanged and the night is skipped; new data runs', async (t) => {
    const { cluster, due, schedule, nextDay } = await nightlySchedule(t, [{ name: 'head', epochs: 1 }], {
      skipIfUnchanged: true,
    });
    const { root, api } = cluster;
    const first = runName('nightly', due);
    await api.waitFor(first, (job) => job.status?.phase === 'Succeeded', `${first} succeeded`, 180_000);
    await eventually(
      async () => (await schedule()).status?.lastSuccessfulRun?.datasetFingerprint !== undefined,
      "the first run's data fingerprint",
      20_000,
    );

    const unchanged = await nextDay(1);
    await eventually(
      async () => (await schedule()).status?.lastSkipped?.scheduledTime === unchanged.toISOString(),
      'the unchanged night skipped',
      120_000,
    );
    assert.equal(await api.get(runName('nightly', unchanged)), undefined, 'no run for it');
    assert.equal((await schedule()).status!.lastScheduleTime, unchanged.toISOString());

    writeFileSync(join(root, 'data', 'notes.txt'), 'the labelling team added something');
    const changed = await nextDay(2);
    const run = runName('nightly', changed);
    await api.waitFor(run, (job) => job.status?.phase === 'Succeeded', `${run} succeeded`, 180_000);
  });

  it("with data, output and the pointer in a bucket (a Secret's credentials): promoted, an unchanged night skipped from a listing, a new object runs", async (t) => {
    useS3Credentials(t);
    const bucket = await testBucket('nightly');
    let data = '';
    const { cluster, due, schedule, nextDay } = await nightlySchedule(
      t,
      [{ name: 'head', epochs: 1 }],
      { skipIfUnchanged: true, promotion: { metric: 'valAccuracy' } },
      async (template, local) => {
        data = await uploadTo(bucket, 'data', join(local.root, 'data'));
        await kubeConfig()
          .makeApiClient(CoreV1Api)
          .createNamespacedSecret({
            namespace: local.namespace,
            body: { metadata: { name: 's3' }, stringData: s3Credentials() },
          });
        return {
          ...template,
          dataset: { ...(template['dataset'] as object), uri: data },
          output: { uri: `s3://${bucket}/nightly` },
          storage: { secretRef: { name: 's3' } },
        };
      },
    );
    const { namespace, api } = cluster;
    const first = runName('nightly', due);
    const firstJob = await api.waitFor(
      first,
      (job) => job.status?.phase === 'Succeeded' || job.status?.phase === 'Failed',
      `${first} finished`,
      180_000,
    );
    assert.equal(firstJob.status!.phase, 'Succeeded', JSON.stringify(firstJob.status?.conditions));
    assert.equal(firstJob.status!.outputURI, `s3://${bucket}/nightly/${first}`);
    const pointer = JSON.parse((await new S3Store('s3', bucket, 'nightly/latest.json').read()).toString('utf8')) as {
      job: string;
      model: string;
    };
    assert.deepEqual([pointer.job, pointer.model], [`${namespace}/${first}`, `s3://${bucket}/nightly/${first}`]);
    await eventually(
      async () => (await schedule()).status?.lastSuccessfulRun?.datasetFingerprint !== undefined,
      "the first run's data fingerprint",
      20_000,
    );

    const unchanged = await nextDay(1);
    await eventually(
      async () => (await schedule()).status?.lastSkipped?.scheduledTime === unchanged.toISOString(),
      'the unchanged night skipped',
      120_000,
    );
    assert.equal(await api.get(runName('nightly', unchanged)), undefined, 'no run for it');

    await new S3Store('s3', bucket, 'data/notes.txt').write('the labelling team added something');
    const changed = await nextDay(2);
    const run = runName('nightly', changed);
    await api.waitFor(run, (job) => job.status?.phase === 'Succeeded', `${run} succeeded`, 180_000);
  });
});
