import { z } from 'zod';

/**
 * Where a model, a dataset or an output lives: a URI or a path on a
 * PersistentVolumeClaim. Kubernetes-style union: exactly one member is set,
 * checked by `exactlyOneLocation` (a structural CRD schema cannot say "one of").
 */
export const PvcPath = z
  .strictObject({
    claimName: z.string().min(1).meta({ description: "Name of a PersistentVolumeClaim in the job's namespace." }),
    path: z.string().default('/').meta({ description: 'Path inside the volume.' }),
  })
  .meta({
    description:
      'A path on a PersistentVolumeClaim, mounted read-only into the trainer pod for inputs and read-write for ' +
      'outputs.',
  });

export const locationFields = {
  uri: z
    .string()
    .min(1)
    .optional()
    .meta({
      description:
        'URI: file:///path (a path in the trainer container), http(s)://... (read-only, fetched with retries ' +
        'into a cache), ' +
        "s3://BUCKET/KEY (object storage; credentials from spec.storage.secretRef or the pod's identity), " +
        'gs://BUCKET/KEY ' +
        '(Google Cloud Storage through its S3-compatible API, HMAC keys), or pvc://CLAIM/path. Set either uri or pvc.',
    }),
  pvc: PvcPath.optional(),
};

export type PvcPath = z.output<typeof PvcPath>;
export interface Location {
  uri?: string | undefined;
  pvc?: PvcPath | undefined;
}

const SCHEMES = ['file:', 'http:', 'https:', 'pvc:', 's3:', 'gs:'];

/** Adds an issue at `path` unless exactly one of uri/pvc is set and the URI scheme is known. */
export function exactlyOneLocation(loc: Location, path: (string | number)[], ctx: z.RefinementCtx): void {
  if ((loc.uri === undefined) === (loc.pvc === undefined)) {
    ctx.addIssue({ code: 'custom', path, message: 'set exactly one of uri or pvc' });
    return;
  }
  if (loc.uri !== undefined) {
    const scheme = /^[a-z][a-z0-9+.-]*:/i.exec(loc.uri)?.[0].toLowerCase();
    if (!scheme || !SCHEMES.includes(scheme)) {
      ctx.addIssue({
        code: 'custom',
        path: [...path, 'uri'],
        message: `unsupported URI "${loc.uri}": use file://, http://, https://, s3://BUCKET/KEY, gs://BUCKET/KEY or pvc://CLAIM/path`,
      });
    } else if (
      (scheme === 's3:' || scheme === 'gs:') &&
      !/^[a-z0-9]+:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/|$)/i.test(loc.uri)
    ) {
      ctx.addIssue({
        code: 'custom',
        path: [...path, 'uri'],
        message: `"${loc.uri}" names no bucket: use ${scheme}//BUCKET/KEY (a bucket name has 3 to 63 letters, digits, dots and dashes)`,
      });
    }
  }
}

/**
 * Where the operator mounts a PersistentVolumeClaim in the trainer pod: claim
 * `data` is at /mnt/pvc/data. The trainer resolves pvc locations against it.
 */
export const PVC_MOUNT_ROOT = '/mnt/pvc';

export type ResolvedLocation =
  | { kind: 'file'; path: string }
  | { kind: 'http'; url: string }
  /** Object storage: `provider` gs is Google Cloud Storage's S3-compatible API. `key` has no leading slash; empty: the bucket. */
  | { kind: 's3'; provider: 's3' | 'gs'; bucket: string; key: string; uri: string };

/** Turns a uri or pvc location into a local path (file://, pvc), a URL (http(s)) or a bucket and key (s3://, gs://). */
export function resolveLocation(loc: Location, pvcRoot = PVC_MOUNT_ROOT): ResolvedLocation {
  const join = (...parts: string[]) =>
    parts
      .join('/')
      .replace(/\/{2,}/g, '/')
      .replace(/(.)\/$/, '$1');
  if (loc.pvc) return { kind: 'file', path: join(pvcRoot, loc.pvc.claimName, loc.pvc.path) };
  const uri = loc.uri ?? '';
  if (/^https?:\/\//i.test(uri)) return { kind: 'http', url: uri };
  const object = /^(s3|gs):\/\/([^/]+)\/?(.*)$/i.exec(uri);
  if (object) {
    return { kind: 's3', provider: object[1]!.toLowerCase() as 's3' | 'gs', bucket: object[2]!, key: object[3]!, uri };
  }
  if (uri.startsWith('pvc://')) return { kind: 'file', path: join(pvcRoot, uri.slice('pvc://'.length)) };
  if (uri.startsWith('file://')) return { kind: 'file', path: decodeURIComponent(uri.slice('file://'.length)) };
  throw new Error(`unsupported location "${uri}": use file://, http(s)://, s3://, gs:// or pvc://`);
}
