// The operator as its image runs it: one JavaScript file, dist/operator.mjs, with its
// dependencies inside (the image needs no node_modules), started with V8 memory flags.
// One file, not client-node's thousand modules, cuts the operator's start (~0.9 s of
// module loading to ~0.5 s) and its memory (~40 MB); and it is plain JavaScript: Node's
// type stripping would load a WebAssembly compiler costing another ~40 MB.
import { join } from 'node:path';
import { nodeBundle } from './node-bundle.ts';

export const OPERATOR_BUNDLE = join(import.meta.dirname, '..', 'dist', 'operator.mjs');

/**
 * The node flags of images/operator/Dockerfile's ENTRYPOINT. The heap limit keeps V8 from
 * growing into the pod's memory limit; small young-generation semi-spaces keep the informers'
 * list bursts from growing it by ~50 MB; one GC helper thread saves another ~10 MB.
 */
export const OPERATOR_NODE_FLAGS = ['--max-old-space-size=192', '--max-semi-space-size=4', '--v8-pool-size=1'];

export async function buildOperatorBundle(outfile = OPERATOR_BUNDLE): Promise<string> {
  return await nodeBundle(join(import.meta.dirname, '..', 'src', 'operator', 'main.ts'), outfile);
}
