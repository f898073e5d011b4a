// Names and label values the operator derives from user-chosen names (a job's, a schedule's), which may be
// up to 253 characters long: shortened with a hash, so two long names never collide.
import { createHash } from 'node:crypto';

/** A name as a label value: a label value has at most 63 characters, a FineTuneJob's or a schedule's name up to 253. */
export const nameLabelValue = (name: string) => shortened(name, 63);

/**
 * `name` when it fits in `max` characters; else a prefix and a hash of the
 * whole name, so two long names never share a value. Starts and ends with an
 * alphanumeric, as names and label values must.
 */
export function shortened(name: string, max: number): string {
  return name.length <= max ? name : withHash(name, name, max);
}

/** A readable prefix of `readable` and a hash of `whole`, in at most `max` characters. */
export function withHash(readable: string, whole: string, max: number): string {
  const hash = createHash('sha256').update(whole).digest('hex').slice(0, 10);
  return `${readable.slice(0, max - hash.length - 1).replace(/[^a-z0-9]+$/, '')}-${hash}`;
}
