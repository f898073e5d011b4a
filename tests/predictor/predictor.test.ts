// The predictor over HTTP on loopback, serving models the trainer exported in the test: the Open
// Inference Protocol's endpoints, the trainer's own preprocessing (served accuracy = the evaluation's),
// bad input answered with a 4xx, dynamic batching, a bounded queue, promotions followed, graceful stop.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Worker } from 'node:worker_threads';
import { before, describe, it, type TestContext } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import type { FineTuneJobSpecInput } from '../../src/api/v1alpha1/index.ts';
import { TRANSFER_CLASSES } from '../../src/local/quickstart/fashion-base-model.ts';
import { fashionSubset, type Subset, writeIdx } from '../../src/local/quickstart/fashion-mnist.ts';
import { PredictorServer } from '../../src/predictor/predictor-server.ts';
import { createTokenizer, parseVocabulary } from '../../src/trainer/data/tokenizer.ts';
import { fileSystemModel } from '../../src/trainer/model/file-io-handler.ts';
import { runStagedTraining } from '../../src/trainer/staged-training.ts';
import { tinyGraphWeights, writeTinyGraphModel } from '../trainer/support/tiny-graph-model.ts';
import { ROOT } from '../support/paths.ts';
import { topicJob, writeTopicTexts } from '../trainer/support/topic-texts.ts';
import { pretrainedBase, specFor, useWasm, type Workspace, workspace } from '../trainer/support/workspace.ts';

const BACKEND = { name: 'wasm', source: 'test', gpu: false };

/** A model the trainer exports (a head stage, else `overrides`' stages) with its test-set accuracy, and the test images. */
async function trainedModel(
  t: TestContext,
  options: { seed?: number; ws?: Workspace; overrides?: Partial<FineTuneJobSpecInput> } = {},
): Promise<{ dir: string; accuracy: number; test: Subset; root: string }> {
  const ws = options.ws ?? (await workspace(t));
  const test = await fashionSubset(TRANSFER_CLASSES, 20, 0, 't10k');
  writeIdx(join(ws.dir, 'test'), test);
  const spec = specFor(ws, {
    stages: [{ name: 'head', epochs: 3 }],
    evaluation: { uri: `file://${join(ws.dir, 'test')}` },
    seed: options.seed ?? 42,
    ...options.overrides,
  });
  let accuracy = Number.NaN;
  const outcome = await runStagedTraining(spec, {
    reporters: [
      {
        evaluated: (e) => {
          accuracy = e.accuracy;
        },
      },
    ],
    cacheDir: ws.dir,
    backend: BACKEND,
  });
  return { dir: outcome.outputPath, accuracy, test, root: ws.dir };
}

const png = (subset: Subset, i: number, size = 28) =>
  sharp(Buffer.from(subset.images.subarray(i * 784, (i + 1) * 784)), { raw: { width: 28, height: 28, channels: 1 } })
    .resize(size, size)
    .png()
    .toBuffer();

async function startServer(
  t: TestContext,
  location: string,
  options: Partial<ConstructorParameters<typeof PredictorServer>[0]> = {},
): Promise<{ server: PredictorServer; url: string }> {
  const cacheDir = mkdtempSync(join(tmpdir(), 'ftj-predictor-'));
  const server = new PredictorServer({
    name: 'fashion',
    location,
    cacheDir,
    port: 0,
    log: () => undefined,
    ...options,
  });
  await server.start();
  t.after(async () => {
    await server.stop();
    rmSync(cacheDir, { recursive: true, force: true });
  });
  return { server, url: `http://127.0.0.1:${server.address.port}` };
}

