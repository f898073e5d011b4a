import { createWriteStream } from 'node:fs';
import { mkdir, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { PermanentError } from '../errors.ts';
import type { Entry, Store } from './store.ts';

const RETRIES = 4;
const TIMEOUT_MS = 60_000;

/** An http(s) location: read-only, each request retried with backoff; a 4xx (but 408 and 429) is final. */
export class HttpStore implements Store {
  readonly uri: string;
  readonly localPath = undefined;

  constructor(url: string) {
    this.uri = url;
  }

  at(path: string): HttpStore {
    return new HttpStore(`${this.uri.replace(/\/$/, '')}/${path}`);
  }

  beside(path: string): HttpStore {
    return new HttpStore(new URL(path, this.uri).toString());
  }

  async stat(): Promise<Entry | undefined> {
    const response = await this.request('HEAD', true);
    if (!response) return undefined;
    const header = (name: string) => response.headers.get(name) ?? '';
    // A server that sends no length has a size of -1 (unknown); one that sends no ETag nor Last-Modified is never cached.
    return {
      path: '',
      size: header('content-length') ? Number(header('content-length')) : -1,
      etag: header('etag') || header('last-modified'),
    };
  }

  /** An http(s) server lists nothing: the location is one object. */
  async list(): Promise<Entry[]> {
    const entry = await this.stat();
    if (!entry) throw new PermanentError(`${this.uri}: HTTP 404 Not Found`);
    return [entry];
  }

  async read(): Promise<Buffer> {
    const response = (await this.request('GET'))!;
    return Buffer.from(await response.arrayBuffer());
  }

  async download(file: string): Promise<void> {
    const response = (await this.request('GET'))!;
    await mkdir(dirname(file), { recursive: true });
    await pipeline(
      Readable.fromWeb(response.body! as import('node:stream/web').ReadableStream),
      createWriteStream(`${file}.partial`),
    );
    await rename(`${file}.partial`, file);
  }

  upload(): Promise<void> {
    return Promise.reject(this.readOnly());
  }

  write(): Promise<void> {
    return Promise.reject(this.readOnly());
  }

  remove(): Promise<void> {
    return Promise.reject(this.readOnly());
  }

  private readOnly(): PermanentError {
    return new PermanentError(
      `${this.uri}: http(s) locations are read-only; write outputs and checkpoints to s3://, a PVC or file://`,
    );
  }

  /** The response, retried on network errors, 5xx, 408 and 429; undefined for a 404 when `missingOk`. */
  private async request(method: 'GET' | 'HEAD', missingOk = false): Promise<Response | undefined> {
    let last = '';
    for (let attempt = 0; attempt <= RETRIES; attempt++) {
      if (attempt) await new Promise((resolve) => setTimeout(resolve, 500 * 2 ** attempt));
      try {
        const response = await fetch(this.uri, { method, signal: AbortSignal.timeout(TIMEOUT_MS) });
        if (response.ok) return response;
        if (response.status === 404 && missingOk) return undefined;
        last = `HTTP ${response.status} ${response.statusText}`;
        if (response.status >= 400 && response.status < 500 && ![408, 429].includes(response.status)) {
          throw new PermanentError(`${this.uri}: ${last}`);
        }
      } catch (err) {
        if (err instanceof PermanentError) throw err;
        last = (err as Error).message;
      }
    }
    throw new Error(`${this.uri}: ${last} after ${RETRIES + 1} tries`);
  }
}
