/** One request's examples, waiting in the queue: their pixels or model-ready values, and its answer. */
interface Waiting {
  pixels: Float32Array[];
  ready: Float32Array[];
  resolve(rows: Float32Array[]): void;
  reject(error: unknown): void;
}

export interface BatcherOptions {
  /** Examples in one model call at most. */
  maxBatchSize: number;
  /**
   * How long the first example waits for others when the model is free. 0: its batch runs at once, with
   * whatever arrived in the same turn of the event loop (as Triton's max_queue_delay 0); under load,
   * batches still form from what queues while the model is busy.
   */
  maxWaitMs: number;
  /** Examples waiting at most; past it a request is refused (QueueFullError: 503 with Retry-After). */
  maxQueue: number;
  /**
   * Batches handed to `run` and not yet answered, at most (default 1). 2 when the model runs on a thread of
   * its own: the next batch waits there while one runs, so the model does not idle while this thread
   * answers the last batch's requests and reads the next ones.
   */
  maxBatchesInFlight?: number;
  /** Runs one batch through the model (pixels first, then ready values), returning a row of probabilities per example. */
  run(pixels: Float32Array[], ready: Float32Array[]): Promise<Float32Array[]>;
}

export class QueueFullError extends Error {}

/**
 * Dynamic batching, as Triton's and KServe's batchers do it: requests that
 * arrive together share one model call of up to maxBatchSize examples; the
 * first waits at most maxWaitMs for company. At most maxBatchesInFlight
 * batches are with the model (which runs one at a time: it takes the whole
 * device); the next forms while they run, so a busy server batches without
 * any wait. A full queue refuses new requests instead of growing without limit.
 */
export class DynamicBatcher {
  private readonly options: BatcherOptions;
  private readonly queue: Waiting[] = [];
  private queued = 0;
  /** Cancels the wait of the batch forming now. */
  private cancelWait: (() => void) | undefined;
  /** The batches with the model now. */
  private readonly running = new Set<Promise<void>>();
  /** Sizes of the batches run, for the metrics. */
  onBatch: ((size: number) => void) | undefined;

  constructor(options: BatcherOptions) {
    this.options = options;
  }

  /** Examples waiting now. */
  get depth(): number {
    return this.queued;
  }

  /** The rows of probabilities of one request's examples, once its batch has run. */
  submit(pixels: Float32Array[], ready: Float32Array[]): Promise<Float32Array[]> {
    const size = pixels.length + ready.length;
    if (this.queued + size > this.options.maxQueue) {
      return Promise.reject(
        new QueueFullError(`${this.queued} examples are waiting (at most ${this.options.maxQueue}); try again shortly`),
      );
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ pixels, ready, resolve, reject });
      this.queued += size;
      this.schedule();
    });
  }

  /** Resolves once every request submitted so far has its answer (graceful shutdown). */
  async drain(): Promise<void> {
    while (this.queue.length || this.running.size) {
      if (!this.modelBusy) this.flush();
      await Promise.race(this.running);
    }
  }

  /** No other batch may go to the model now. */
  private get modelBusy(): boolean {
    return this.running.size >= (this.options.maxBatchesInFlight ?? 1);
  }

  private schedule(): void {
    if (this.modelBusy) return;
    if (this.queued >= this.options.maxBatchSize) {
      this.flush();
      return;
    }
    if (this.cancelWait) return;
    if (this.options.maxWaitMs > 0) {
      const timer = setTimeout(() => this.flush(), this.options.maxWaitMs);
      this.cancelWait = () => clearTimeout(timer);
    } else {
      const immediate = setImmediate(() => this.flush());
      this.cancelWait = () => clearImmediate(immediate);
    }
  }

  private flush(): void {
    this.cancelWait?.();
    this.cancelWait = undefined;
    if (this.modelBusy || !this.queue.length) return;
    const batch: Waiting[] = [];
    let size = 0;
    // Whole requests, up to the batch size (a request larger than it runs alone).
    while (
      this.queue.length &&
      (batch.length === 0 || size + this.sizeOf(this.queue[0]!) <= this.options.maxBatchSize)
    ) {
      const next = this.queue.shift()!;
      size += this.sizeOf(next);
      batch.push(next);
    }
    this.queued -= size;
    const running: Promise<void> = this.runBatch(batch, size).finally(() => {
      this.running.delete(running);
      if (this.queue.length) this.schedule();
    });
    this.running.add(running);
  }

  private async runBatch(batch: Waiting[], size: number): Promise<void> {
    this.onBatch?.(size);
    try {
      const rows = await this.options.run(
        batch.flatMap((w) => w.pixels),
        batch.flatMap((w) => w.ready),
      );
      // Rows come back pixels first, then ready values, in request order within each.
      let pixelRow = 0;
      let readyRow = batch.reduce((n, w) => n + w.pixels.length, 0);
      for (const waiting of batch) {
        const own = [
          ...rows.slice(pixelRow, pixelRow + waiting.pixels.length),
          ...rows.slice(readyRow, readyRow + waiting.ready.length),
        ];
        pixelRow += waiting.pixels.length;
        readyRow += waiting.ready.length;
        waiting.resolve(own);
      }
    } catch (err) {
      for (const waiting of batch) waiting.reject(err);
    }
  }

  private sizeOf(waiting: Waiting): number {
    return waiting.pixels.length + waiting.ready.length;
  }
}
