import type { JobEvent } from './finetunejob-reconciler.ts';

/** The metadata a reconcile pass reads of its object. */
export interface PassMeta {
  name?: string;
  namespace?: string;
  uid?: string;
  generation?: number;
}

/**
 * What every reconcile pass knows of the object it reconciles (a FineTuneJob, a FineTuneSchedule) and of the
 * clock, and the events it records into its decision. Each controller's pass adds its own state.
 */
export abstract class ObjectPass<D extends { events: JobEvent[] }> {
  abstract readonly decision: D;
  readonly name: string;
  readonly namespace: string;
  readonly uid: string;
  readonly generation: number | undefined;
  readonly now: Date;
  /** `now` as the API's timestamps write it (RFC 3339). */
  readonly nowTimestamp: string;

  constructor(meta: PassMeta, now: Date) {
    this.name = meta.name!;
    this.namespace = meta.namespace!;
    this.uid = meta.uid!;
    this.generation = meta.generation;
    this.now = now;
    this.nowTimestamp = now.toISOString();
  }

  event(type: JobEvent['type'], reason: string, message: string): void {
    this.decision.events.push({ type, reason, message });
  }
}
