import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { DynamicBatcher, QueueFullError } from './batcher.ts';
import { binaryRequest, inferenceResponse, parseInferenceRequest, RequestError } from './inference-protocol.ts';
import { pointerTarget } from './model-location.ts';
import { ModelThread } from './model-thread.ts';
import { ServedModel } from './served-model.ts';

export interface PredictorOptions {
  /** The model's name in the protocol's paths (/v2/models/NAME). */
  name: string;
  /** The model: a folder, its model.json, or a promotion pointer (storeOf). */
  location: string;
  cacheDir: string;
  port: number;
  maxBatchSize?: number;
  maxBatchWaitMs?: number;
  maxQueue?: number;
  /** A pointer is checked this often; a new model is loaded and swapped in (0: never). */
  pollSeconds?: number;
  /** The largest request body accepted, in bytes. */
  maxBodyBytes?: number;
  /** The model thread's tfjs backend (wasm, cpu, tensorflow); by default the fastest available. */
  backend?: string;
  log?: (line: string) => void;
  /** Called if the model thread stops on its own: nothing can be served after (main.ts exits, so the pod restarts). */
  onFailure?: (error: Error) => void;
}

/**
 * The predictor: an exported model behind the Open Inference Protocol (KServe V2) REST API, with the
 * trainer's own decoding and preprocessing, dynamic batching, a bounded queue, Prometheus metrics,
 * graceful shutdown, and, pointed at a promotion pointer, the promoted model swapped in without a restart.
 */
export class PredictorServer {
  private readonly options: Required<Omit<PredictorOptions, 'log' | 'backend' | 'onFailure'>> & PredictorOptions;
  private readonly log: (line: string) => void;
  private readonly batcher: DynamicBatcher;
  private readonly registry = new Registry();
  private readonly requests: Counter;
  private readonly latency: Histogram;
  private readonly batchSizes: Histogram;
  private readonly batchSeconds: Histogram;
  private readonly modelInfo: Gauge;
  private thread: ModelThread | undefined;
  private model: ServedModel | undefined;
  /** Why the model thread stopped, once it has. */
  private failure: Error | undefined;
  private server: Server | undefined;
  private pointer: string | undefined;
  private poll: NodeJS.Timeout | undefined;
  private stopping = false;

  constructor(options: PredictorOptions) {
    this.options = {
      maxBatchSize: 32,
      maxBatchWaitMs: 0,
      maxQueue: 1024,
      pollSeconds: 30,
      maxBodyBytes: 8 * 1024 * 1024,
      ...options,
    };
    this.log = options.log ?? ((line) => process.stdout.write(`${new Date().toISOString()} ${line}\n`));
    this.batcher = new DynamicBatcher({
      maxBatchSize: this.options.maxBatchSize,
      maxWaitMs: this.options.maxBatchWaitMs,
      maxQueue: this.options.maxQueue,
      // One batch runs in the model thread while the next waits there (see ModelThread).
      maxBatchesInFlight: 2,
      // The model of the moment: a swap takes effect at the next batch.
      run: (pixels, ready) => this.model!.predict(pixels, ready),
    });
    const registers = [this.registry];
    const labelNames = ['model', 'outcome'];
    this.requests = new Counter({
      name: 'finetune_predictor_requests_total',
      help: 'Inference requests by model and outcome (ok, bad_request, not_found, overloaded, error).',
      labelNames,
      registers,
    });
    this.latency = new Histogram({
      name: 'finetune_predictor_request_duration_seconds',
      help: 'Inference request latency by model and outcome.',
      labelNames,
      registers,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    });
    this.batchSizes = new Histogram({
      name: 'finetune_predictor_batch_size',
      help: 'Examples per model call.',
      registers,
      buckets: [1, 2, 4, 8, 16, 32, 64, 128],
    });
    this.batcher.onBatch = (size) => this.batchSizes.observe(size);
    this.batchSeconds = new Histogram({
      name: 'finetune_predictor_batch_duration_seconds',
      help: 'Time of one model call (a batch) in the model thread: what the model takes of a request latency.',
      registers,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    });
    const batcher = this.batcher;
    new Gauge({
      name: 'finetune_predictor_queue_depth',
      help: 'Examples waiting for a batch.',
      registers,
      collect() {
        this.set(batcher.depth);
      },
    });
    const tensorBytes = () => this.thread?.memoryBytes ?? 0;
    new Gauge({
      name: 'finetune_predictor_tensor_memory_bytes',
      help: 'Bytes of the tensors the model thread holds: the models served (two during a swap), and any leak.',
      registers,
      collect() {
        this.set(tensorBytes());
      },
    });
    this.modelInfo = new Gauge({
      name: 'finetune_predictor_model_info',
      help: '1 for the model version served now.',
      labelNames: ['model', 'version'],
      registers,
    });
  }

