// One JavaScript file with its dependencies inside, for Node 22 (the operator's image, the kubectl plugin).
import { build } from 'esbuild';

export async function nodeBundle(entry: string, outfile: string): Promise<string> {
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node22',
    // CommonJS dependencies (undici, prom-client) call require() for Node's built-ins; an ES module has none.
    banner: {
      js: "import { createRequire as createRequireForBundle } from 'node:module'; const require = createRequireForBundle(import.meta.url);",
    },
    logLevel: 'warning',
  });
  return outfile;
}
