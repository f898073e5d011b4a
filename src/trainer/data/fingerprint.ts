import { createHash } from 'node:crypto';
import type { FineTuneJobSpec, Location } from '../../api/v1alpha1/index.ts';
import { PermanentError } from '../errors.ts';
import { openStore } from '../storage/store.ts';

/**
 * A cheap digest of what a job's data is, from a listing, no content read:
 * every file's or object's path, size and version (a file's modification
 * time, an object's ETag, an http(s) server's ETag or Last-Modified from a
 * HEAD request), so a terabyte of images costs a directory walk or a few
 * list requests. Equal fingerprints mean the data has not changed, which is
 * what a schedule's skipIfUnchanged compares.
 */
export async function datasetFingerprint(spec: FineTuneJobSpec, pvcRoot?: string): Promise<string> {
  const locations: [string, Location][] = [['dataset', spec.dataset]];
  if (spec.dataset.validation.uri !== undefined || spec.dataset.validation.pvc)
    locations.push(['validation', spec.dataset.validation]);
  const hash = createHash('sha256');
  for (const [name, location] of locations) hash.update(`${name}\n${await describeLocation(location, pvcRoot)}`);
  return `sha256:${hash.digest('hex')}`;
}

async function describeLocation(location: Location, pvcRoot?: string): Promise<string> {
  try {
    const entries = await openStore(location, pvcRoot).list();
    return entries.map((entry) => `${entry.path || '.'}\t${entry.size}\t${entry.etag}`).join('\n');
  } catch (err) {
    if (err instanceof PermanentError) throw new PermanentError(`spec.dataset: ${err.message}`);
    throw err;
  }
}
