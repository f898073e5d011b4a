import {
  ApiException,
  CoreV1Api,
  type CoreV1Event,
  type KubeConfig,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { API_VERSION, FINETUNEJOB } from '../../api/v1alpha1/index.ts';
import type { JobEvent } from '../reconcile/finetunejob-reconciler.ts';
import { microTime } from '../runtime/micro-time.ts';

/** The object an event is about: a FineTuneJob unless `kind` says otherwise (a FineTuneSchedule). */
export interface JobRef {
  name: string;
  namespace: string;
  uid?: string;
  kind?: string;
}

/** Events waiting to be written at most; beyond it new ones are dropped, as client-go's broadcaster does. */
const MAX_QUEUED_EVENTS = 10_000;
/** Written events remembered for aggregation (client-go's correlator keeps 4,096). */
const MAX_REMEMBERED_EVENTS = 4_096;

/**
 * Records core/v1 Events on a FineTuneJob or FineTuneSchedule (kubectl describe shows them).
 * Like client-go's event broadcaster, `record` only queues: one writer sends the
 * events in order, one request at a time. Events are not state, so they never
 * hold a reconcile, and a burst of them (1,000 new jobs) takes one request's
 * share of the API server instead of competing with the pod creations.
 * An event that repeats one already written (same object, type, reason and
 * message) updates that event's series (count and last time) instead of
 * adding another, as client-go's correlator does: a job retrying for an hour
 * has one event, not hundreds.
 *
 * Events are written the events.k8s.io/v1 way through core/v1: eventTime with
 * microseconds, and a series for repeats, not the second-precision
 * first/lastTimestamp. kubectl orders events by time, and two of the same
 * second (StageSucceeded head, StageStarted top) would otherwise come in any order.
 */
export class EventRecorder {
  private readonly api: CoreV1Api;
  private readonly instance: string;
  private readonly counted: (code: number) => void;
  private readonly log: (line: string) => void;
  private readonly queue: { namespace: string; body: CoreV1Event }[] = [];
  private writing: Promise<void> | undefined;
  private dropping = false;
  /** Aggregation key -> the stored event's name and count; least recently used first. */
  private readonly written = new Map<string, { name: string; count: number }>();

  /** `counted` sees each request's HTTP code (0 when none came back). */
  constructor(kc: KubeConfig, instance: string, counted: (code: number) => void, log: (line: string) => void) {
    this.api = kc.makeApiClient(CoreV1Api);
    this.instance = instance;
    this.counted = counted;
    this.log = log;
  }

  record(job: JobRef, event: JobEvent): void {
    if (this.queue.length >= MAX_QUEUED_EVENTS) {
      if (!this.dropping)
        this.log(`${MAX_QUEUED_EVENTS} events are waiting to be written; dropping new ones until they are`);
      this.dropping = true;
      return;
    }
    const now = new Date(); // when it happened, not when it is written
    this.queue.push({
      namespace: job.namespace,
      body: {
        metadata: { generateName: `${job.name}.`, namespace: job.namespace },
        involvedObject: {
          apiVersion: API_VERSION,
          kind: job.kind ?? FINETUNEJOB.kind,
          name: job.name,
          namespace: job.namespace,
          ...(job.uid ? { uid: job.uid } : {}),
        },
        type: event.type,
        reason: event.reason,
        message: event.message,
        source: { component: 'finetune-operator' },
        reportingComponent: 'finetune.dev/operator',
        reportingInstance: this.instance,
        // An event with an eventTime needs an action (what the operator did): it reconciles.
        eventTime: microTime(now),
        action: 'Reconcile',
      },
    });
    this.writing ??= this.writeQueued();
  }

  /** Resolves once every event recorded so far is written (or failed). */
  async flush(): Promise<void> {
    await this.writing;
  }

  private async writeQueued(): Promise<void> {
    for (let next = this.queue.shift(); next; next = this.queue.shift()) {
      try {
        await this.write(next);
      } catch (err) {
        // Lost, as in client-go after its retries: the reconcile that caused it is not affected.
        this.counted(err instanceof ApiException ? err.code : 0);
      }
    }
    this.writing = undefined;
    this.dropping = false;
  }

  private async write(event: { namespace: string; body: CoreV1Event }): Promise<void> {
    const { body, namespace } = event;
    const { involvedObject: object } = body;
    const key = [namespace, object.kind, object.name, object.uid, body.type, body.reason, body.message].join('\u0000');
    const seen = this.written.get(key);
    if (seen) {
      this.written.delete(key);
      try {
        const patch = { series: { count: seen.count + 1, lastObservedTime: body.eventTime } };
        await this.api.patchNamespacedEvent(
          { name: seen.name, namespace, body: patch },
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
        );
        this.counted(200);
        this.remember(key, { name: seen.name, count: seen.count + 1 });
        return;
      } catch (err) {
        // Expired (events live an hour) or deleted: write it anew below.
        if (!(err instanceof ApiException && err.code === 404)) throw err;
        this.counted(404);
      }
    }
    const created = await this.api.createNamespacedEvent(event);
    this.counted(201);
    this.remember(key, { name: created.metadata!.name!, count: 1 });
  }

  private remember(key: string, event: { name: string; count: number }): void {
    this.written.set(key, event);
    if (this.written.size > MAX_REMEMBERED_EVENTS) this.written.delete(this.written.keys().next().value!);
  }
}
