import { spawn } from 'node:child_process';
import { join } from 'node:path';

const INSTALL_SCRIPT = join(import.meta.dirname, '..', '..', 'hack', 'install-debian-packages.sh');

/**
 * Installs the Debian packages local mode reads (the dataset), and with
 * `tests` also those the tests run (Ceph's S3 gateway), once per machine, through hack/install-debian-packages.sh: a few
 * milliseconds when they are there; otherwise apt-get as root or with sudo,
 * or an error that names the package and the command to run.
 */
export function ensureDebianPackages(set: 'run' | 'tests' = 'run'): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [INSTALL_SCRIPT, ...(set === 'tests' ? ['tests'] : [])], {
      stdio: ['ignore', 'inherit', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      process.stderr.write(chunk);
    });
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0
        ? resolve()
        : reject(new Error(`${INSTALL_SCRIPT} failed (exit ${code}): ${stderr.trim().split('\n').at(-1) ?? ''}`)),
    );
  });
}
