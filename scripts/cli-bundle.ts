// kubectl-ftj as one JavaScript file, dist/kubectl-ftj.mjs, its dependencies inside, for `npm pack`:
// kubectl runs a plugin as an executable, and this one runs on the `node` first on PATH, which must be
// Node 22 (the package's engines; its HTTP client needs it). From a checkout, bin/kubectl-ftj runs the
// checkout's own Node 22 instead.
import { chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { build } from 'esbuild';

export const CLI_BUNDLE = join(import.meta.dirname, '..', 'dist', 'kubectl-ftj.mjs');

export async function buildCliBundle(outfile = CLI_BUNDLE): Promise<string> {
  await build({
    entryPoints: [join(import.meta.dirname, '..', 'src', 'cli', 'kubectl-ftj.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node22',
    // esbuild keeps the source's shebang first; CommonJS dependencies call require() for built-ins.
    banner: { js: "import { createRequire as createRequireForBundle } from 'node:module'; const require = createRequireForBundle(import.meta.url);" },
    logLevel: 'warning',
  });
  await chmod(outfile, 0o755);
  return outfile;
}
