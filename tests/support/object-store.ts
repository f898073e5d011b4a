// The real S3 server (Ceph's RADOS Gateway) that `npm test` (scripts/test.ts) starts for the run:
// its endpoint and credentials, and a bucket of each test's own.
import { randomBytes } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { TestContext } from 'node:test';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { FileStore } from '../../src/trainer/storage/file-store.ts';
import { S3Store } from '../../src/trainer/storage/s3-store.ts';

function env(name: string): string {
  const value = process.env[name];
  if (!value)
    throw new Error(`${name} is not set: run the tests with \`npm test\`, which starts the S3 server (Ceph RGW)`);
  return value;
}

/** The variables a storage Secret holds for this server, as a Kubeflow Trainer or KServe user writes them. */
export function s3Credentials(): Record<string, string> {
  return {
    AWS_ACCESS_KEY_ID: env('FTJ_TEST_S3_ACCESS_KEY_ID'),
    AWS_SECRET_ACCESS_KEY: env('FTJ_TEST_S3_SECRET_ACCESS_KEY'),
    AWS_ENDPOINT_URL: env('FTJ_TEST_S3_ENDPOINT'),
    AWS_DEFAULT_REGION: 'us-east-1',
  };
}

/** Sets the credentials in this process' environment (the trainer reads them there) until the test ends. */
export function useS3Credentials(t: TestContext, overrides: Record<string, string | undefined> = {}): void {
  const variables = { ...s3Credentials(), ...overrides };
  const before = Object.fromEntries(Object.keys(variables).map((name) => [name, process.env[name]]));
  const set = (values: Record<string, string | undefined>) => {
    for (const [name, value] of Object.entries(values)) {
      if (value === undefined) Reflect.deleteProperty(process.env, name);
      else process.env[name] = value;
    }
  };
  set(variables);
  t.after(() => set(before));
}

/** A new bucket (3 to 63 characters) for one test. */
export async function testBucket(prefix = 'test'): Promise<string> {
  const { AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL } = s3Credentials();
  const client = new S3Client({
    endpoint: AWS_ENDPOINT_URL,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: AWS_ACCESS_KEY_ID!, secretAccessKey: AWS_SECRET_ACCESS_KEY! },
  });
  const bucket = `${prefix}-${randomBytes(4).toString('hex')}`;
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  client.destroy();
  return bucket;
}

/** Uploads a local file or folder under s3://BUCKET/KEY (needs the credentials in the environment). */
export async function uploadTo(bucket: string, key: string, path: string): Promise<string> {
  const target = new S3Store('s3', bucket, key);
  if (!statSync(path).isDirectory()) {
    await target.upload(path);
    return target.uri;
  }
  const files = (await new FileStore(path).list()).map((entry) => entry.path);
  for (const file of files) await target.at(file).upload(join(path, file));
  return target.uri;
}

/** Every file under a folder, relative (to compare with a bucket's listing). */
export function filesUnder(dir: string): string[] {
  const walk = (path: string): string[] =>
    statSync(path).isDirectory() ? readdirSync(path).flatMap((name) => walk(join(path, name))) : [relative(dir, path)];
  return walk(dir).sort();
}
