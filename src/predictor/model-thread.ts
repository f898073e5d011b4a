import { Worker } from 'node:worker_threads';
import type { ExportMetadata } from './model-location.ts';

/** What the predictor asks its model thread (model-worker.ts); each is answered by a ModelReply of the same id. */
export type ModelRequest =
  | { id: number; op: 'load'; folder: string; metadata: ExportMetadata; cacheDir: string }
  | { id: number; op: 'predict'; network: number; pixels: Float32Array; ready: Float32Array }
  | { id: number; op: 'dispose'; network: number };

/** A request's answer (`value`) or why it failed (`error`). Id 0 is the thread's start: its backend. */
export interface ModelReply {
  id: number;
  value?: unknown;
  error?: string;
  /** A prediction's time in the model thread, from taking it up to answering, in seconds. */
  seconds?: number;
  /** The bytes of the tensors alive in the model thread once it answered (tf.memory().numBytes). */
  memoryBytes?: number;
}

/** The backend the model thread runs on. */
export interface ThreadBackend {
  name: string;
  source: string;
}

/** A request before call() numbers it (Omit, one member of the union at a time). */
type Unnumbered<T> = T extends unknown ? Omit<T, 'id'> : never;

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
}

/**
 * The predictor's model thread, seen from the HTTP thread: the networks and tfjs live in a worker thread, so
 * that a batch runs on one core while the HTTP thread reads, decodes and answers requests on another (on a
 * GPU, while the device computes). One thread for the process's life: tfjs-node, whose native addon loads
 * once per process, then loads in it alone (the HTTP thread never loads tfjs).
 */
export class ModelThread {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private failure: Error | undefined;
  /** Called once if the thread stops on its own (an uncaught error, or its exit): nothing can be served after. */
  onFailure: ((error: Error) => void) | undefined;
  /** Called with each batch's time in the model (ModelReply.seconds): the model's share of a request's latency. */
  onPredicted: ((seconds: number) => void) | undefined;
  /** The bytes of tensors the thread held at its last answer: the models served, and what a leak would add. */
  memoryBytes = 0;

  private constructor(backend: string | undefined) {
    this.worker = new Worker(new URL('./model-worker.ts', import.meta.url), { workerData: { backend } });
    this.worker.on('message', (reply: ModelReply) => this.settle(reply));
    this.worker.on('error', (err) => this.fail(new Error(`the model thread failed: ${err.message}`)));
    this.worker.on('exit', (code) => this.fail(new Error(`the model thread exited (code ${code})`)));
  }

  /** Starts the thread and its backend (the fastest available, or `backend` alone: wasm, cpu, tensorflow). */
  static async start(backend?: string): Promise<{ thread: ModelThread; backend: ThreadBackend }> {
    const thread = new ModelThread(backend);
    try {
      const started = (await new Promise((resolve, reject) =>
        thread.pending.set(0, { resolve, reject }),
      )) as ThreadBackend;
      return { thread, backend: started };
    } catch (err) {
      await thread.close();
      throw err;
    }
  }

  /** Loads the exported model in `folder`; resolves to its network's handle. */
  load(folder: string, metadata: ExportMetadata, cacheDir: string): Promise<number> {
    return this.call({ op: 'load', folder, metadata, cacheDir }) as Promise<number>;
  }

  /** Probabilities of a batch (see ModelNetwork.predict). The arrays move to the thread: not usable after. */
  predict(network: number, pixels: Float32Array<ArrayBuffer>, ready: Float32Array<ArrayBuffer>): Promise<Float32Array> {
    return this.call({ op: 'predict', network, pixels, ready }, [pixels.buffer, ready.buffer]) as Promise<Float32Array>;
  }

  /** Frees a network no longer served. */
  dispose(network: number): void {
    void this.call({ op: 'dispose', network }).catch(() => undefined);
  }

  /** Stops the thread (after the server's last batch). */
  async close(): Promise<void> {
    this.onFailure = undefined;
    this.fail(new Error('the model thread was closed'));
    await this.worker.terminate();
  }

  private call(request: Unnumbered<ModelRequest>, transfer: ArrayBuffer[] = []): Promise<unknown> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...request, id }, transfer);
    });
  }

  private settle(reply: ModelReply): void {
    if (reply.seconds !== undefined) this.onPredicted?.(reply.seconds);
    if (reply.memoryBytes !== undefined) this.memoryBytes = reply.memoryBytes;
    const pending = this.pending.get(reply.id);
    this.pending.delete(reply.id);
    if (reply.error === undefined) pending?.resolve(reply.value);
    else pending?.reject(new Error(reply.error));
  }

  private fail(error: Error): void {
    if (this.failure) return;
    this.failure = error;
    for (const pending of this.pending.values()) pending.reject(error);
    this.pending.clear();
    this.onFailure?.(error);
  }
}
