import { readFileSync } from 'node:fs';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';

/** Where Google Cloud Storage serves its S3-compatible XML API (HMAC keys). */
export const GCS_ENDPOINT = 'https://storage.googleapis.com';

const off = (value: string | undefined) => value !== undefined && ['0', 'false', 'no'].includes(value.toLowerCase());

/**
 * The S3 client's settings from the environment, with the variable names
 * Kubeflow Trainer and KServe users already put in a storage Secret:
 * AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (none: the SDK's default chain,
 * so IRSA / web identity on the pod's ServiceAccount; AWS_NO_SIGN_REQUEST=true:
 * anonymous, for public buckets), AWS_ENDPOINT_URL (or AWS_ENDPOINT_URL_S3, or
 * KServe's S3_ENDPOINT with S3_USE_HTTPS), AWS_REGION or AWS_DEFAULT_REGION,
 * S3_VERIFY_SSL=0 (no certificate check) and AWS_CA_BUNDLE (a private CA).
 * An endpoint other than AWS' means path-style addressing (Ceph, MinIO; set
 * S3_ADDRESSING_STYLE=virtual to keep virtual-hosted style). gs:// uses Google
 * Cloud Storage's endpoint unless one is set.
 *
 * Checksums only when an operation requires them: the SDK computes and
 * validates CRC32 checksums on every request by default (since early 2025),
 * and a streamed PutObject then carries an aws-chunked trailer that Ceph RGW
 * (Pacific, Debian bookworm's) refuses with 411 MissingContentLength, as
 * several S3-compatible servers do. Integrity still holds: multipart parts and
 * objects carry their MD5 ETags, and downloads are checked against sizes.
 */
export function s3ClientConfig(provider: 's3' | 'gs', env: NodeJS.ProcessEnv = process.env): S3ClientConfig {
  const kserve = env['S3_ENDPOINT']
    ? env['S3_ENDPOINT'].includes('://')
      ? env['S3_ENDPOINT']
      : `${off(env['S3_USE_HTTPS']) ? 'http' : 'https'}://${env['S3_ENDPOINT']}`
    : undefined;
  const endpoint =
    env['AWS_ENDPOINT_URL_S3'] ?? env['AWS_ENDPOINT_URL'] ?? kserve ?? (provider === 'gs' ? GCS_ENDPOINT : undefined);
  const verify = !off(env['S3_VERIFY_SSL']);
  const ca = env['AWS_CA_BUNDLE'] ? readFileSync(env['AWS_CA_BUNDLE']) : undefined;
  const accessKeyId = env['AWS_ACCESS_KEY_ID'];
  const secretAccessKey = env['AWS_SECRET_ACCESS_KEY'];
  const anonymous = env['AWS_NO_SIGN_REQUEST']?.toLowerCase() === 'true';
  return {
    region: env['AWS_REGION'] ?? env['AWS_DEFAULT_REGION'] ?? (provider === 'gs' ? 'auto' : 'us-east-1'),
    ...(endpoint ? { endpoint, forcePathStyle: env['S3_ADDRESSING_STYLE'] !== 'virtual' } : {}),
    ...(accessKeyId && secretAccessKey
      ? {
          credentials: {
            accessKeyId,
            secretAccessKey,
            ...(env['AWS_SESSION_TOKEN'] ? { sessionToken: env['AWS_SESSION_TOKEN'] } : {}),
          },
        }
      : {}),
    // Unsigned requests: the request goes out as it is.
    ...(anonymous ? { signer: { sign: async (request: unknown) => request } as S3ClientConfig['signer'] } : {}),
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    // The SDK's standard retry: 5 tries (AWS_MAX_ATTEMPTS) with jittered exponential backoff for throttling, 5xx and network errors.
    maxAttempts: Number(env['AWS_MAX_ATTEMPTS']) || 5,
    requestHandler: new NodeHttpHandler({
      httpAgent: new HttpAgent({ keepAlive: true }),
      httpsAgent: new HttpsAgent({ keepAlive: true, rejectUnauthorized: verify, ...(ca ? { ca } : {}) }),
      connectionTimeout: 10_000,
    }),
  };
}

const clients = new Map<string, S3Client>();
const SETTINGS = /^(AWS_|S3_)/;

/** One client per provider and settings for the process (its connections are pooled); new settings, a new client. */
export function s3Client(provider: 's3' | 'gs'): S3Client {
  const key = JSON.stringify([
    provider,
    Object.entries(process.env)
      .filter(([name]) => SETTINGS.test(name))
      .sort(),
  ]);
  let client = clients.get(key);
  if (!client) clients.set(key, (client = new S3Client(s3ClientConfig(provider))));
  return client;
}
