// `npm run build:operator`: dist/operator.mjs, what images/operator/Dockerfile runs.
import { buildOperatorBundle } from './operator-bundle.ts';

console.log(`wrote ${await buildOperatorBundle()}`);