interface Inferred {
  status: number;
  body: {
    error?: string;
    model_version?: string;
    outputs?: { name: string; shape: number[]; data: (number | string)[] }[];
  };
  headers: Headers;
}
async function infer(url: string, body: unknown, model = 'fashion'): Promise<Inferred> {
  const response = await fetch(`${url}/v2/models/${model}/infer`, {
    method: 'POST',
    body: typeof body === 'string' ? body : JSON.stringify(body),
    headers: { 'content-type': 'application/json' },
  });
  return { status: response.status, body: (await response.json()) as Inferred['body'], headers: response.headers };
}
const bytesInput = (images: Buffer[]) => ({
  inputs: [{ name: 'image', datatype: 'BYTES', shape: [images.length], data: images.map((b) => b.toString('base64')) }],
});
/** The share of the test images, sent as PNG files 25 a request, whose top class is their label. */
async function servedAccuracy(url: string, test: Subset): Promise<number> {
  let right = 0;
  for (let start = 0; start < test.count; start += 25) {
    const indices = Array.from({ length: Math.min(25, test.count - start) }, (_, i) => start + i);
    const result = await infer(url, bytesInput(await Promise.all(indices.map((i) => png(test, i)))));
    assert.equal(result.status, 200, JSON.stringify(result.body));
    const top = output(result, 'top_classes');
    indices.forEach((index, row) => {
      if (top.data[row * top.shape[1]!] === String(test.labels[index])) right++;
    });
  }
  return right / test.count;
}
const output = (result: Inferred, name: string) => result.body.outputs!.find((o) => o.name === name)!;

