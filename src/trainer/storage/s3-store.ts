import { createWriteStream } from 'node:fs';
import { mkdir, rename, stat as statFile } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { dirname, posix } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { PermanentError } from '../errors.ts';
import { s3Client } from './s3-client.ts';
import type { Entry, Store } from './store.ts';

/** Parts of a multipart upload: 16 MiB, 4 at a time (at most 64 MiB of a large file in memory). */
const PART_SIZE = 16 * 1024 * 1024;
const QUEUE_SIZE = 4;

/**
 * An s3:// (or gs://) location: a bucket and a key, which is an object or,
 * for a folder, a prefix ('data/images' lists data/images/...).
 */
export class S3Store implements Store {
  readonly localPath = undefined;
  private readonly provider: 's3' | 'gs';
  private readonly bucket: string;
  private readonly key: string;

  constructor(provider: 's3' | 'gs', bucket: string, key: string) {
    this.provider = provider;
    this.bucket = bucket;
    this.key = key;
  }

  get uri(): string {
    return `${this.provider}://${this.bucket}/${this.key}`;
  }

  private get client(): S3Client {
    return s3Client(this.provider);
  }

  at(path: string): S3Store {
    return new S3Store(this.provider, this.bucket, [this.key.replace(/\/$/, ''), path].filter(Boolean).join('/'));
  }

  beside(path: string): S3Store {
    return new S3Store(
      this.provider,
      this.bucket,
      posix.normalize(posix.join(posix.dirname(this.key), path)).replace(/^\.\/?/, ''),
    );
  }

