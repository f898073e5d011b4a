// kubectl-ftj as one JavaScript file, dist/kubectl-ftj.mjs, its dependencies inside, for `npm pack`:
// kubectl runs a plugin as an executable, and this one runs on the `node` first on PATH, which must be
// Node 22 (the package's engines; its HTTP client needs it). From a checkout, bin/kubectl-ftj runs the
// checkout's own Node 22 instead.
import { chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { nodeBundle } from './node-bundle.ts';

export const CLI_BUNDLE = join(import.meta.dirname, '..', 'dist', 'kubectl-ftj.mjs');

export async function buildCliBundle(outfile = CLI_BUNDLE): Promise<string> {
  // esbuild keeps the source's shebang first, so the file runs as an executable.
  await nodeBundle(join(import.meta.dirname, '..', 'src', 'cli', 'kubectl-ftj.ts'), outfile);
  await chmod(outfile, 0o755);
  return outfile;
}
