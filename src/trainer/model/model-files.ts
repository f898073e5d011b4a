import { readFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { PermanentError } from '../errors.ts';
import { localCopy } from '../storage/local-copy.ts';
import type { Store } from '../storage/store.ts';

/**
 * A tfjs model (its model.json and the weight files it lists) as local files:
 * in place on a file system, else downloaded side by side into the cache,
 * each file once per ETag, so a retried pod on the same node downloads
 * nothing again. Returns the local model.json. A location that is not a
 * .json file (a folder or prefix) is refused at once, naming it.
 */
export async function localModelFiles(store: Store, cacheDir: string): Promise<string> {
  if (store.localPath !== undefined) return store.localPath;
  const name = posix.basename(new URL(store.uri).pathname);
  if (!name.endsWith('.json')) {
    throw new PermanentError(
      `spec.model.uri ${store.uri} names a folder or prefix, not a model: point it at the model's model.json (${store.uri.replace(/\/$/, '')}/model.json)`,
    );
  }
  const folder = store.beside('.');
  const modelJson = join(await localCopy(folder, cacheDir, [name]), name);
  let manifest: { paths?: string[] }[];
  try {
    manifest =
      (JSON.parse(await readFile(modelJson, 'utf8')) as { weightsManifest?: { paths?: string[] }[] }).weightsManifest ??
      [];
  } catch (err) {
    throw new PermanentError(`${store.uri} is not a tfjs model.json (${(err as Error).message})`);
  }
  await localCopy(folder, cacheDir, [name, ...manifest.flatMap((group) => group.paths ?? [])]);
  return modelJson;
}
