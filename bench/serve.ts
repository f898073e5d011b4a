// `npm run bench:serve`: the predictor on loopback against bare model.predict in the same process, on a
// model the trainer exports here (the small Fashion-MNIST base, head stage). Prints figures; asserts nothing.
//
// - Throughput and p50/p99 latency with 1, 8 and 64 concurrent clients, each sending one example (UINT8
//   pixels, so no image decoding is measured) in a loop for --seconds, after a warm-up. The clients run in
//   a worker thread (bench/serve-clients.ts), off the predictor's event loop.
// - Bare: model.predict on batches of 1, 8 and 64 of the same preprocessed example, as fast as it goes.
// - Goals (issue 28): with 64 clients, at least 0.8 of bare batched throughput (batch 64); p99 with one
//   client within 2 ms of bare single-example predict plus an HTTP round trip (GET /v2/health/live).
// Options: --seconds 5 --rounds 2.
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
import { selectBackend } from '../src/trainer/backend/select-backend.ts';
import { preprocess } from '../src/trainer/data/preprocessing.ts';
import { fileSystemModel } from '../src/trainer/model/file-io-handler.ts';
import { runStagedTraining } from '../src/trainer/staged-training.ts';
import { readMetadata } from '../src/predictor/served-model.ts';
import type { ImagePreprocessing } from '../src/trainer/data/preprocessing.ts';

const { values } = parseArgs({
  options: { seconds: { type: 'string', default: '5' }, rounds: { type: 'string', default: '2' } },
});
const seconds = Number(values.seconds);
const work = mkdtempSync(join(tmpdir(), 'ftj-bench-serve-'));
const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;

try {
  const backend = await selectBackend({ requireGpu: false, only: 'wasm' });
  const base = join(work, 'base', 'model.json');
  await pretrainBase(base, 200, 2);
  const data = await fashionSubset(TRANSFER_CLASSES, 40);
  writeIdx(join(work, 'data'), data);
  const spec = validateFineTuneJobSpec({
    task: { type: 'ImageClassification', numClasses: 5 },
    model: { uri: `file://${base}`, outputKind: 'Classifier', input: { shape: [28, 28, 1] } },
    dataset: {
      uri: `file://${join(work, 'data')}`,
      format: 'IDX',
      idx: { images: 'images.idx.gz', labels: 'labels.idx.gz' },
    },
    stages: [{ name: 'head', epochs: 1 }],
    output: { uri: `file://${join(work, 'model')}` },
    resources: { gpus: 0 },
  });
  if (!spec.valid) throw new Error(spec.errors.join('; '));
  const { outputPath } = await runStagedTraining(spec.spec, {
    reporters: [],
    cacheDir: work,
    backend: { name: backend.name, source: backend.source, gpu: false },
  });
  const example = Array.from(data.images.subarray(0, 784));

  // Bare model.predict on the same preprocessed example, batches of 1, 8, 64.
  const model = await tf.loadLayersModel(fileSystemModel(join(outputPath, 'model.json')));
  const preprocessing = (await readMetadata(outputPath)).preprocessing as ImagePreprocessing;
  const bare = async (batch: number) => {
    const input = preprocess(
      tf.tensor4d(
        Float32Array.from({ length: batch * 784 }, (_, i) => example[i % 784]!),
        [batch, 28, 28, 1],
      ),
      preprocessing,
    );
    const latencies: number[] = [];
    const until = performance.now() + seconds * 1000;
    let examples = 0;
    while (performance.now() < until) {
      const started = performance.now();
      const output = model.predict(input) as tf.Tensor;
      await output.data();
      output.dispose();
      latencies.push(performance.now() - started);
      examples += batch;
    }
    input.dispose();
    return { throughput: examples / seconds, latencies: latencies.sort((a, b) => a - b) };
  };

  const server = new PredictorServer({
    name: 'fashion',
    location: outputPath,
    cacheDir: work,
    port: 0,
    maxBatchSize: 64,
    maxBatchWaitMs: 0,
    log: () => undefined,
  });
  await server.start();
  const url = `http://127.0.0.1:${server.address.port}`;
  const body = JSON.stringify({
    inputs: [{ name: 'x', datatype: 'UINT8', shape: [1, 28, 28, 1], data: example }],
    parameters: { top_k: 1 },
  });
  const clientThread = new Worker(new URL('./serve-clients.ts', import.meta.url));
  const served = async (clients: number) => {
    const done = once(clientThread, 'message') as Promise<[number[]]>;
    clientThread.postMessage({ url: `${url}/v2/models/fashion/infer`, body, clients, seconds });
    const [latencies] = await done;
    return { throughput: latencies.length / seconds, latencies: latencies.sort((a, b) => a - b) };
  };
  const http = async () => {
    const latencies: number[] = [];
    const until = performance.now() + seconds * 1000;
    while (performance.now() < until) {
      const started = performance.now();
      await (await fetch(`${url}/v2/health/live`)).arrayBuffer();
      latencies.push(performance.now() - started);
    }
    return latencies.sort((a, b) => a - b);
  };

  await served(8); // warm-up: the model's first calls, the HTTP connections
  await bare(64);
  console.log(
    `backend ${backend.name}; ${seconds} s a cell; model: the small Fashion-MNIST base with its head (28x28x1, 5 classes)`,
  );
  console.log('round  clients  served ex/s  p50 ms  p99 ms | bare batch  ex/s   p50 ms  p99 ms | ratio');
  const ms = (v: number) => v.toFixed(2).padStart(6);
  for (let round = 1; round <= Number(values.rounds); round++) {
    for (const [clients, batch] of [
      [1, 1],
      [8, 8],
      [64, 64],
    ] as const) {
      const s = await served(clients);
      const b = await bare(batch);
      console.log(
        `${String(round).padEnd(6)} ${String(clients).padStart(7)}  ${s.throughput.toFixed(0).padStart(11)} ${ms(percentile(s.latencies, 0.5))} ${ms(percentile(s.latencies, 0.99))} | ` +
          `${String(batch).padStart(10)} ${b.throughput.toFixed(0).padStart(6)} ${ms(percentile(b.latencies, 0.5))} ${ms(percentile(b.latencies, 0.99))} | ${(s.throughput / b.throughput).toFixed(3)}`,
      );
    }
    const [one, single, trip] = [await served(1), await bare(1), await http()];
    const budget = percentile(single.latencies, 0.99) + percentile(trip, 0.99);
    console.log(
      `       p99 with 1 client ${ms(percentile(one.latencies, 0.99))} ms against bare predict + HTTP ${ms(budget)} ms ` +
        `(${ms(percentile(single.latencies, 0.99))} + ${ms(percentile(trip, 0.99))}): ${(percentile(one.latencies, 0.99) - budget).toFixed(2)} ms over (goal <= 2)`,
    );
  }
  await clientThread.terminate();
  await server.stop();
} finally {
  rmSync(work, { recursive: true, force: true });
}