describe('the predictor (Open Inference Protocol, KServe V2)', () => {
  before(async () => {
    await useWasm();
    await pretrainedBase();
  });

  it("serves an exported model: the test images, sent as PNG files, get exactly the evaluation's accuracy", async (t) => {
    const { dir, accuracy, test } = await trainedModel(t);
    const { url } = await startServer(t, dir);
    const get = async (path: string) => {
      const r = await fetch(`${url}${path}`);
      return { status: r.status, body: (await r.json()) as Record<string, unknown> };
    };
    assert.deepEqual(await get('/v2/health/live'), { status: 200, body: { live: true } });
    assert.deepEqual(await get('/v2/health/ready'), { status: 200, body: { ready: true } });
    assert.deepEqual(await get('/v2'), {
      status: 200,
      body: { name: 'finetune-operator-predictor', version: '0.1.0', extensions: ['binary_tensor_data'] },
    });
    const metadata = await get('/v2/models/fashion');
    assert.deepEqual((metadata.body['inputs'] as { shape: number[] }[])[0]!.shape, [-1, 28, 28, 1]);
    assert.deepEqual((metadata.body['parameters'] as { class_names: string[] }).class_names, ['0', '1', '2', '3', '4']);
    assert.deepEqual(await get('/v2/models/fashion/ready'), { status: 200, body: { name: 'fashion', ready: true } });

    assert.equal(
      await servedAccuracy(url, test),
      accuracy,
      "the served accuracy is the evaluation's: the same decoding and preprocessing",
    );

    // The same image as UINT8 pixels: the same probabilities as its PNG.
    const pixels = Array.from(test.images.subarray(0, 784));
    const asTensor = await infer(url, {
      inputs: [{ name: 'pixels', datatype: 'UINT8', shape: [1, 28, 28, 1], data: pixels }],
      parameters: { top_k: 2 },
    });
    const asPng = await infer(url, bytesInput([await png(test, 0)]));
    assert.deepEqual(output(asTensor, 'probabilities').data, output(asPng, 'probabilities').data);
    assert.deepEqual(output(asTensor, 'top_classes').shape, [1, 2]);
  });

  it("takes the binary tensor data extension: UINT8, FP32 and BYTES data after a JSON header give the JSON request's answer", async (t) => {
    const { dir, test } = await trainedModel(t);
    const { url } = await startServer(t, dir);
    const pixels = test.images.subarray(0, 2 * 784);
    const binary = async (inputs: { datatype: string; shape: number[]; bytes: Buffer }[], headerExtra = 0) => {
      const header = Buffer.from(
        JSON.stringify({
          inputs: inputs.map((input, i) => ({
            name: `x${i}`,
            datatype: input.datatype,
            shape: input.shape,
            parameters: { binary_data_size: input.bytes.length },
          })),
        }),
      );
      const response = await fetch(`${url}/v2/models/fashion/infer`, {
        method: 'POST',
        body: Buffer.concat([header, ...inputs.map((input) => input.bytes)]),
        headers: {
          'content-type': 'application/octet-stream',
          'inference-header-content-length': String(header.length + headerExtra),
        },
      });
      return { status: response.status, body: (await response.json()) as Inferred['body'] } as Inferred;
    };
    const asJson = await infer(url, {
      inputs: [{ name: 'x', datatype: 'UINT8', shape: [2, 28, 28, 1], data: Array.from(pixels) }],
    });
    const asUint8 = await binary([{ datatype: 'UINT8', shape: [2, 28, 28, 1], bytes: Buffer.from(pixels) }]);
    assert.equal(asUint8.status, 200, JSON.stringify(asUint8.body));
    assert.deepEqual(output(asUint8, 'probabilities').data, output(asJson, 'probabilities').data);

    const fp32 = Buffer.alloc(784 * 4);
    const ready = Array.from({ length: 784 }, (_, i) => (i % 7) / 7);
    ready.forEach((v, i) => fp32.writeFloatLE(v, i * 4));
    const asFp32 = await binary([{ datatype: 'FP32', shape: [1, 28, 28, 1], bytes: fp32 }]);
    const fp32Json = await infer(url, {
      inputs: [
        {
          name: 'x',
          datatype: 'FP32',
          shape: [1, 28, 28, 1],
          data: Array.from(new Float32Array(fp32.buffer, fp32.byteOffset, 784)),
        },
      ],
    });
    assert.deepEqual(output(asFp32, 'probabilities').data, output(fp32Json, 'probabilities').data);

    const image = await png(test, 0);
    const length = Buffer.alloc(4);
    length.writeUInt32LE(image.length);
    const asBytes = await binary([{ datatype: 'BYTES', shape: [1], bytes: Buffer.concat([length, image]) }]);
    assert.deepEqual(
      output(asBytes, 'probabilities').data,
      output(await infer(url, bytesInput([image])), 'probabilities').data,
    );

    const tooLong = await binary(
      [{ datatype: 'UINT8', shape: [1, 28, 28, 1], bytes: Buffer.from(pixels.subarray(0, 784)) }],
      5000,
    );
    assert.equal(tooLong.status, 400);
    assert.match(tooLong.body.error!, /Inference-Header-Content-Length is \d+, outside the body/);
    const wrongCount = await binary([
      { datatype: 'UINT8', shape: [2, 28, 28, 1], bytes: Buffer.from(pixels.subarray(0, 784)) },
    ]);
    assert.equal(wrongCount.status, 400);
    assert.match(wrongCount.body.error!, /inputs\[0\].*784 values for shape \[2,28,28,1\]/);
    const truncated = await binary([
      { datatype: 'BYTES', shape: [1], bytes: Buffer.concat([length, image.subarray(0, 10)]) },
    ]);
    assert.equal(truncated.status, 400);
    assert.match(truncated.body.error!, /BYTES element 0 runs past its binary data/);
  });

  it('answers each bad request with a 4xx that names the problem, and stays ready', async (t) => {
    const { dir, test } = await trainedModel(t);
    const { url } = await startServer(t, dir, { maxBodyBytes: 4 * 1024 * 1024 });
    const good = await png(test, 0);
    const cases: [string, unknown, number, RegExp][] = [
      [
        'wrong shape',
        { inputs: [{ name: 'x', datatype: 'UINT8', shape: [1, 10, 10, 1], data: new Array(100).fill(0) }] },
        400,
        /shape \[1,10,10,1\] does not fit the model's input \[N, 28, 28, 1\]/,
      ],
      [
        'wrong datatype',
        { inputs: [{ name: 'x', datatype: 'INT64', shape: [1], data: [1] }] },
        400,
        /datatype "INT64" is not served/,
      ],
      [
        'too few values',
        { inputs: [{ name: 'x', datatype: 'UINT8', shape: [1, 28, 28, 1], data: [1, 2, 3] }] },
        400,
        /3 values for shape \[1,28,28,1\], which holds 784/,
      ],
      [
        'a pixel out of range',
        { inputs: [{ name: 'x', datatype: 'UINT8', shape: [28, 28, 1], data: new Array(784).fill(300) }] },
        400,
        /data\[0\]: 300 is not a whole number from 0 to 255/,
      ],
      [
        'truncated PNG',
        bytesInput([good.subarray(0, good.length / 2)]),
        400,
        /inputs\[0\] \("image"\)\.data\[0\]: not an image this server decodes/,
      ],
      ['not base64 of anything', bytesInput([Buffer.from('hello')]), 400, /not an image this server decodes/],
      ['no inputs', { inputs: [] }, 400, /"inputs" must be a non-empty list/],
      [
        'top_k too large',
        { ...bytesInput([good]), parameters: { top_k: 9 } },
        400,
        /top_k must be a whole number from 1 to 5/,
      ],
      ['invalid JSON', '{"inputs": [', 400, /the body is not JSON/],
      ['empty body', '', 400, /the body is empty/],
      ['10 MB body', `{"inputs": ["${'a'.repeat(10 * 1024 * 1024)}"]}`, 413, /at most 4194304 are accepted/],
    ];
    for (const [what, body, status, message] of cases) {
      const result = await infer(url, body);
      assert.equal(result.status, status, `${what}: ${JSON.stringify(result.body).slice(0, 300)}`);
      assert.match(result.body.error ?? '', message, what);
    }
    const unknown = await infer(url, bytesInput([good]), 'birds');
    assert.equal(unknown.status, 404);
    assert.match(unknown.body.error!, /unknown model "birds": this server serves "fashion"/);
    // Another size is resized as in training, not refused.
    assert.equal((await infer(url, bytesInput([await png(test, 0, 56)]))).status, 200);
    assert.equal((await fetch(`${url}/v2/health/ready`)).status, 200, 'still ready');
    const metrics = await (await fetch(`${url}/metrics`)).text();
    assert.match(metrics, /finetune_predictor_requests_total\{model="fashion",outcome="bad_request"\} 1[01]/);
    assert.match(metrics, /finetune_predictor_requests_total\{model="fashion",outcome="not_found"\} 1/);
  });

  it('batches concurrent requests, answers 503 with Retry-After when its queue is full, and answers every request it took before stopping', async (t) => {
    const { dir, test } = await trainedModel(t);
    // Batches wait up to a second for company (a batch size above the queue's limit is never reached): the first 12 requests
    // wait together, the rest find the queue full.
    const { server, url } = await startServer(t, dir, { maxBatchSize: 16, maxBatchWaitMs: 1000, maxQueue: 12 });
    const body = bytesInput([await png(test, 1)]);
    const results = await Promise.all(Array.from({ length: 40 }, () => infer(url, body)));
    const statuses = results.map((r) => r.status);
    assert.ok(statuses.includes(200), 'some answered');
    const refused = results.filter((r) => r.status === 503);
    assert.ok(refused.length > 0, `a full queue refuses: ${statuses.join(',')}`);
    assert.ok(
      refused.every(
        (r) => r.headers.get('retry-after') === '1' && /examples are waiting \(at most 12\)/.test(r.body.error!),
      ),
    );
    const metrics = await (await fetch(`${url}/metrics`)).text();
    const batches = /finetune_predictor_batch_size_count (\d+)/.exec(metrics)![1];
    assert.equal(
      /finetune_predictor_batch_duration_seconds_count (\d+)/.exec(metrics)?.[1],
      batches,
      "each batch's time in the model thread",
    );
    assert.ok(Number(/finetune_predictor_batch_duration_seconds_sum (\S+)/.exec(metrics)?.[1]) > 0);
    const served = statuses.filter((s) => s === 200).length;
    assert.ok(Number(batches) < served, `${served} requests in ${batches} batches`);
    assert.match(metrics, /finetune_predictor_model_info\{model="fashion",version="[^"]+"\} 1/);

    // Graceful stop: requests already received are answered.
    const inFlight = Array.from({ length: 6 }, () => infer(url, body));
    await new Promise((resolve) => setTimeout(resolve, 20));
    await server.stop();
    assert.deepEqual(
      (await Promise.all(inFlight)).map((r) => r.status),
      new Array(6).fill(200),
    );
  });

  it('follows a promotion pointer: swaps in the promoted model while a client keeps asking, with no failed request', async (t) => {
    const [one, two] = [await trainedModel(t, { seed: 42 }), await trainedModel(t, { seed: 7 })];
    const pointer = join(one.root, 'latest.json');
    const point = (dir: string, job: string) =>
      writeFileSync(
        pointer,
        JSON.stringify({ job, model: dir, metric: 'valAccuracy', value: 0.9, promotedAt: new Date().toISOString() }),
      );
    point(one.dir, 'team/run-1');
    const { server, url } = await startServer(t, pointer, { pollSeconds: 1 });
    assert.equal(server.servedVersion, 'team/run-1');
    const body = bytesInput([await png(one.test, 2)]);
    const tensorBytes = async () => {
      assert.equal((await infer(url, body)).status, 200); // the model thread's figure is as of its last answer
      const metrics = await (await fetch(`${url}/metrics`)).text();
      return Number(/^finetune_predictor_tensor_memory_bytes (\d+)$/m.exec(metrics)?.[1]);
    };
    const oneModel = await tensorBytes();
    assert.ok(oneModel > 0, `${oneModel} bytes`);
    const versions = new Set<string>();
    const failures: string[] = [];
    let asking = true;
    const client = (async () => {
      while (asking) {
        const result = await infer(url, body);
        if (result.status === 200) versions.add(result.body.model_version!);
        else failures.push(`${result.status} ${result.body.error}`);
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 300));
    point(two.dir, 'team/run-2');
    const deadline = Date.now() + 20_000;
    while ((server.servedVersion as string) !== 'team/run-2' && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 100));
    await new Promise((resolve) => setTimeout(resolve, 300));
    asking = false;
    await client;
    assert.equal(server.servedVersion as string, 'team/run-2');
    assert.deepEqual(failures, []);
    assert.equal(await tensorBytes(), oneModel, "the retired model's tensors are freed: one model's bytes again");
    assert.deepEqual(
      [...versions].sort(),
      ['team/run-1', 'team/run-2'],
      'answered by the first model, then the promoted one',
    );
    const model = (await (await fetch(`${url}/v2/models/fashion`)).json()) as { versions: string[] };
    assert.deepEqual(model.versions, ['team/run-2']);
  });

  it("serves a graph base's export: its head on the original graph, or on the graph its stages fine-tuned, at the evaluation's accuracy", async (t) => {
    const ws = await workspace(t);
    const weights = tinyGraphWeights(7);
    const graph = await writeTinyGraphModel(join(ws.dir, 'graph'), weights, { slice: false });
    tf.dispose(Object.values(weights));
    const model = {
      uri: `file://${graph}`,
      format: 'Graph' as const,
      outputKind: 'FeatureVector' as const,
      input: { shape: [28, 28, 1] },
    };
    const graphJob = (name: string, stages: FineTuneJobSpecInput['stages']) =>
      trainedModel(t, { ws, overrides: { model, stages, output: { uri: `file://${join(ws.dir, name)}` } } });
    const headOnly = await graphJob('head-only', [{ name: 'head', epochs: 3 }]);
    const fineTuned = await graphJob('fine-tuned', [
      { name: 'head', epochs: 2 },
      {
        name: 'top',
        epochs: 1,
        unfreeze: { policy: 'TopLayers', layers: 1 },
        optimizer: { learningRate: 1e-3, allowHighLearningRate: true },
      },
    ]);

    const first = await startServer(t, headOnly.dir);
    assert.equal(await servedAccuracy(first.url, headOnly.test), headOnly.accuracy, 'the head on the original graph');
    const metadata = (await (await fetch(`${first.url}/v2/models/fashion`)).json()) as { platform: string };
    assert.equal(metadata.platform, 'tfjs-graph');

    rmSync(join(ws.dir, 'graph'), { recursive: true }); // the fine-tuned export carries its own graph
    const second = await startServer(t, fineTuned.dir);
    assert.equal(
      await servedAccuracy(second.url, fineTuned.test),
      fineTuned.accuracy,
      'the head on the fine-tuned graph exported beside it',
    );
    await assert.rejects(
      startServer(t, headOnly.dir),
      /the base's graph|no such file|ENOENT/i,
      'the head-only export needs the original graph',
    );
  });

  it('runs the model in a thread of its own: the HTTP thread never loads tfjs (tfjs-node loads once a process)', async (t) => {
    const { dir, test } = await trainedModel(t);
    const cacheDir = mkdtempSync(join(tmpdir(), 'ftj-predictor-'));
    t.after(() => rmSync(cacheDir, { recursive: true, force: true }));
    // A process of its own: this one loaded tfjs to train.
    const script = `
      import { PredictorServer } from ${JSON.stringify(join(ROOT, 'src', 'predictor', 'predictor-server.ts'))};
      const server = new PredictorServer({ name: 'm', location: process.argv[2], cacheDir: process.argv[3], port: 0, log: () => {} });
      await server.start();
      const answer = await fetch('http://127.0.0.1:' + server.address.port + '/v2/models/m/infer', {
        method: 'POST', body: process.argv[4], headers: { 'content-type': 'application/json' } });
      await server.stop();
      console.log(JSON.stringify({ status: answer.status, tfjsLoaded: '_tfengine' in globalThis }));`;
    const request = JSON.stringify({
      inputs: [{ name: 'x', datatype: 'UINT8', shape: [1, 28, 28, 1], data: Array.from(test.images.subarray(0, 784)) }],
    });
    writeFileSync(join(cacheDir, 'serve.mjs'), script);
    const { stdout } = await promisify(execFile)(process.execPath, [
      ...['--disable-warning=ExperimentalWarning', join(cacheDir, 'serve.mjs')],
      ...[dir, cacheDir, request],
    ]);
    assert.deepEqual(JSON.parse(stdout), { status: 200, tfjsLoaded: false });
  });

  it('says so when its model thread stops: live and ready answer 503, a request 500 naming it; the owner is told', async (t) => {
    const { dir, test } = await trainedModel(t);
    const failures: string[] = [];
    const { server, url } = await startServer(t, dir, { onFailure: (error) => failures.push(error.message) });
    const body = bytesInput([await png(test, 0)]);
    assert.equal((await infer(url, body)).status, 200);
    // The thread ends as on a fatal error in it.
    await (server as unknown as { thread: { worker: Worker } }).thread.worker.terminate();
    assert.deepEqual(failures, ['the model thread exited (code 1)']);
    const live = await fetch(`${url}/v2/health/live`);
    assert.deepEqual([live.status, await live.json()], [503, { live: false, error: failures[0] }]);
    assert.equal((await fetch(`${url}/v2/health/ready`)).status, 503);
    const answer = await infer(url, body);
    assert.equal(answer.status, 500);
    assert.match(answer.body.error!, /the model thread exited/);
  });

  it('serves a text classifier: texts sent as BYTES strings, tokenized with the vocabulary exported beside the model', async (t) => {
    const ws = await workspace(t);
    const texts = await writeTopicTexts(ws.dir);
    const spec = specFor(ws, {
      ...topicJob(texts),
      stages: [{ name: 'head', epochs: 15, optimizer: { learningRate: 3e-2 } }],
      batchSize: 16,
    });
    const outcome = await runStagedTraining(spec, { reporters: [], cacheDir: ws.dir, backend: BACKEND });
    rmSync(texts.vocabulary); // served from the export alone
    const { url } = await startServer(t, outcome.outputPath);

    const sentences = ['the soup was in the oven', 'the striker kicked the ball into the goal', 'salt and pepper'];
    const result = await infer(url, {
      inputs: [{ name: 'text', datatype: 'BYTES', shape: [3], data: sentences }],
      parameters: { top_k: 1 },
    });
    assert.equal(result.status, 200, JSON.stringify(result.body));
    assert.deepEqual(output(result, 'top_classes').data, ['cooking', 'football', 'cooking']);

    // The trainer's tokenizer and the exported model, called directly: the same probabilities.
    const tokenizer = createTokenizer(
      parseVocabulary(readFileSync(join(outcome.outputPath, 'vocabulary.txt'), 'utf8')),
      'WordPiece',
      true,
      16,
    );
    const model = await tf.loadLayersModel(fileSystemModel(join(outcome.outputPath, 'model.json')));
    const direct = model.predict(
      tf.tensor2d(
        sentences.flatMap((s) => [...tokenizer.encode(s)]),
        [3, 16],
        'int32',
      ),
    ) as tf.Tensor;
    const served = output(result, 'probabilities').data as number[];
    (await direct.data()).forEach((p, i) => assert.ok(Math.abs(p - served[i]!) < 1e-6, `${p} vs ${served[i]}`));

    // kubectl ftj predict sends a text file's text to a text classifier.
    writeFileSync(join(ws.dir, 'review.txt'), 'the striker and the referee at the match');
    const { stdout } = await promisify(execFile)(join(ROOT, 'bin', 'kubectl-ftj'), [
      ...['predict', 'topics', join(ws.dir, 'review.txt'), '--url', url, '--model-name', 'fashion', '--top', '1'],
    ]);
    assert.match(stdout, /review\.txt\s+football \d+\.\d%\n/);

    const asPixels = await infer(url, {
      inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 16], data: Array(16).fill(0) }],
    });
    assert.equal(asPixels.status, 400);
    assert.match(asPixels.body.error!, /inputs\[0\].*text classifier takes BYTES/);
    const metadata = (await (await fetch(`${url}/v2/models/fashion`)).json()) as { inputs: { datatype: string }[] };
    assert.deepEqual(metadata.inputs[0], { name: 'text', datatype: 'BYTES', shape: [-1] });
  });
});
