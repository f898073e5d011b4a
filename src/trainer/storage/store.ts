import type { Location } from '../../api/v1alpha1/index.ts';
import { resolveLocation } from '../../api/v1alpha1/index.ts';
import { FileStore } from './file-store.ts';
import { HttpStore } from './http-store.ts';
import { S3Store } from './s3-store.ts';

/** An object under a location: its path relative to the location ('' for the location itself), size (-1: unknown) and ETag. */
export interface Entry {
  path: string;
  size: number;
  etag: string;
}

/**
 * One place where a model, a dataset, a checkpoint or an output lives, whatever
 * its scheme: file:// and pvc (this machine's file system), http(s) (read-only)
 * or s3:// and gs:// (object storage). Callers ask for what they need; each
 * implementation does it its own way, with its retries and error
 * classification: a refusal retrying cannot fix (403, 404, a bucket that does
 * not exist) is a PermanentError naming the URI and the server's code; an
 * unreachable endpoint or a 5xx is transient (the attempt fails, the operator
 * retries it with backoff).
 */
export interface Store {
  /** The location as a URI, for messages. */
  readonly uri: string;
  /** The path when the location is on this machine's file system (file://, pvc): read and written in place. */
  readonly localPath: string | undefined;
  /** The location below this one (a file of a dataset folder or prefix): `relative` is appended. */
  at(relative: string): Store;
  /** The location `relative` names beside this one, as a URL resolves (a model's weight files beside its model.json). */
  beside(relative: string): Store;
  /** Size and ETag of the object, or undefined when there is none. */
  stat(): Promise<Entry | undefined>;
  /** The objects under the location as a folder or prefix, or the location itself when it is one object; sorted by path. */
  list(): Promise<Entry[]>;
  /** The whole object, for small ones (model.json, a pointer, a vocabulary). */
  read(): Promise<Buffer>;
  /** Streams the object to a local file, never whole in memory; the file appears only once complete. */
  download(file: string): Promise<void>;
  /** Writes a local file as the object (multipart when large); a reader sees the old object or the new one, never part of one. */
  upload(file: string): Promise<void>;
  /** Writes a small object at once. */
  write(data: string | Buffer): Promise<void>;
  /** Deletes the object, or every object under the location as a folder or prefix; nothing there is no error. */
  remove(): Promise<void>;
}

/** The store of a spec location (uri or pvc); `pvcRoot` is where the pod mounts claims. */
export function openStore(location: Location, pvcRoot?: string): Store {
  const resolved = resolveLocation(location, pvcRoot);
  switch (resolved.kind) {
    case 'file':
      return new FileStore(resolved.path);
    case 'http':
      return new HttpStore(resolved.url);
    case 's3':
      return new S3Store(resolved.provider, resolved.bucket, resolved.key);
  }
}