  get address(): AddressInfo {
    return this.server!.address() as AddressInfo;
  }
  get servedVersion(): string | undefined {
    return this.model?.version;
  }

  /** Starts the model thread and loads the model, then serves; a pointer is watched from then on. */
  async start(): Promise<void> {
    const { thread, backend } = await ModelThread.start(this.options.backend);
    this.thread = thread;
    thread.onPredicted = (seconds) => this.batchSeconds.observe(seconds);
    thread.onFailure = (error) => {
      this.failure = error;
      this.log(`${error.message}: no longer serving`);
      this.options.onFailure?.(error);
    };
    try {
      this.model = await ServedModel.load(this.options.location, this.options.cacheDir, thread);
      this.pointer = await pointerTarget(this.options.location);
    } catch (err) {
      await thread.close();
      throw err;
    }
    this.log(
      `serving ${this.options.name} version ${this.model.version} from ${this.model.uri} (tfjs ${backend.name}, ${backend.source})`,
    );
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(this.options.port, resolve));
    if (this.pointer !== undefined && this.options.pollSeconds > 0) this.watchPointer();
  }

  /** Checks the pointer now (also on a timer, and on SIGHUP in main.ts); swaps in the model it names if it moved. */
  async checkPointer(): Promise<void> {
    const target = await pointerTarget(this.options.location).catch((err: unknown) => {
      this.log(`cannot read ${this.options.location}: ${String(err)}`);
      return undefined;
    });
    if (target === undefined || target === this.pointer) return;
    try {
      const next = await ServedModel.load(this.options.location, this.options.cacheDir, this.thread!);
      const previous = this.model;
      this.model = next;
      this.pointer = target;
      previous?.retire();
      this.log(`promoted model: serving version ${next.version} (was ${previous?.version})`);
    } catch (err) {
      this.log(`the pointer moved, but its model did not load (${String(err)}); still serving ${this.model?.version}`);
    }
  }

  /** Stops taking connections, answers every request already received, then closes. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.poll);
    const closed = new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server?.closeIdleConnections();
    await this.batcher.drain();
    await closed;
    await this.thread?.close();
  }

  private watchPointer(): void {
    this.poll = setTimeout(
      () =>
        void this.checkPointer().finally(() => {
          if (!this.stopping) this.watchPointer();
        }),
      this.options.pollSeconds * 1000,
    );
    this.poll.unref();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    const json = (status: number, body: unknown, headers: Record<string, string> = {}): void => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
    };
    const name = this.options.name;
    const model = this.model!;
    if (req.method === 'GET' && path === '/v2/health/live')
      return this.failure ? json(503, { live: false, error: this.failure.message }) : json(200, { live: true });
    if (req.method === 'GET' && path === '/v2/health/ready') {
      const ready = !this.stopping && !this.failure;
      return json(ready ? 200 : 503, { ready });
    }
    if (req.method === 'GET' && path === '/v2')
      // Extensions by Triton's names: the binary tensor data one is what a client may check for.
      return json(200, { name: 'finetune-operator-predictor', version: '0.1.0', extensions: ['binary_tensor_data'] });
    if (req.method === 'GET' && path === '/metrics') {
      this.showVersion();
      res.writeHead(200, { 'content-type': this.registry.contentType }).end(await this.registry.metrics());
      return;
    }
    const match = /^\/v2\/models\/([^/]+)(?:\/versions\/[^/]+)?(\/ready|\/infer)?$/.exec(path);
    if (!match) return json(404, { error: `no such endpoint: ${req.method} ${path}` });
    if (decodeURIComponent(match[1]!) !== name) {
      if (match[2] === '/infer') this.count(name, 'not_found', 0);
      return json(404, { error: `unknown model "${decodeURIComponent(match[1]!)}": this server serves "${name}"` });
    }
    if (req.method === 'GET' && match[2] === undefined) {
      return json(200, {
        name,
        versions: [model.version],
        platform: model.platform,
        inputs:
          model.input.kind === 'text'
            ? [{ name: 'text', datatype: 'BYTES', shape: [-1] }]
            : [{ name: 'input', datatype: 'BYTES|UINT8|FP32', shape: [-1, ...model.inputShape] }],
        outputs: [
          { name: 'probabilities', datatype: 'FP32', shape: [-1, model.classNames.length] },
          { name: 'top_classes', datatype: 'BYTES', shape: [-1, -1] },
        ],
        parameters: { class_names: model.classNames, source: model.uri, input_kind: model.input.kind },
      });
    }
    if (req.method === 'GET' && match[2] === '/ready') return json(200, { name, ready: true });
    if (req.method !== 'POST' || match[2] !== '/infer')
      return json(405, { error: `${req.method} ${path} is not served: POST /v2/models/${name}/infer` });
    await this.infer(req, json);
  }

  private async infer(
    req: IncomingMessage,
    json: (status: number, body: unknown, headers?: Record<string, string>) => void,
  ): Promise<void> {
    const started = performance.now();
    const name = this.options.name;
    const answer = (status: number, outcome: string, body: unknown, headers?: Record<string, string>) => {
      this.count(name, outcome, (performance.now() - started) / 1000);
      json(status, body, headers);
    };
    try {
      const body = await readBody(req, this.options.maxBodyBytes);
      const headerLength = req.headers['inference-header-content-length'];
      const parsedJson = headerLength === undefined ? parseJson(body) : binaryRequest(body, Number(headerLength));
      const model = this.model!;
      const request = await parseInferenceRequest(parsedJson, model.input, model.classNames.length);
      const rows = await this.batcher.submit(request.pixels, request.ready);
      answer(
        200,
        'ok',
        inferenceResponse({ name, version: model.version }, request.id, rows, model.classNames, request.topK),
      );
    } catch (err) {
      if (err instanceof RequestError) answer(err.status, 'bad_request', { error: err.message });
      else if (err instanceof QueueFullError) answer(503, 'overloaded', { error: err.message }, { 'retry-after': '1' });
      else {
        this.log(`inference failed: ${String(err)}`);
        answer(500, 'error', { error: `the model failed: ${(err as Error).message}` });
      }
    }
  }

  /** Sets finetune_predictor_model_info to the version served now. */
  private showVersion(): void {
    this.modelInfo.reset();
    if (this.model) this.modelInfo.set({ model: this.options.name, version: this.model.version }, 1);
  }

  private count(model: string, outcome: string, seconds: number): void {
    this.requests.inc({ model, outcome });
    this.latency.observe({ model, outcome }, seconds);
  }
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new RequestError(400, `the body is not JSON: ${(err as Error).message}`);
  }
}

/** The request body, refused past `limit` bytes (413) without reading the rest into memory. */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > limit) {
      req.resume();
      reject(
        new RequestError(
          413,
          `the body has ${declared} bytes; at most ${limit} are accepted (send fewer examples per request)`,
        ),
      );
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.destroy();
        reject(new RequestError(413, `the body is larger than ${limit} bytes (send fewer examples per request)`));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () =>
      size === 0
        ? reject(new RequestError(400, 'the body is empty: send a JSON inference request'))
        : resolve(Buffer.concat(chunks)),
    );
    req.on('error', reject);
  });
}
