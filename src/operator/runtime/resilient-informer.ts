import {
  ADD,
  CONNECT,
  DELETE,
  ERROR,
  type KubernetesListObject,
  type KubernetesObject,
  type KubeConfig,
  ListWatch,
  UPDATE,
  Watch,
} from '@kubernetes/client-node';

/** Lists the watched objects; `resourceVersion` '0' lets the API server answer from its watch cache. */
export type ListAt<T extends KubernetesObject> = (resourceVersion: '0' | undefined) => Promise<KubernetesListObject<T>>;

export interface InformerHandlers<T extends KubernetesObject> {
  add?(obj: T): void;
  update?(obj: T, old: T | undefined): void;
  delete?(obj: T): void;
}

/**
 * client-node's informer (list, then watch, into a cache) made to keep
 * running: it stops for good on a watch error other than the ones it handles
 * itself, and `stop()` emits an error too. Cached objects lose managedFields
 * (and whatever `transform` removes). Any unplanned error restarts it
 * (a fresh list, so a 410 Gone ends in a relist) after an exponential
 * backoff, reset once it connects again. An optional index (client-go's
 * indexer) finds objects by a key without scanning the cache.
 *
 * Its first list asks for resourceVersion "0", as client-go's reflector does:
 * the API server answers from its watch cache instead of reading every
 * object from etcd, which matters when an operator starts with thousands of
 * objects. A relist (after 410 Gone) is a consistent read, so the cache
 * never goes back in time.
 *
 * client-node's informer starts its watch after the list even when it was
 * stopped meanwhile, and that watch then holds the process open: a watch that
 * starts after stop() is aborted at once.
 */
export class ResilientInformer<T extends KubernetesObject> {
  private readonly informer: ListWatch<T>;
  private readonly previous = new Map<string, T>();
  private readonly index = new Map<string, Map<string, T>>();
  private stopping = false;
  private backoffMs = 1000;
  private synced = false;
  private listed = false;
  private readonly onError: (error: unknown) => void;

  constructor(
    kc: KubeConfig,
    path: string,
    list: ListAt<T>,
    handlers: InformerHandlers<T>,
    options: {
      labelSelector?: string;
      onError?: (error: unknown) => void;
      transform?: (obj: T) => void;
      indexBy?: (obj: T) => string | undefined;
    } = {},
  ) {
    this.informer = new ListWatch<T>(
      path,
      new StoppableWatch(kc, () => this.stopping),
      async () => {
        const listed = await list(this.listed ? undefined : '0');
        this.listed = true;
        return listed;
      },
      false,
      options.labelSelector,
    );
    this.onError = options.onError ?? (() => undefined);
    const keyOf = (obj: T) => `${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;
    // Slims the cached object in place (controller-runtime's cache transform): memory per object is what the controller reads.
    const transform = (obj: T) => {
      delete obj.metadata?.managedFields;
      options.transform?.(obj);
    };
    const indexed = (obj: T, add: boolean) => {
      const key = options.indexBy?.(obj);
      if (key === undefined) return;
      const entries = this.index.get(key) ?? new Map<string, T>();
      if (add) entries.set(keyOf(obj), obj);
      else entries.delete(keyOf(obj));
      if (entries.size) this.index.set(key, entries);
      else this.index.delete(key);
    };
    const remember = (obj: T) => {
      const old = this.previous.get(keyOf(obj));
      if (old) indexed(old, false);
      this.previous.set(keyOf(obj), obj);
      indexed(obj, true);
      return old;
    };
    this.informer.on(ADD, (obj) => {
      transform(obj);
      remember(obj);
      handlers.add?.(obj);
    });
    this.informer.on(UPDATE, (obj) => {
      transform(obj);
      const old = remember(obj);
      handlers.update?.(obj, old);
    });
    this.informer.on(DELETE, (obj) => {
      const old = this.previous.get(keyOf(obj));
      if (old) indexed(old, false);
      this.previous.delete(keyOf(obj));
      handlers.delete?.(obj);
    });
    this.informer.on(CONNECT, () => {
      this.backoffMs = 1000;
      this.synced = true;
    });
    this.informer.on(ERROR, (err) => {
      if (this.stopping) return;
      this.onError(err);
      const delay = this.backoffMs;
      this.backoffMs = Math.min(this.backoffMs * 2, 30_000);
      setTimeout(() => {
        if (!this.stopping) void this.start().catch(() => undefined);
      }, delay).unref();
    });
  }

  async start(): Promise<void> {
    this.stopping = false;
    await this.informer.start();
    this.synced = true;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.informer.stop();
  }

  get hasSynced(): boolean {
    return this.synced;
  }

  list(namespace?: string): readonly T[] {
    return this.informer.list(namespace);
  }

  get(name: string, namespace?: string): T | undefined {
    return this.informer.get(name, namespace);
  }

  /** The cached objects whose `indexBy` key is `key`. */
  byIndex(key: string): T[] {
    return [...(this.index.get(key)?.values() ?? [])];
  }
}

/** A Watch that aborts a watch started once its informer is stopping. */
class StoppableWatch extends Watch {
  private readonly stopping: () => boolean;

  constructor(kc: KubeConfig, stopping: () => boolean) {
    super(kc);
    this.stopping = stopping;
  }

  override async watch(...args: Parameters<Watch['watch']>): Promise<AbortController> {
    const controller = await super.watch(...args);
    if (this.stopping()) controller.abort();
    return controller;
  }
}
