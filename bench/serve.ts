// `npm run bench:serve`: the predictor on loopback against bare model.predict in the same process, on
// models the trainer exports here (a head stage): the small Fashion-MNIST base (28x28x1), and MobileNetV2
// (224x224x3, the layers model inside the nsfwjs package) as a model of a realistic size. Prints figures;
// asserts nothing.
//
// - Throughput and p50/p99 latency with 1, 8 and (small model) 64 concurrent clients, each sending one
//   example (UINT8 pixels in the binary tensor data extension, so neither image decoding nor a JSON array
//   of pixels is measured) in a loop for --seconds, after a warm-up. The clients run in a worker thread
//   (bench/serve-clients.ts), off the predictor's event loop; the predictor runs its model in a thread of
//   its own (src/predictor/model-thread.ts), as in production.
// - Bare: model.predict on batches of the same sizes of the same preprocessed example, as fast as it goes,
//   on this thread while nothing else runs (the served figures also pay for preprocessing and the clients).
// - Goals (issue 28): with 64 clients, at least 0.8 of bare batched throughput (batch 64); p99 with one
//   client within 2 ms of bare single-example predict plus an HTTP round trip (GET /v2/health/live, sent
//   by the same client thread).
// Options: --seconds 5 --rounds 2 --models small,mobilenet.
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { validateFineTuneJobSpec } from '../src/api/v1alpha1/index.ts';
import { pretrainBase, TRANSFER_CLASSES } from '../src/local/quickstart/fashion-base-model.ts';
import { fashionSubset, writeIdx } from '../src/local/quickstart/fashion-mnist.ts';
import { PredictorServer } from '../src/predictor/predictor-server.ts';
import { readMetadata } from '../src/predictor/model-location.ts';
import { selectBackend } from '../src/trainer/backend/select-backend.ts';
import type { ImagePreprocessing } from '../src/trainer/data/preprocessing.ts';
import { preprocess } from '../src/trainer/data/preprocessing.ts';
import { fileSystemModel } from '../src/trainer/model/file-io-handler.ts';
import { runStagedTraining } from '../src/trainer/staged-training.ts';
import { materialiseNsfwjsModel } from '../tests/trainer/support/nsfwjs-models.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '2' },
    models: { type: 'string', default: 'small,mobilenet' },
  },
});
const seconds = Number(values.seconds);
const work = mkdtempSync(join(tmpdir(), 'ftj-bench-serve-'));
const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
const ms = (v: number) => v.toFixed(2).padStart(6);

interface Served {
  label: string;
  outputPath: string;
  shape: [number, number, number];
  /** [clients, bare batch] of each cell. */
  cells: [number, number][];
}

/** The model `kind` with a head trained one epoch on Fashion-MNIST, exported by the trainer. */
async function exportedModel(kind: 'small' | 'mobilenet', backend: { name: string; source: string }): Promise<Served> {
  const small = kind === 'small';
  const base = small
    ? join(work, 'base', 'model.json')
    : materialiseNsfwjsModel('mobilenet_v2', join(work, 'mobilenet_v2'));
  if (small) await pretrainBase(base, 200, 2);
  const shape: Served['shape'] = small ? [28, 28, 1] : [224, 224, 3];
  const data = join(work, `data-${kind}`);
  writeIdx(data, await fashionSubset(TRANSFER_CLASSES, small ? 40 : 4));
  const spec = validateFineTuneJobSpec({
    task: { type: 'ImageClassification', numClasses: 5 },
    model: {
      uri: `file://${base}`,
      outputKind: 'Classifier',
      input: { shape },
      ...(small ? {} : { cutLayer: 'flatten_1' }),
    },
    dataset: { uri: `file://${data}`, format: 'IDX', idx: { images: 'images.idx.gz', labels: 'labels.idx.gz' } },
    stages: [{ name: 'head', epochs: 1 }],
    output: { uri: `file://${join(work, `model-${kind}`)}` },
    resources: { gpus: 0 },
  });
  if (!spec.valid) throw new Error(spec.errors.join('; '));
  const { outputPath } = await runStagedTraining(spec.spec, {
    reporters: [],
    cacheDir: work,
    backend: { ...backend, gpu: false },
  });
  return small
    ? {
        label: 'the small Fashion-MNIST base with its head (28x28x1, 5 classes)',
        outputPath,
        shape,
        cells: [
          [1, 1],
          [8, 8],
          [64, 64],
        ],
      }
    : {
        label: 'MobileNetV2 (nsfwjs) with its head (224x224x3, 5 classes)',
        outputPath,
        shape,
        cells: [
          [1, 1],
          [8, 8],
        ],
      };
}

