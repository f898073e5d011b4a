// Writes crds/*.yaml (and the Helm chart's copy) and docs/api-reference.md from the zod schemas;
// tests/api/crds.test.ts fails when any of them drifts.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { API_REFERENCE, renderApiReference } from '../src/api/crd/render-api-reference.ts';
import { CRD_DIRS, renderCRDs } from '../src/api/crd/render-crds.ts';

const root = join(import.meta.dirname, '..');
for (const dir of CRD_DIRS) {
  mkdirSync(join(root, dir), { recursive: true });
  for (const [file, text] of Object.entries(renderCRDs())) {
    writeFileSync(join(root, dir, file), text);
    console.log(`wrote ${dir}/${file}`);
  }
}
writeFileSync(join(root, API_REFERENCE), renderApiReference());
console.log(`wrote ${API_REFERENCE}`);
