// The trainer on object storage, against a real S3 server (Ceph's RADOS Gateway, started by `npm test`):
// model, data, test set, output, checkpoints and the promotion pointer in buckets.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { before, describe, it } from 'node:test';
import sharp from 'sharp';
import { fashionSubset } from '../../src/local/quickstart/fashion-mnist.ts';
import type { CheckpointUpload } from '../../src/trainer/checkpoints/checkpoint-store.ts';
import { loadDataset } from '../../src/trainer/data/load-dataset.ts';
import { datasetFingerprint } from '../../src/trainer/data/fingerprint.ts';
import { PermanentError } from '../../src/trainer/errors.ts';
import { Interruption, InterruptedError } from '../../src/trainer/interruption.ts';
import { runStagedTraining } from '../../src/trainer/staged-training.ts';
import { S3Store } from '../../src/trainer/storage/s3-store.ts';
import { testBucket, uploadTo, useS3Credentials } from '../support/object-store.ts';
import { pretrainedBase, specFor, useWasm, workspace } from './support/workspace.ts';

const BACKEND = { name: 'wasm', source: 'test', gpu: false };
const IDX = { images: 'images.idx.gz', labels: 'labels.idx.gz' };

describe('object storage (s3://, against Ceph RGW)', () => {
  before(async () => {
    await useWasm();
    await pretrainedBase();
  });

  it('trains from a model, a dataset and a test set in a bucket into an output there, model.json last; a second run downloads nothing', async (t) => {
    useS3Credentials(t);
    const ws = await workspace(t);
    const bucket = await testBucket('train');
    const model = await uploadTo(bucket, 'models/base', dirname(ws.base));
    const data = await uploadTo(bucket, 'data/fashion', ws.data);
    const cacheDir = mkdtempSync(join(tmpdir(), 'ftj-s3-cache-'));
    t.after(() => rmSync(cacheDir, { recursive: true, force: true }));
    const spec = specFor(ws, {
      model: { uri: `${model}/model.json`, outputKind: 'Classifier', input: { shape: [28, 28, 1] } },
      dataset: { uri: data, format: 'IDX', idx: IDX, validation: { split: 0.25 } },
      evaluation: { uri: data },
      stages: [{ name: 'head', epochs: 2 }],
      output: { uri: `s3://${bucket}/out/flowers` },
      checkpoint: { everyEpochs: 1 },
    });
    const exported: string[] = [];
    const uploads: CheckpointUpload[] = [];
    const evaluations: string[] = [];
    const outcome = await runStagedTraining(spec, {
      reporters: [
        {
          exported: (e) => exported.push(e.path),
          checkpointUploaded: (u) => uploads.push(u),
          evaluated: (e) => evaluations.push(e.report!),
        },
      ],
      cacheDir,
      backend: BACKEND,
    });
    assert.equal(outcome.outputURI, `s3://${bucket}/out/flowers`);
    assert.deepEqual(exported, [`s3://${bucket}/out/flowers`]);
    assert.deepEqual(evaluations, [`s3://${bucket}/out/flowers/evaluation.json`]);
    const listed = (await new S3Store('s3', bucket, 'out/flowers').list()).map((entry) => entry.path);
    for (const file of ['model.json', 'metadata.json', 'evaluation.json', 'checkpoints/state.json'])
      assert.ok(listed.includes(file), `${file} in ${listed.join(', ')}`);
    assert.ok(
      listed.some((file) => /^checkpoints\/stage-1-head@\w+\/weights\.json$/.test(file)),
      'the stage checkpoint, in a folder of its generation',
    );
    // Saved after each of the two epochs: the generation the second save replaced is deleted once state.json names the new one.
    const inProgress = new Set(
      listed.filter((file) => file.startsWith('checkpoints/in-progress@')).map((file) => file.split('/')[1]),
    );
    assert.equal(inProgress.size, 1, `one in-progress generation left: ${[...inProgress].join(', ')}`);
    assert.ok(uploads.length >= 3, `two epoch saves and the stage's: ${uploads.length}`);
    assert.ok(uploads.length >= 1 && uploads.every((u) => u.bytes > 0 && u.seconds >= 0));
    console.log(
      `checkpoint uploads: ${uploads.map((u) => `${(u.bytes / 1e6).toFixed(2)} MB in ${u.seconds.toFixed(3)} s`).join('; ')}`,
    );

    // The same inputs again, same cache: each object's ETag is checked, none downloaded again.
    const cached = join(cacheDir, 'objects');
    const mtimes = () =>
      readdirSync(cached, { recursive: true })
        .map(String)
        .filter((file) => !file.endsWith('.etags.json') && statSync(join(cached, file)).isFile())
        .map((file) => [file, statSync(join(cached, file)).mtimeMs] as const);
    const first = mtimes();
    assert.ok(
      first.length >= 4,
      `the model's files and the data's in the cache: ${first.map(([file]) => file).join(', ')}`,
    );
    await runStagedTraining(
      { ...spec, output: { uri: `s3://${bucket}/out/again` } },
      { reporters: [], cacheDir, backend: BACKEND },
    );
    assert.deepEqual(mtimes(), first, 'no cached file was written again');
  });

  it('reads an ImageFolder from a prefix with a "folder" per class, and a CSV from one object', async (t) => {
    useS3Credentials(t);
    const bucket = await testBucket('formats');
    const dir = mkdtempSync(join(tmpdir(), 'ftj-s3-formats-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const subset = await fashionSubset([7, 9], 6);
    const name = (i: number) => (subset.labels[i] === 0 ? 'sneaker' : 'boot');
    for (let i = 0; i < subset.count; i++) {
      mkdirSync(join(dir, 'images', name(i)), { recursive: true });
      await sharp(Buffer.from(subset.images.subarray(i * 784, (i + 1) * 784)), {
        raw: { width: 28, height: 28, channels: 1 },
      })
        .png()
        .toFile(join(dir, 'images', name(i), `${i}.png`));
    }
    const columns = Array.from({ length: 784 }, (_, i) => `p${i}`);
    const rows = Array.from({ length: subset.count }, (_, i) =>
      [name(i), ...subset.images.subarray(i * 784, (i + 1) * 784)].join(','),
    );
    writeFileSync(join(dir, 'shoes.csv'), `label,${columns.join(',')}\n${rows.join('\n')}\n`);
    const images = await uploadTo(bucket, 'datasets/shoes', join(dir, 'images'));
    const csv = await uploadTo(bucket, 'datasets/shoes.csv', join(dir, 'shoes.csv'));
    const ws = await workspace(t);
    const task = { type: 'ImageClassification' as const, numClasses: 2 };
    const cacheDir = join(dir, 'cache');
    for (const dataset of [
      { uri: images, format: 'ImageFolder' as const },
      { uri: csv, format: 'CSV' as const, fields: { label: 'label', features: columns } },
    ]) {
      const loaded = await loadDataset(
        specFor(ws, { task, dataset: { ...dataset, validation: { split: 0.25 } } }),
        undefined,
        cacheDir,
      );
      assert.deepEqual(loaded.classNames, ['boot', 'sneaker'], dataset.format);
      assert.equal(loaded.train.length + loaded.validation.length, subset.count, dataset.format);
    }
  });

  it('resumes from checkpoints in the bucket on another node (an empty cache), after a SIGTERM save', async (t) => {
    useS3Credentials(t);
    const ws = await workspace(t);
    const bucket = await testBucket('resume');
    const data = await uploadTo(bucket, 'data', ws.data);
    const spec = specFor(ws, {
      dataset: { uri: data, format: 'IDX', idx: IDX, validation: { split: 0.25 } },
      stages: [{ name: 'head', epochs: 6, earlyStopping: { enabled: false } }],
      output: { uri: `s3://${bucket}/out` },
    });
    const nodeA = mkdtempSync(join(tmpdir(), 'ftj-node-a-'));
    const nodeB = mkdtempSync(join(tmpdir(), 'ftj-node-b-'));
    t.after(() => {
      rmSync(nodeA, { recursive: true, force: true });
      rmSync(nodeB, { recursive: true, force: true });
    });
    const interruption = new Interruption();
    const uploads: CheckpointUpload[] = [];
    await assert.rejects(
      runStagedTraining(spec, {
        reporters: [
          {
            epochEnded: (e) => {
              if (e.epoch === 2) interruption.request('SIGTERM');
            },
            checkpointUploaded: (u) => uploads.push(u),
          },
        ],
        cacheDir: nodeA,
        backend: BACKEND,
        interruption,
      }),
      InterruptedError,
    );
    const saved = uploads.at(-1)!;
    console.log(`SIGTERM checkpoint committed: ${(saved.bytes / 1e6).toFixed(2)} MB in ${saved.seconds.toFixed(3)} s`);

    const resumed: { epoch: number; batch?: number }[] = [];
    const epochs: number[] = [];
    await runStagedTraining(spec, {
      reporters: [
        {
          resumed: (_done, inProgress) => {
            if (inProgress) resumed.push(inProgress);
          },
          epochEnded: (e) => epochs.push(e.epoch),
        },
      ],
      cacheDir: nodeB,
      backend: BACKEND,
    });
    assert.equal(resumed.length, 1, "the second node resumed the first one's point");
    assert.ok(resumed[0]!.epoch >= 2, `resumed at epoch ${resumed[0]!.epoch}, batch ${resumed[0]!.batch}`);
    assert.equal(epochs[0], resumed[0]!.epoch + 1, 'training went on from there, not from the start');
  });

  it('an upload that did not finish never replaces the last good checkpoint', async (t) => {
    useS3Credentials(t);
    const ws = await workspace(t);
    const bucket = await testBucket('torn');
    const spec = specFor(ws, { stages: [{ name: 'head', epochs: 2 }], output: { uri: `s3://${bucket}/out` } });
    const cacheDir = mkdtempSync(join(tmpdir(), 'ftj-s3-torn-'));
    t.after(() => rmSync(cacheDir, { recursive: true, force: true }));
    await runStagedTraining(spec, { reporters: [], cacheDir, backend: BACKEND });
    const state = new S3Store('s3', bucket, 'out/checkpoints/state.json');
    const good = (await state.read()).toString('utf8');
    // A save cut short after its weights went up (SIGKILL mid-upload): a new generation's files, no new state.json.
    await new S3Store('s3', bucket, 'out/checkpoints/stage-1-head@zzzz/weights.json').write('{"torn": true}');
    assert.equal((await state.read()).toString('utf8'), good);
    const { folders } = JSON.parse(good) as { folders: Record<string, string> };
    assert.notEqual(
      folders['stage-1-head'],
      'stage-1-head@zzzz',
      'the state names the folder of the last complete save',
    );
    // A new node resumes the complete checkpoint: the run is already done, so it exports without training.
    const trained: string[] = [];
    const otherNode = mkdtempSync(join(tmpdir(), 'ftj-s3-torn-b-'));
    t.after(() => rmSync(otherNode, { recursive: true, force: true }));
    await runStagedTraining(spec, {
      reporters: [{ stageStarted: (s) => trained.push(s.name) }],
      cacheDir: otherNode,
      backend: BACKEND,
    });
    assert.deepEqual(trained, [], 'every stage was resumed from the bucket');
  });

  it('fingerprints a prefix from its listing (keys, sizes, ETags); promotes through a pointer in the bucket', async (t) => {
    useS3Credentials(t);
    const ws = await workspace(t);
    const bucket = await testBucket('print');
    const data = await uploadTo(bucket, 'data', ws.data);
    const spec = specFor(ws, {
      dataset: { uri: data, format: 'IDX', idx: IDX },
      output: { uri: `s3://${bucket}/runs/one` },
      stages: [{ name: 'head', epochs: 1 }],
    });
    const first = await datasetFingerprint(spec);
    assert.equal(await datasetFingerprint(spec), first, 'the same objects, the same fingerprint');
    await new S3Store('s3', bucket, 'data/extra.txt').write('one more object');
    assert.notEqual(await datasetFingerprint(spec), first, 'a new object under the prefix changes it');

    const pointer = `s3://${bucket}/runs/latest.json`;
    const promoted: boolean[] = [];
    const cacheDir = mkdtempSync(join(tmpdir(), 'ftj-s3-promote-'));
    t.after(() => rmSync(cacheDir, { recursive: true, force: true }));
    const promoting = { metric: 'valAccuracy' as const, minDelta: 0, pointer: { uri: pointer } };
    await runStagedTraining(
      { ...spec, promotion: promoting },
      {
        reporters: [{ promotionDecided: (d) => promoted.push(d.promoted) }],
        cacheDir,
        backend: BACKEND,
        jobName: 'one',
      },
    );
    const written = JSON.parse((await new S3Store('s3', bucket, 'runs/latest.json').read()).toString('utf8')) as {
      model: string;
      job: string;
    };
    assert.deepEqual([promoted, written.model, written.job], [[true], `s3://${bucket}/runs/one`, 'one']);
    // Not better by a margin it cannot reach: the pointer stays.
    await runStagedTraining(
      { ...spec, output: { uri: `s3://${bucket}/runs/two` }, promotion: { ...promoting, minDelta: 2 } },
      {
        reporters: [{ promotionDecided: (d) => promoted.push(d.promoted) }],
        cacheDir,
        backend: BACKEND,
        jobName: 'two',
      },
    );
    assert.deepEqual(promoted, [true, false]);
    assert.equal(JSON.parse((await new S3Store('s3', bucket, 'runs/latest.json').read()).toString('utf8')).job, 'one');
  });

  it("refuses at once, naming the URI and the server's code: wrong keys, a missing bucket or key, a prefix for a model", async (t) => {
    useS3Credentials(t);
    const ws = await workspace(t);
    const bucket = await testBucket('errors');
    const model = await uploadTo(bucket, 'models/base', dirname(ws.base));
    const cacheDir = mkdtempSync(join(tmpdir(), 'ftj-s3-errors-'));
    t.after(() => rmSync(cacheDir, { recursive: true, force: true }));
    const run = (overrides: Parameters<typeof specFor>[1]) =>
      runStagedTraining(specFor(ws, overrides), { reporters: [], cacheDir, backend: BACKEND });
    const modelAt = (uri: string) => ({
      model: { uri, outputKind: 'Classifier' as const, input: { shape: [28, 28, 1] } },
    });
    const permanent = (pattern: RegExp) => (err: Error) => err instanceof PermanentError && pattern.test(err.message);

    await assert.rejects(
      run(modelAt(model)),
      permanent(
        new RegExp(
          `spec\\.model\\.uri ${model} names a folder or prefix, not a model: point it at the model's model\\.json`,
        ),
      ),
    );
    await assert.rejects(
      run(modelAt(`s3://${bucket}/models/none/model.json`)),
      permanent(new RegExp(`s3://${bucket}/models/none/model\\.json does not exist`)),
    );
    await assert.rejects(
      run(modelAt(`s3://no-such-bucket-${bucket}/base/model.json`)),
      permanent(/HEAD s3:\/\/no-such-bucket-.*: NoSuchBucket \(HTTP 404\).*the bucket does not exist/),
    );
    await assert.rejects(
      run({ dataset: { uri: `s3://${bucket}/no/data`, format: 'IDX', idx: IDX } }),
      permanent(/s3:\/\/.*\/no\/data\/(images|labels)\.idx\.gz does not exist/),
    );

    useS3Credentials(t, { AWS_SECRET_ACCESS_KEY: 'not-the-secret' });
    // A HEAD's 403 has no body (no SignatureDoesNotMatch to quote): the status and the keys to check.
    await assert.rejects(
      run(modelAt(`${model}/model.json`)),
      permanent(
        /HEAD s3:\/\/.*\/models\/base\/model\.json: Forbidden \(HTTP 403\): access denied: check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in spec\.storage\.secretRef/,
      ),
    );
  });

  it('treats an endpoint that does not answer as transient (the attempt is retried), not as invalid input', async (t) => {
    useS3Credentials(t, { AWS_ENDPOINT_URL: 'http://127.0.0.1:9', AWS_MAX_ATTEMPTS: '1' });
    const ws = await workspace(t);
    const cacheDir = mkdtempSync(join(tmpdir(), 'ftj-s3-down-'));
    t.after(() => rmSync(cacheDir, { recursive: true, force: true }));
    const spec = specFor(ws, {
      model: { uri: 's3://models/base/model.json', outputKind: 'Classifier', input: { shape: [28, 28, 1] } },
    });
    await assert.rejects(
      runStagedTraining(spec, { reporters: [], cacheDir, backend: BACKEND }),
      (err: Error) =>
        !(err instanceof PermanentError) &&
        /HEAD s3:\/\/models\/base\/model\.json: .*ECONNREFUSED.*retried/.test(err.message),
    );
  });
});
