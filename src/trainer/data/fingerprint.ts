import { createHash } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { type FineTuneJobSpec, type Location, resolveLocation } from '../../api/v1alpha1/index.ts';
import { PermanentError } from '../errors.ts';

/**
 * A cheap digest of what a job's data is: for files, every file's path,
 * size and modification time (no content is read, so a terabyte of images
 * costs a directory walk); for http(s), the server's ETag, Last-Modified
 * and Content-Length (a HEAD request). Equal fingerprints mean the data
 * has not changed, which is what a schedule's skipIfUnchanged compares.
 */
export async function datasetFingerprint(spec: FineTuneJobSpec, pvcRoot?: string): Promise<string> {
  const locations: [string, Location][] = [['dataset', spec.dataset]];
  if (spec.dataset.validation.uri !== undefined || spec.dataset.validation.pvc) locations.push(['validation', spec.dataset.validation]);
  const hash = createHash('sha256');
  for (const [name, location] of locations) hash.update(`${name}\n${await describeLocation(location, pvcRoot)}`);
  return `sha256:${hash.digest('hex')}`;
}

async function describeLocation(location: Location, pvcRoot?: string): Promise<string> {
  const resolved = resolveLocation(location, pvcRoot);
  if (resolved.kind === 'http') {
    const response = await fetch(resolved.url, { method: 'HEAD' });
    if (!response.ok) throw new Error(`HEAD ${resolved.url}: HTTP ${response.status}`);
    return ['etag', 'last-modified', 'content-length'].map((header) => `${header}: ${response.headers.get(header) ?? ''}`).join('\n');
  }
  const root = resolved.path;
  const lines: string[] = [];
  const walk = async (path: string): Promise<void> => {
    const info = await stat(path);
    if (info.isDirectory()) {
      for (const entry of (await readdir(path)).sort()) await walk(join(path, entry));
    } else {
      lines.push(`${relative(root, path) || '.'}\t${info.size}\t${Math.trunc(info.mtimeMs)}`);
    }
  };
  try {
    await walk(root);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new PermanentError(`spec.dataset: ${root} does not exist`);
    throw err;
  }
  return lines.join('\n');
}
