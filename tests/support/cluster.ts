// Access to the control plane that `npm test` (scripts/test.ts) starts for the run.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { ApiextensionsV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { ROOT } from './paths.ts';

const CRD_DIR = join(ROOT, 'crds');

function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the tests with \`npm test\`, which starts the local control plane`);
  return value;
}

export function kubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(env('FTJ_TEST_KUBECONFIG'));
  return kc;
}

export interface CommandResult { code: number; stdout: string; stderr: string }

/** Runs the control plane's own kubectl (same version as the server). */
export function kubectl(args: string[], input?: string): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(env('FTJ_TEST_KUBECTL'), args, {
      env: { ...process.env, KUBECONFIG: env('FTJ_TEST_KUBECONFIG') },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code: code ?? 1, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}

/** A fresh namespace for one test, deleted when the test ends. */
export async function testNamespace(t: TestContext, prefix = 'test'): Promise<string> {
  const name = `${prefix}-${randomBytes(4).toString('hex')}`;
  const core = kubeConfig().makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name } } });
  t.after(() => core.deleteNamespace({ name }).then(() => undefined, () => undefined));
  return name;
}

let crdsInstalled: Promise<void> | undefined;

/** Applies the committed CRDs (server-side, idempotent) and waits until they are Established. */
export function installCRDs(): Promise<void> {
  crdsInstalled ??= (async () => {
    const applied = await kubectl(['apply', '--server-side', '--force-conflicts', '-f', CRD_DIR]);
    if (applied.code !== 0) throw new Error(`applying crds/ failed: ${applied.stderr}`);
    const ext = kubeConfig().makeApiClient(ApiextensionsV1Api);
    const names = readdirSync(CRD_DIR).map((file) => file.replace(/^finetune\.dev_(.*)\.yaml$/, '$1.finetune.dev'));
    for (const name of names) {
      await eventually(async () => {
        const crd = await ext.readCustomResourceDefinition({ name });
        return crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ?? false;
      }, `CRD ${name} Established`);
    }
  })();
  return crdsInstalled;
}

/** Polls `check` until it holds or the timeout passes. */
export async function eventually(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      if (await check()) return;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
