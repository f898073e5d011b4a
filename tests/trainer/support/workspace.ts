// A temporary workspace for trainer tests: the pretrained base (cached across
// test files by the hash of its recipe), IDX subsets, output and checkpoints.
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import {
  type FineTuneJobSpec,
  type FineTuneJobSpecInput,
  validateFineTuneJobSpec,
} from '../../../src/api/v1alpha1/index.ts';
import { selectBackend } from '../../../src/trainer/backend/select-backend.ts';
import { pretrainBase, TRANSFER_CLASSES } from '../../../src/local/quickstart/fashion-base-model.ts';
import { fashionSubset, writeIdx } from '../../../src/local/quickstart/fashion-mnist.ts';

/** The pretrained base's model.json; trained once per recipe version and reused. */
export async function pretrainedBase(): Promise<string> {
  const recipe = readFileSync(
    join(import.meta.dirname, '..', '..', '..', 'src', 'local', 'quickstart', 'fashion-base-model.ts'),
  );
  const dir = join(tmpdir(), `ftj-test-base-${createHash('sha256').update(recipe).digest('hex').slice(0, 12)}`);
  const modelJson = join(dir, 'model.json');
  if (existsSync(modelJson)) return modelJson;
  const building = mkdtempSync(`${dir}.building-`);
  await useWasm(); // not cpu: pretraining there takes minutes, not seconds
  await pretrainBase(join(building, 'model.json'), 500, 4);
  try {
    renameSync(building, dir);
  } catch {
    rmSync(building, { recursive: true, force: true });
  }
  return modelJson;
}

export async function useWasm(): Promise<void> {
  await selectBackend({ requireGpu: false, only: 'wasm' });
}

export interface Workspace {
  dir: string;
  base: string;
  data: string;
}

/** A workspace with the base and `perClass` examples of each transfer class as IDX. */
export async function workspace(t: TestContext, perClass = 40): Promise<Workspace> {
  const dir = mkdtempSync(join(tmpdir(), 'ftj-trainer-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const data = join(dir, 'data');
  writeIdx(data, await fashionSubset(TRANSFER_CLASSES, perClass));
  return { dir, base: await pretrainedBase(), data };
}

/** A valid spec over the workspace: classifier base cut at its penultimate layer, IDX data, CPU. */
export function specFor(ws: Workspace, overrides: Partial<FineTuneJobSpecInput> = {}): FineTuneJobSpec {
  const result = validateFineTuneJobSpec({
    task: { type: 'ImageClassification', numClasses: 5 },
    model: { uri: `file://${ws.base}`, outputKind: 'Classifier', input: { shape: [28, 28, 1] }, license: 'Apache-2.0' },
    dataset: {
      uri: `file://${ws.data}`,
      format: 'IDX',
      idx: { images: 'images.idx.gz', labels: 'labels.idx.gz' },
      validation: { split: 0.25 },
    },
    output: { uri: `file://${join(ws.dir, 'output')}` },
    resources: { gpus: 0 },
    batchSize: 32,
    ...overrides,
  });
  if (!result.valid) throw new Error(result.errors.join('\n'));
  return result.spec;
}
