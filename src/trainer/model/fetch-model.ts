import { createHash } from 'node:crypto';
import { mkdir, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PermanentError } from '../errors.ts';

export interface FetchOptions { cacheDir: string; timeoutMs?: number; retries?: number }

/**
 * Downloads an http(s) model (model.json and the weight files it lists) into
 * a cache directory keyed by the URL, so a restarted pod with the same volume
 * does not download again. Returns the local model.json path.
 */
export async function fetchModel(url: string, options: FetchOptions): Promise<string> {
  const dir = join(options.cacheDir, createHash('sha256').update(url).digest('hex').slice(0, 16));
  const modelJson = join(dir, 'model.json');
  if (await exists(join(dir, '.complete'))) return modelJson;
  await mkdir(dir, { recursive: true });
  const json = await download(url, options);
  const manifest = (JSON.parse(json.toString('utf8')) as { weightsManifest?: { paths: string[] }[] }).weightsManifest ?? [];
  for (const path of manifest.flatMap((group) => group.paths)) {
    await writeAtomically(join(dir, path), await download(new URL(path, url).toString(), options));
  }
  await writeAtomically(modelJson, json);
  await writeFile(join(dir, '.complete'), url);
  return modelJson;
}

async function download(url: string, { timeoutMs = 60_000, retries = 4 }: FetchOptions): Promise<Buffer> {
  let lastError = '';
  for (let attempt = 0; attempt <= retries; attempt++) {
    if (attempt) await new Promise((r) => setTimeout(r, 500 * 2 ** attempt));
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
      if (response.ok) return Buffer.from(await response.arrayBuffer());
      lastError = `HTTP ${response.status} ${response.statusText}`;
      // 4xx (but 408/429) will not change on retry.
      if (response.status >= 400 && response.status < 500 && ![408, 429].includes(response.status)) break;
    } catch (err) {
      lastError = (err as Error).message;
    }
  }
  throw new PermanentError(`cannot download ${url}: ${lastError} (check spec.model.uri)`);
}

async function writeAtomically(path: string, data: Buffer): Promise<void> {
  await writeFile(`${path}.partial`, data);
  await rename(`${path}.partial`, path);
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}
