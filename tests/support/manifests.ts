import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { ROOT } from './paths.ts';

export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; annotations?: Record<string, string> };
  spec: Record<string, unknown>;
}

/** Every document of a YAML file, parsed. */
export function readManifests(path: string): Manifest[] {
  return parseAllDocuments(readFileSync(path, 'utf8')).map((doc) => doc.toJS() as Manifest);
}

export const EXAMPLES_DIR = join(ROOT, 'examples');

export function exampleManifests(): { file: string; manifest: Manifest }[] {
  return readdirSync(EXAMPLES_DIR)
    .filter((f) => f.endsWith('.yaml'))
    .flatMap((file) => readManifests(join(EXAMPLES_DIR, file)).map((manifest) => ({ file, manifest })));
}

export const invalidFineTuneJobs = () => readManifests(join(ROOT, 'tests', 'fixtures', 'invalid-finetunejobs.yaml'));
