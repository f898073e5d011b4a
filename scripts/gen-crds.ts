// Writes crds/*.yaml from the zod schemas; tests/api/crds.test.ts fails when they drift.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderCRDs } from '../src/api/crd/render-crds.ts';

const dir = join(import.meta.dirname, '..', 'crds');
mkdirSync(dir, { recursive: true });
for (const [file, text] of Object.entries(renderCRDs())) {
  writeFileSync(join(dir, file), text);
  console.log(`wrote crds/${file}`);
}
