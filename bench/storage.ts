// `npm run bench:storage`: object storage through the trainer's code against a
// baseline in the same process, on a real S3 server (a one-node Ceph RGW this
// script starts on loopback). Prints figures; asserts nothing.
//
// 1. Download: a 500 MB object through the trainer's storage layer (localCopy:
//    an S3Store streamed to the cache) against a bare GetObject streamed to a
//    file with the same SDK, same server; throughput, and the process' RSS
//    growth while downloading (sampled every 20 ms). Rounds alternate the order.
// 2. Training: the same ImageFolder of PNGs (--images, 10,000 by default, five
//    Fashion-MNIST classes) read from the bucket and from local disk, all
//    layers of the small base trained for 3 epochs: samples per second after
//    the first epoch, and the time until training starts (for the bucket, the
//    download of every image into the cache).
// Options: --megabytes 500 --rounds 3 --images 10000.
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { CreateBucketCommand, GetObjectCommand } from '@aws-sdk/client-s3';
import sharp from 'sharp';
import { validateFineTuneJobSpec } from '../src/api/v1alpha1/index.ts';
import { pretrainBase, TRANSFER_CLASSES } from '../src/local/quickstart/fashion-base-model.ts';
import { fashionSubset } from '../src/local/quickstart/fashion-mnist.ts';
import { CephObjectStore } from '../src/local/object-store/ceph-object-store.ts';
import { selectBackend } from '../src/trainer/backend/select-backend.ts';
import { runStagedTraining } from '../src/trainer/staged-training.ts';
import { FileStore } from '../src/trainer/storage/file-store.ts';
import { localCopy } from '../src/trainer/storage/local-copy.ts';
import { s3Client } from '../src/trainer/storage/s3-client.ts';
import { S3Store } from '../src/trainer/storage/s3-store.ts';

const { values } = parseArgs({
  options: {
    megabytes: { type: 'string', default: '500' },
    rounds: { type: 'string', default: '3' },
    images: { type: 'string', default: '10000' },
  },
});

const work = mkdtempSync(join(tmpdir(), 'ftj-bench-storage-'));
const server = new CephObjectStore({ memstoreBytes: 6 * 1024 ** 3, log: () => undefined });
const mb = (bytes: number) => bytes / 1024 ** 2;
try {
  const endpoint = await server.start();
  Object.assign(process.env, {
    AWS_ACCESS_KEY_ID: endpoint.accessKeyId,
    AWS_SECRET_ACCESS_KEY: endpoint.secretAccessKey,
    AWS_ENDPOINT_URL: endpoint.endpoint,
    AWS_DEFAULT_REGION: 'us-east-1',
  });
  const client = s3Client('s3');
  await client.send(new CreateBucketCommand({ Bucket: 'bench' }));
  console.log(`S3 server: Ceph RGW (memstore) at ${endpoint.endpoint}`);
  await download(client);
  await training();
} finally {
  await server.stop();
  rmSync(work, { recursive: true, force: true });
}

/** RSS sampled every 20 ms while `run` runs: its growth over the RSS before, and the time. */
async function measured(run: () => Promise<void>): Promise<{ seconds: number; rssGrowth: number }> {
  const before = process.memoryUsage().rss;
  let peak = before;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 20);
  const started = performance.now();
  try {
    await run();
  } finally {
    clearInterval(sampler);
  }
  return { seconds: (performance.now() - started) / 1000, rssGrowth: Math.max(0, peak - before) };
}

async function download(client: ReturnType<typeof s3Client>): Promise<void> {
  const bytes = Number(values.megabytes) * 1024 ** 2;
  const file = join(work, 'object.bin');
  const out = createWriteStream(file);
  for (let written = 0; written < bytes; written += 16 * 1024 ** 2)
    out.write(randomBytes(Math.min(16 * 1024 ** 2, bytes - written)));
  await new Promise((resolve) => out.end(resolve));
  const object = new S3Store('s3', 'bench', 'big/object.bin');
  const upload = await measured(() => object.upload(file));
  console.log(
    `\nupload of ${mb(bytes).toFixed(0)} MB (multipart, 16 MiB parts): ${(mb(bytes) / upload.seconds).toFixed(0)} MB/s`,
  );
  rmSync(file);

  const bare = async () => {
    const target = join(work, 'bare.bin');
    const response = await client.send(new GetObjectCommand({ Bucket: 'bench', Key: 'big/object.bin' }));
    await pipeline(response.Body as Readable, createWriteStream(target));
    if (statSync(target).size !== bytes) throw new Error('short download');
    rmSync(target);
  };
  const trainer = async () => {
    const cache = mkdtempSync(join(work, 'cache-'));
    const path = await localCopy(object, cache);
    if (statSync(path).size !== bytes) throw new Error('short download');
    rmSync(cache, { recursive: true, force: true });
  };
  console.log(`download of ${mb(bytes).toFixed(0)} MB, ${values.rounds} rounds (MB/s; RSS growth while downloading)`);
  console.log('round  bare GetObject         trainer (localCopy)    ratio');
  const ratios: number[] = [];
  for (let round = 1; round <= Number(values.rounds); round++) {
    const order = round % 2 ? [bare, trainer] : [trainer, bare];
    const results = new Map<unknown, { seconds: number; rssGrowth: number }>();
    for (const run of order) results.set(run, await measured(run));
    const [b, t] = [results.get(bare)!, results.get(trainer)!];
    const speed = (r: { seconds: number }) => mb(bytes) / r.seconds;
    ratios.push(speed(t) / speed(b));
    const cell = (r: { seconds: number; rssGrowth: number }) =>
      `${speed(r).toFixed(0).padStart(5)} MB/s ${mb(r.rssGrowth).toFixed(0).padStart(4)} MB`.padEnd(22);
    console.log(`${String(round).padEnd(6)} ${cell(b)} ${cell(t)} ${ratios.at(-1)!.toFixed(3)}`);
  }
  console.log(
    `mean ratio ${(ratios.reduce((a, b) => a + b, 0) / ratios.length).toFixed(3)} (goal >= 0.9; RSS growth goal < 100 MB)`,
  );
}

