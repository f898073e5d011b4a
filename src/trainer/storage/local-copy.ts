import { createHash } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { PermanentError } from '../errors.ts';
import { FileStore } from './file-store.ts';
import type { Entry, Store } from './store.ts';

/** Where remote inputs are cached when the caller names no folder: the trainer's --cache-dir default. */
export const DEFAULT_CACHE_DIR = process.env['FTJ_CACHE_DIR'] ?? join(tmpdir(), 'finetune-cache');

/** What a cached copy holds: each file's ETag when it was downloaded. */
const MANIFEST = '.etags.json';

/**
 * A local path holding a location's content, for code that reads files
 * (tfjs' model loader, sharp, the dataset readers). On this machine's file
 * system it is the location itself, nothing copied. A remote location is
 * downloaded into the cache, one folder per URI, each object streamed to disk
 * and downloaded again only when its ETag changed: a retried pod on the same
 * node downloads nothing. `paths` (relative) copies only those objects, else
 * every object under the location; for a location that is one object the
 * result is that file's path, else the folder's.
 */
export async function localCopy(store: Store, cacheDir: string, paths?: string[]): Promise<string> {
  if (store.localPath !== undefined) return store.localPath;
  const entries = paths ? await Promise.all(paths.map((path) => statOrFail(store, path))) : await store.list();
  const dir = join(cacheDir, 'objects', createHash('sha256').update(store.uri).digest('hex').slice(0, 16));
  const manifest = await readManifest(dir);
  const single = entries.length === 1 && entries[0]!.path === '';
  const fileOf = (entry: Entry) => join(dir, entry.path === '' ? basename(store.uri) || 'object' : entry.path);
  let fetched = 0;
  const saveManifest = () => writeFile(join(dir, MANIFEST), JSON.stringify(manifest));
  const copy = async (entry: Entry) => {
    const file = fileOf(entry);
    const object = entry.path === '' ? store : store.at(entry.path);
    const sizeOk = (size: number) => entry.size < 0 || size === entry.size;
    const cached =
      manifest[entry.path] === entry.etag &&
      entry.etag !== '' &&
      (await stat(file).then(
        (s) => sizeOk(s.size),
        () => false,
      ));
    if (cached) return;
    await object.download(file);
    const size = (await stat(file)).size;
    if (!sizeOk(size)) throw new Error(`${object.uri}: downloaded ${size} bytes of ${entry.size}; retried`);
    manifest[entry.path] = entry.etag;
    // Recorded in batches: a copy cut short only downloads again what it had not recorded.
    if (++fetched % MANIFEST_EVERY === 0) await saveManifest();
  };
  // A few downloads at a time: an ImageFolder is thousands of small objects, each a request's round trip.
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(PARALLEL_DOWNLOADS, entries.length) }, async () => {
      while (next < entries.length) await copy(entries[next++]!);
    }),
  );
  if (fetched % MANIFEST_EVERY !== 0) await saveManifest();
  return single ? fileOf(entries[0]!) : dir;
}

/** Objects downloaded at once, and how many between two writes of the manifest. */
const PARALLEL_DOWNLOADS = 8;
const MANIFEST_EVERY = 200;

async function statOrFail(store: Store, path: string): Promise<Entry> {
  const entry = await store.at(path).stat();
  if (!entry) throw new PermanentError(`${store.at(path).uri} does not exist`);
  return { ...entry, path };
}

async function readManifest(dir: string): Promise<Record<string, string>> {
  try {
    return JSON.parse(await readFile(join(dir, MANIFEST), 'utf8')) as Record<string, string>;
  } catch {
    return {};
  }
}

/**
 * Writes a local folder's files under a location, `last` (model.json, a pointer) after every other:
 * a reader that finds it finds everything it names. On the file system it is the folder itself.
 */
export async function publishFolder(dir: string, store: Store, last: string[]): Promise<void> {
  if (store.localPath === dir) return;
  const files = (await new FileStore(dir).list()).map((entry) => entry.path).filter((path) => path !== MANIFEST);
  const ordered = [...files.filter((path) => !last.includes(path)), ...last.filter((path) => files.includes(path))];
  for (const path of ordered) await store.at(path).upload(join(dir, path));
}
