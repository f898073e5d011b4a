import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * kubectl's cache, one for every process of this user (kubectl keys its
 * discovery by server address and writes each file atomically), instead of
 * kubectl's ~/.kube/cache, which a user's other clusters share. kubectl 1.20
 * keeps a discovery made before the CRDs existed and then reports their types
 * as unknown, so installCRDs clears the discovery part.
 */
const CACHE_DIR = join(tmpdir(), `ftj-kubectl-cache-${userInfo().uid}`);

/** Runs a kubectl binary against a kubeconfig, feeding `input` on stdin. */
export function runKubectl(binary: string, kubeconfig: string, args: string[], input = ''): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, [`--cache-dir=${CACHE_DIR}`, ...args], {
      env: { ...process.env, KUBECONFIG: kubeconfig },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code: code ?? 1, stdout, stderr }));
    child.stdin.end(input);
  });
}

export const CRD_DIR = join(import.meta.dirname, '..', '..', '..', 'crds');

/** Applies the project's CRDs (server-side, idempotent) and waits until the API server serves them. */
export async function installCRDs(binary: string, kubeconfig: string): Promise<void> {
  const applied = await runKubectl(binary, kubeconfig, ['apply', '--server-side', '--force-conflicts', '-f', CRD_DIR]);
  if (applied.code !== 0) throw new Error(`applying ${CRD_DIR} failed: ${applied.stderr}`);
  const waited = await runKubectl(binary, kubeconfig, [
    'wait',
    '--for=condition=Established',
    '--timeout=60s',
    '-f',
    CRD_DIR,
  ]);
  if (waited.code !== 0) throw new Error(`CRDs not Established: ${waited.stderr}`);
  rmSync(join(CACHE_DIR, 'discovery'), { recursive: true, force: true });
  // Established is not published: the API server adds a CRD's schema to /openapi/v2 a moment later, and
  // until then kubectl's client-side validation (1.20's only unknown-field check) lets typos through.
  for (const resource of ['finetunejobs', 'finetuneschedules']) {
    for (let tries = 0; (await runKubectl(binary, kubeconfig, ['explain', `${resource}.spec`])).code !== 0; tries++) {
      if (tries === 100) throw new Error(`the API server never published the OpenAPI schema of ${resource}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}
