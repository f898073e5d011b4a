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
    banner: {
      js: [
        // An older Node fails deep in a dependency (undici reads zlib's zstd, new in Node 22): say what is needed.
        'if (Number(process.versions.node.split(".")[0]) < 22) {',
        `  console.error(\`\${process.argv[1]} needs Node 22 or later; this is Node \${process.version} (\${process.execPath}).\`);`,
        '  process.exit(1);',
        '}',
        // CommonJS dependencies (undici, prom-client) call require() for Node's built-ins; an ES module has none.
        "import { createRequire as createRequireForBundle } from 'node:module';",
        'const require = createRequireForBundle(import.meta.url);',
      ].join('\n'),
    },
    logLevel: 'warning',
  });
  return outfile;
}