  async stat(): Promise<Entry | undefined> {
    if (!this.key || this.key.endsWith('/')) return undefined;
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.key }));
      return { path: '', size: head.ContentLength ?? 0, etag: head.ETag ?? '' };
    } catch (err) {
      if (statusOf(err) !== 404) throw this.failure(err, 'HEAD');
    }
    // A HEAD's 404 has no body to say whether the object or the bucket is missing: the bucket is asked.
    await this.client.send(new HeadBucketCommand({ Bucket: this.bucket })).catch((err: unknown) => {
      throw this.failure(statusOf(err) === 404 ? Object.assign(err as object, { name: 'NoSuchBucket' }) : err, 'HEAD');
    });
    return undefined;
  }

  async list(): Promise<Entry[]> {
    const itself = await this.stat();
    if (itself) return [itself];
    const prefix = this.key && !this.key.endsWith('/') ? `${this.key}/` : this.key;
    const entries: Entry[] = [];
    let token: string | undefined;
    do {
      const page = await this.client
        .send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }))
        .catch((err: unknown) => {
          throw this.failure(err, 'LIST');
        });
      for (const object of page.Contents ?? []) {
        if (object.Key && !object.Key.endsWith('/'))
          entries.push({ path: object.Key.slice(prefix.length), size: object.Size ?? 0, etag: object.ETag ?? '' });
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    if (!entries.length) throw new PermanentError(`${this.uri}: no such object, and no object under it (NoSuchKey)`);
    return entries.sort((a, b) => (a.path < b.path ? -1 : 1));
  }

  async read(): Promise<Buffer> {
    const body = await this.get();
    const chunks: Buffer[] = [];
    for await (const chunk of body) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  async download(file: string): Promise<void> {
    await mkdir(dirname(file), { recursive: true });
    const body = await this.get();
    await pipeline(body, createWriteStream(`${file}.partial`)).catch((err: unknown) => {
      throw this.failure(err, 'GET');
    });
    await rename(`${file}.partial`, file);
  }

  /**
   * Multipart for a large file, a single PUT for a small one. S3 makes an object visible only when its
   * upload completes: a reader never sees part of one, and an upload that did not finish leaves the old object.
   */
  async upload(file: string): Promise<void> {
    const { size } = await statFile(file);
    const upload = new Upload({
      client: this.client,
      partSize: PART_SIZE,
      queueSize: QUEUE_SIZE,
      leavePartsOnError: false,
      params: { Bucket: this.bucket, Key: this.key, Body: createReadStream(file), ContentLength: size },
    });
    await upload.done().catch((err: unknown) => {
      throw this.failure(err, 'PUT');
    });
  }

  async write(data: string | Buffer): Promise<void> {
    const body = typeof data === 'string' ? Buffer.from(data) : data;
    await this.client
      .send(new PutObjectCommand({ Bucket: this.bucket, Key: this.key, Body: body, ContentLength: body.length }))
      .catch((err: unknown) => {
        throw this.failure(err, 'PUT');
      });
  }

  async remove(): Promise<void> {
    const entries = await this.list().catch((err: unknown) => {
      if (err instanceof PermanentError) return [];
      throw err;
    });
    const keys = entries.map((entry) => (entry.path === '' ? this.key : this.at(entry.path).key));
    // DeleteObjects takes at most 1,000 keys a request.
    for (let start = 0; start < keys.length; start += 1000) {
      await this.client
        .send(
          new DeleteObjectsCommand({
            Bucket: this.bucket,
            Delete: { Objects: keys.slice(start, start + 1000).map((Key) => ({ Key })), Quiet: true },
          }),
        )
        .catch((err: unknown) => {
          throw this.failure(err, 'DELETE');
        });
    }
  }

  private async get(): Promise<Readable> {
    const response = await this.client
      .send(new GetObjectCommand({ Bucket: this.bucket, Key: this.key }))
      .catch((err: unknown) => {
        throw this.failure(err, 'GET');
      });
    return response.Body as Readable;
  }

  /**
   * What a failed request means: a 4xx (but 408 and 429, already retried by the SDK) will not change on a
   * retry, so it is permanent and says what to check; anything else (5xx, an unreachable endpoint) is transient.
   */
  private failure(err: unknown, verb: string): Error {
    const status = statusOf(err);
    // A HEAD's error has no body, so no code: the status says what there is to say.
    const name = errorName(err) === 'Unknown' && status ? (STATUS_NAMES[status] ?? `HTTP${status}`) : errorName(err);
    const code = (err as { code?: string }).code ?? (err as { cause?: { code?: string } }).cause?.code;
    const what = `${verb} ${this.uri}: ${name}${status ? ` (HTTP ${status})` : ''}${code && code !== name ? ` ${code}` : ''}`;
    if (status && status >= 400 && status < 500 && status !== 408 && status !== 429) {
      return new PermanentError(`${what}: ${HINTS[name] ?? HINTS[String(status)] ?? 'the server refused the request'}`);
    }
    return new Error(
      `${what}${status ? '' : `: ${(err as Error).message}`} (the endpoint did not answer, or failed; retried)`,
    );
  }
}

const HINTS: Record<string, string> = {
  NoSuchBucket: 'the bucket does not exist: check the URI, or create the bucket',
  NoSuchKey: 'no such object: check the URI (a model is its model.json, a dataset folder is a prefix)',
  AccessDenied:
    "access denied: check the credentials in spec.storage.secretRef (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) or the pod's role",
  InvalidAccessKeyId: 'unknown access key: check AWS_ACCESS_KEY_ID in spec.storage.secretRef',
  SignatureDoesNotMatch: 'wrong secret key: check AWS_SECRET_ACCESS_KEY in spec.storage.secretRef',
  Forbidden:
    "access denied: check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in spec.storage.secretRef, or the pod's role",
  403: "access denied: check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in spec.storage.secretRef, or the pod's role",
  404: 'not found: check the URI',
};

const STATUS_NAMES: Record<number, string> = { 400: 'BadRequest', 403: 'Forbidden', 404: 'NotFound' };

const statusOf = (err: unknown) => (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
const errorName = (err: unknown) => (err as { name?: string }).name ?? 'Error';
