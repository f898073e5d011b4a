// `npm run build:cli` (and `npm pack`): dist/kubectl-ftj.mjs, the kubectl plugin.
import { buildCliBundle } from './cli-bundle.ts';

console.log(`wrote ${await buildCliBundle()}`);
