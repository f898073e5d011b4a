import { z } from 'zod';

/**
 * Where a model, a dataset or an output lives: a URI or a path on a
 * PersistentVolumeClaim. Kubernetes-style union: exactly one member is set,
 * checked by `exactlyOneLocation` (a structural CRD schema cannot say "one of").
 */
export const PvcPath = z.strictObject({
  claimName: z.string().min(1).meta({ description: 'Name of a PersistentVolumeClaim in the job\'s namespace.' }),
  path: z.string().default('/').meta({ description: 'Path inside the volume.' }),
}).meta({ description: 'A path on a PersistentVolumeClaim, mounted read-only into the trainer pod for inputs and read-write for outputs.' });

export const locationFields = {
  uri: z.string().min(1).optional().meta({
    description: 'URI: file:///path (a path in the trainer container), http(s)://... (fetched with retries into a cache), or pvc://CLAIM/path. Set either uri or pvc.',
  }),
  pvc: PvcPath.optional(),
};

export type PvcPath = z.output<typeof PvcPath>;
export interface Location { uri?: string | undefined; pvc?: PvcPath | undefined }

const SCHEMES = ['file:', 'http:', 'https:', 'pvc:'];

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
        code: 'custom', path: [...path, 'uri'],
        message: `unsupported URI "${loc.uri}": use file://, http://, https:// or pvc://CLAIM/path`,
      });
    }
  }
}

/**
 * Where the operator mounts a PersistentVolumeClaim in the trainer pod: claim
 * `data` is at /mnt/pvc/data. The trainer resolves pvc locations against it.
 */
export const PVC_MOUNT_ROOT = '/mnt/pvc';

export type ResolvedLocation = { kind: 'file'; path: string } | { kind: 'http'; url: string };

/** Turns a uri or pvc location into a local path (file://, pvc) or a URL (http(s)). */
export function resolveLocation(loc: Location, pvcRoot = PVC_MOUNT_ROOT): ResolvedLocation {
  const join = (...parts: string[]) => parts.join('/').replace(/\/{2,}/g, '/').replace(/(.)\/$/, '$1');
  if (loc.pvc) return { kind: 'file', path: join(pvcRoot, loc.pvc.claimName, loc.pvc.path) };
  const uri = loc.uri ?? '';
  if (/^https?:\/\//i.test(uri)) return { kind: 'http', url: uri };
  if (uri.startsWith('pvc://')) return { kind: 'file', path: join(pvcRoot, uri.slice('pvc://'.length)) };
  if (uri.startsWith('file://')) return { kind: 'file', path: decodeURIComponent(uri.slice('file://'.length)) };
  throw new Error(`unsupported location "${uri}": use file://, http(s):// or pvc://`);
}
