// Access to the control plane that `npm test` (scripts/test.ts) starts for the run.
import { randomBytes } from 'node:crypto';
import type { TestContext } from 'node:test';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { PooledKubeConfig } from '../../src/operator/runtime/pooled-kube-config.ts';
import {
  type CommandResult,
  installCRDs as installProjectCRDs,
  runKubectl,
} from '../../src/local/control-plane/index.ts';

function env(name: string): string {
  const value = process.env[name];
  if (!value)
    throw new Error(`${name} is not set: run the tests with \`npm test\`, which starts the local control plane`);
  return value;
}

export function kubeConfig(): KubeConfig {
  const kc = new PooledKubeConfig();
  kc.loadFromFile(env('FTJ_TEST_KUBECONFIG'));
  return kc;
}

/** Runs the control plane's own kubectl (same version as the server). */
export function kubectl(args: string[], input?: string): Promise<CommandResult> {
  return runKubectl(env('FTJ_TEST_KUBECTL'), env('FTJ_TEST_KUBECONFIG'), args, input);
}

/**
 * A fresh namespace for one test, deleted when the test ends. It is returned
 * once its default ServiceAccount has a token: until then the API server
 * refuses pods in it (500, "No API token found").
 */
export async function testNamespace(t: TestContext, prefix = 'test'): Promise<string> {
  const name = `${prefix}-${randomBytes(4).toString('hex')}`;
  const core = kubeConfig().makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name } } });
  t.after(() =>
    core.deleteNamespace({ name }).then(
      () => undefined,
      () => undefined,
    ),
  );
  await eventually(
    async () =>
      ((await core.readNamespacedServiceAccount({ name: 'default', namespace: name })).secrets?.length ?? 0) > 0,
    `the default ServiceAccount of ${name} and its token`,
  );
  return name;
}

let crdsInstalled: Promise<void> | undefined;

/** Installs the committed CRDs once per test file. */
export function installCRDs(): Promise<void> {
  crdsInstalled ??= installProjectCRDs(env('FTJ_TEST_KUBECTL'), env('FTJ_TEST_KUBECONFIG'));
  return crdsInstalled;
}

/** Polls `check` until it holds or the timeout passes. */
export async function eventually(
  check: () => Promise<boolean> | boolean,
  what: string,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      if (await check()) return;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
