import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';

export const SERVER_BINARIES = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler'] as const;
export type Binaries = Record<(typeof SERVER_BINARIES)[number] | 'kubectl', string>;

const BUILD_SCRIPT = join(import.meta.dirname, '..', '..', '..', 'hack', 'build-control-plane.sh');

/**
 * Where built binaries are kept between runs (one build per machine). Keyed by
 * the build script's hash, so a changed build recipe never reuses old binaries.
 */
export const DEFAULT_CACHE_DIR = join(
  process.env['XDG_CACHE_HOME'] ?? join(homedir(), '.cache'),
  'finetune-operator',
  `control-plane-v1.20-${createHash('sha256').update(readFileSync(BUILD_SCRIPT)).digest('hex').slice(0, 12)}`,
);

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Looks a binary up the envtest way: $KUBEBUILDER_ASSETS first, then PATH,
 * then the cache directory.
 */
export function findBinary(name: string, cacheDir = DEFAULT_CACHE_DIR): string | undefined {
  const dirs = [
    ...(process.env['KUBEBUILDER_ASSETS'] ? [process.env['KUBEBUILDER_ASSETS']] : []),
    ...(process.env['PATH'] ?? '').split(delimiter).filter(Boolean),
    cacheDir,
  ];
  return dirs.map((dir) => join(dir, name)).find(executable);
}

/**
 * Resolves every binary; kubectl is taken from the apiserver's directory when
 * it has one, so the client matches the server's version.
 */
export function resolveBinaries(cacheDir = DEFAULT_CACHE_DIR): Binaries | { missing: string[] } {
  const found = Object.fromEntries(SERVER_BINARIES.map((name) => [name, findBinary(name, cacheDir)]));
  const missing = SERVER_BINARIES.filter((name) => !found[name]);
  if (missing.length) return { missing };
  const besideServer = join(dirname(found['kube-apiserver']!), 'kubectl');
  const kubectl = executable(besideServer) ? besideServer : findBinary('kubectl', cacheDir);
  if (!kubectl) return { missing: ['kubectl'] };
  return { ...(found as Record<(typeof SERVER_BINARIES)[number], string>), kubectl };
}

/**
 * Returns the binaries, building them once into the cache directory when
 * missing (10-15 minutes on 2 cores; the build's progress goes to `log`).
 */
export async function ensureBinaries(
  options: { cacheDir?: string; log?: (line: string) => void } = {},
): Promise<Binaries> {
  const cacheDir = options.cacheDir ?? DEFAULT_CACHE_DIR;
  const log = options.log ?? ((line) => process.stderr.write(`${line}\n`));
  const first = resolveBinaries(cacheDir);
  if (!('missing' in first)) return first;
  log(
    `control plane: ${first.missing.join(', ')} not found in $KUBEBUILDER_ASSETS, PATH or ${cacheDir}; building them once from Debian's packages`,
  );
  await runBuild(cacheDir, log);
  const built = resolveBinaries(cacheDir);
  if ('missing' in built)
    throw new Error(`control plane build finished but ${built.missing.join(', ')} is still missing from ${cacheDir}`);
  return built;
}

function runBuild(cacheDir: string, log: (line: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [BUILD_SCRIPT, cacheDir], { stdio: ['ignore', 'pipe', 'pipe'] });
    const started = Date.now();
    let tail: string[] = [];
    const onData = (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n').filter(Boolean)) {
        tail = [...tail.slice(-30), line];
        // make prints one line per target; show those and the script's own steps.
        if (
          line.startsWith('[control-plane build]') ||
          line.includes('Building go targets') ||
          /^\s+(\.\/)?(cmd|vendor)\//.test(line)
        ) {
          log(`  [${Math.round((Date.now() - started) / 1000)}s] ${line.trim()}`);
        }
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0
        ? resolve()
        : reject(new Error(`control plane build failed (exit ${code}); last output:\n${tail.join('\n')}`)),
    );
  });
}