async function training(): Promise<void> {
  await selectBackend({ requireGpu: false, only: 'wasm' });
  const perClass = Math.ceil(Number(values.images) / TRANSFER_CLASSES.length);
  const subset = await fashionSubset(TRANSFER_CLASSES, perClass);
  const images = join(work, 'images');
  for (let i = 0; i < subset.count; i++) {
    const folder = join(images, `class-${subset.labels[i]}`);
    mkdirSync(folder, { recursive: true });
    await sharp(Buffer.from(subset.images.subarray(i * 784, (i + 1) * 784)), {
      raw: { width: 28, height: 28, channels: 1 },
    })
      .png()
      .toFile(join(folder, `${String(i).padStart(5, '0')}.png`));
  }
  const bucket = new S3Store('s3', 'bench', 'images');
  const files = await new FileStore(images).list();
  const uploaded = await measured(async () => {
    for (const file of files) await bucket.at(file.path).upload(join(images, file.path));
  });
  console.log(`\n${files.length} PNGs uploaded one object each in ${uploaded.seconds.toFixed(1)} s`);
  const base = join(work, 'base', 'model.json');
  await pretrainBase(base, 200, 2);
  writeFileSync(join(work, 'README'), 'bench:storage scratch space');

  const run = async (uri: string) => {
    const spec = validateFineTuneJobSpec({
      task: { type: 'ImageClassification', numClasses: TRANSFER_CLASSES.length },
      model: { uri: `file://${base}`, outputKind: 'Classifier', input: { shape: [28, 28, 1] } },
      dataset: { uri, format: 'ImageFolder' },
      stages: [
        { name: 'head', epochs: 1 },
        { name: 'all', epochs: 3, unfreeze: { policy: 'All' }, earlyStopping: { enabled: false } },
      ],
      // An output of its own each run: a second round would otherwise resume the first one's finished checkpoint.
      output: { uri: `file://${mkdtempSync(join(work, 'out-'))}` },
      resources: { gpus: 0 },
      batchSize: 64,
    });
    if (!spec.valid) throw new Error(spec.errors.join('; '));
    const started = performance.now();
    let ready = 0;
    const speeds: number[] = [];
    await runStagedTraining(spec.spec, {
      reporters: [
        {
          started: () => {
            ready = (performance.now() - started) / 1000;
          },
          epochEnded: (e) => {
            if (e.stage === 'all' && e.epoch > 1) speeds.push(e.samplesPerSecond);
          },
        },
      ],
      cacheDir: mkdtempSync(join(work, 'train-cache-')),
      backend: { name: 'wasm', source: '', gpu: false },
    });
    return { ready, speed: speeds.reduce((a, b) => a + b, 0) / speeds.length };
  };
  console.log(
    `training on ${files.length} images, all layers, epochs 2-3 of the unfrozen stage (samples/s); seconds until training starts`,
  );
  console.log('round  local disk              bucket (s3://)          ratio');
  for (let round = 1; round <= Math.min(2, Number(values.rounds)); round++) {
    const local = await run(`file://${images}`);
    const remote = await run(bucket.uri);
    console.log(
      `${String(round).padEnd(6)} ${`${local.speed.toFixed(0)}/s, ready in ${local.ready.toFixed(1)} s`.padEnd(23)} ` +
        `${`${remote.speed.toFixed(0)}/s, ready in ${remote.ready.toFixed(1)} s`.padEnd(23)} ${(remote.speed / local.speed).toFixed(3)}`,
    );
  }
}
