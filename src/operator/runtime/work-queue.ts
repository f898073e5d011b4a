export interface WorkQueueMetrics {
  depth(n: number): void;
  added(): void;
  retried(): void;
  queued(seconds: number): void;
  worked(seconds: number): void;
}

/**
 * A rate-limited work queue with client-go's semantics: a key is queued at
 * most once however often it is added; a key being processed is not handed
 * to another worker, and is queued again when done if it was added meanwhile;
 * failed keys come back after a per-key exponential backoff; `addAfter`
 * schedules a requeue.
 */
export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly addedAt = new Map<string, number>();
  private readonly startedAt = new Map<string, number>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  private readonly waiting: ((key: string | undefined) => void)[] = [];
  private shuttingDown = false;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly metrics: WorkQueueMetrics | undefined;

  constructor(options: { baseDelayMs?: number; maxDelayMs?: number; metrics?: WorkQueueMetrics } = {}) {
    this.baseDelayMs = options.baseDelayMs ?? 5;
    this.maxDelayMs = options.maxDelayMs ?? 1000_000;
    this.metrics = options.metrics;
  }

  get length(): number {
    return this.queue.length;
  }

  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.metrics?.added();
    this.dirty.add(key);
    this.addedAt.set(key, Date.now());
    if (this.processing.has(key)) return;
    const waiter = this.waiting.shift();
    if (waiter) this.hand(key, waiter);
    else this.queue.push(key);
    this.metrics?.depth(this.queue.length);
  }

  /** Adds the key after `ms`; an earlier pending add for the key wins. */
  addAfter(key: string, ms: number): void {
    if (this.shuttingDown) return;
    if (ms <= 0) {
      this.add(key);
      return;
    }
    const at = Date.now() + ms;
    const pending = this.timers.get(key);
    if (pending && pending.at <= at) return;
    if (pending) clearTimeout(pending.timer);
    const timer = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, ms);
    timer.unref();
    this.timers.set(key, { at, timer });
  }

  /** Requeues a failed key after its backoff: base·2^failures, capped. */
  addRateLimited(key: string): void {
    const failures = this.failures.get(key) ?? 0;
    this.failures.set(key, failures + 1);
    this.metrics?.retried();
    this.addAfter(key, Math.min(this.baseDelayMs * 2 ** failures, this.maxDelayMs));
  }

  /** Forgets a key's failures (after a successful reconcile). */
  forget(key: string): void {
    this.failures.delete(key);
  }

  /** The next key, or undefined once the queue shuts down. */
  get(): Promise<string | undefined> {
    if (this.shuttingDown && !this.queue.length) return Promise.resolve(undefined);
    const key = this.queue.shift();
    this.metrics?.depth(this.queue.length);
    if (key !== undefined) return Promise.resolve(this.take(key));
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  done(key: string): void {
    this.processing.delete(key);
    const started = this.startedAt.get(key);
    if (started !== undefined) this.metrics?.worked((Date.now() - started) / 1000);
    if (this.dirty.has(key)) {
      const waiter = this.waiting.shift();
      if (waiter) this.hand(key, waiter);
      else this.queue.push(key);
    }
  }

  get isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  /** Stops handing out keys; workers see undefined once the queue is empty. */
  shutDown(): void {
    this.shuttingDown = true;
    for (const { timer } of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    for (const waiter of this.waiting.splice(0)) waiter(undefined);
  }

  private hand(key: string, waiter: (key: string) => void): void {
    waiter(this.take(key));
  }

  private take(key: string): string {
    this.dirty.delete(key);
    this.processing.add(key);
    this.startedAt.set(key, Date.now());
    const added = this.addedAt.get(key);
    if (added !== undefined) this.metrics?.queued((Date.now() - added) / 1000);
    return key;
  }
}