/** Served against bare, cell by cell, for --rounds rounds; then the one-client latency check. */
async function compare(model: Served, clientThread: Worker): Promise<void> {
  const size = model.shape.reduce((a, b) => a * b, 1);
  const example = Array.from({ length: size }, (_, i) => (i * 37) % 256);
  const network = await tf.loadLayersModel(fileSystemModel(join(model.outputPath, 'model.json')));
  const preprocessing = (await readMetadata(model.outputPath)).preprocessing as ImagePreprocessing;
  const bare = async (batch: number) => {
    const input = preprocess(
      tf.tensor4d(
        Float32Array.from({ length: batch * size }, (_, i) => example[i % size]!),
        [batch, ...model.shape],
      ),
      preprocessing,
    );
    const latencies: number[] = [];
    const until = performance.now() + seconds * 1000;
    let examples = 0;
    while (performance.now() < until) {
      const started = performance.now();
      const output = network.predict(input) as tf.Tensor;
      await output.data();
      output.dispose();
      latencies.push(performance.now() - started);
      examples += batch;
    }
    input.dispose();
    return { throughput: examples / seconds, latencies: latencies.sort((a, b) => a - b) };
  };

  const server = new PredictorServer({
    name: 'model',
    location: model.outputPath,
    cacheDir: work,
    port: 0,
    maxBatchSize: 64,
    log: () => undefined,
  });
  await server.start();
  const url = `http://127.0.0.1:${server.address.port}`;
  // The binary tensor data extension: a JSON header, then the pixels as bytes (no JSON array to parse).
  const header = Buffer.from(
    JSON.stringify({
      inputs: [{ name: 'x', datatype: 'UINT8', shape: [1, ...model.shape], parameters: { binary_data_size: size } }],
      parameters: { top_k: 1 },
    }),
  );
  const body = Buffer.concat([header, Uint8Array.from(example)]);
  const headers = {
    'content-type': 'application/octet-stream',
    'inference-header-content-length': String(header.length),
  };
  /** Latencies of `clients` clients sending `load` (a POST of `body`, or a GET) for --seconds, sorted. */
  const clientsSend = async (load: { url: string; body?: Uint8Array; headers?: object; clients: number }) => {
    const done = once(clientThread, 'message') as Promise<[number[]]>;
    clientThread.postMessage({ ...load, seconds });
    const [latencies] = await done;
    return latencies.sort((a, b) => a - b);
  };
  const served = async (clients: number) => {
    const latencies = await clientsSend({ url: `${url}/v2/models/model/infer`, body, headers, clients });
    return { throughput: latencies.length / seconds, latencies };
  };
  // An HTTP round trip by the same client, to an endpoint that does nothing.
  const http = () => clientsSend({ url: `${url}/v2/health/live`, clients: 1 });

  await served(8); // warm-up: the model's first calls, the HTTP connections
  await bare(8);
  console.log(`\nmodel: ${model.label}; ${seconds} s a cell`);
  console.log('round  clients  served ex/s  p50 ms  p99 ms | bare batch  ex/s   p50 ms  p99 ms | ratio');
  for (let round = 1; round <= Number(values.rounds); round++) {
    for (const [clients, batch] of model.cells) {
      const s = await served(clients);
      const b = await bare(batch);
      console.log(
        `${String(round).padEnd(6)} ${String(clients).padStart(7)}  ${s.throughput.toFixed(1).padStart(11)} ${ms(percentile(s.latencies, 0.5))} ${ms(percentile(s.latencies, 0.99))} | ` +
          `${String(batch).padStart(10)} ${b.throughput.toFixed(1).padStart(6)} ${ms(percentile(b.latencies, 0.5))} ${ms(percentile(b.latencies, 0.99))} | ${(s.throughput / b.throughput).toFixed(3)}`,
      );
    }
    const [one, single, trip] = [await served(1), await bare(1), await http()];
    const budget = percentile(single.latencies, 0.99) + percentile(trip, 0.99);
    console.log(
      `       p99 with 1 client ${ms(percentile(one.latencies, 0.99))} ms against bare predict + HTTP ${ms(budget)} ms ` +
        `(${ms(percentile(single.latencies, 0.99))} + ${ms(percentile(trip, 0.99))}): ${(percentile(one.latencies, 0.99) - budget).toFixed(2)} ms over (goal <= 2)`,
    );
  }
  await server.stop();
  network.dispose();
}

try {
  const backend = await selectBackend({ requireGpu: false, only: 'wasm' });
  console.log(`backend ${backend.name}`);
  const clientThread = new Worker(new URL('./serve-clients.ts', import.meta.url));
  try {
    for (const kind of values.models.split(',') as ('small' | 'mobilenet')[])
      await compare(await exportedModel(kind, backend), clientThread);
  } finally {
    await clientThread.terminate();
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
