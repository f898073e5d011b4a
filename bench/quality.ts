// `npm run bench:quality`: is transfer learning with the trainer's defaults
// better than training from scratch? Prints a table (asserts nothing).
//
// On Fashion-MNIST class splits: a small CNN with BatchNormalization is
// pretrained on five source classes (cached); the target task is the five
// other classes with few labels each. Each run trains on those labels (the
// trainer holds 20% out for validation, as its default does) and is scored on
// every test image of the target classes (5,000). Runs: the same network from
// scratch on all the labels (bare tfjs, 30 epochs), head only, the trainer's
// defaults, and recipe variants. Options: --splits A,B --labels 25,100 --rounds 1
// --runs name,name (see RUNS).
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { type FineTuneJobSpecInput, validateFineTuneJobSpec } from '../src/api/v1alpha1/index.ts';
import { pretrainBase, smallCnn } from '../src/local/quickstart/fashion-base-model.ts';
import { fashionSubset, type Subset, writeIdx } from '../src/local/quickstart/fashion-mnist.ts';
import { selectBackend } from '../src/trainer/backend/select-backend.ts';
import { fileSystemModel } from '../src/trainer/model/file-io-handler.ts';
import { runStagedTraining } from '../src/trainer/staged-training.ts';

const { values } = parseArgs({ options: {
  splits: { type: 'string', default: 'A,B' },
  labels: { type: 'string', default: '25,100' },
  rounds: { type: 'string', default: '1' },
  runs: { type: 'string' },
} });

const SPLITS = {
  A: { source: [0, 1, 2, 3, 4], target: [5, 6, 7, 8, 9] },
  B: { source: [5, 6, 7, 8, 9], target: [0, 1, 2, 3, 4] },
} as const;
type Stages = FineTuneJobSpecInput['stages'];

/** The runs: `scratch` is bare tfjs; every other one is the trainer with these stages (undefined: its defaults). */
const RUNS: Record<string, Stages | 'scratch'> = {
  'scratch': 'scratch',
  'head only': [{ name: 'head' }],
  'defaults': undefined,
  'head 30 + all 1e-4 x15': [
    { name: 'head', epochs: 30 },
    { name: 'fine-tune', epochs: 15, unfreeze: { policy: 'All' }, optimizer: { learningRate: 1e-4 } },
  ],
  'steps + all 1e-4': [{ name: 'head' }, { name: 'fine-tune', unfreeze: { policy: 'All' }, optimizer: { learningRate: 1e-4 } }],
  'steps + all 1e-4 + flip': [{ name: 'head' }, { name: 'fine-tune', unfreeze: { policy: 'All' }, optimizer: { learningRate: 1e-4 } }],
  'steps + all 1e-4 patience 20': [
    { name: 'head' }, { name: 'fine-tune', unfreeze: { policy: 'All' }, optimizer: { learningRate: 1e-4 }, earlyStopping: { patience: 20 } },
  ],
  'steps + all 1e-4 BN train': [
    { name: 'head' }, { name: 'fine-tune', unfreeze: { policy: 'All' }, optimizer: { learningRate: 1e-4 }, batchNormalization: 'Train' },
  ],
  'steps + all 1e-4 warm-up cosine': [
    { name: 'head' },
    { name: 'fine-tune', unfreeze: { policy: 'All' }, optimizer: { learningRate: 1e-4, warmupEpochs: 1, decay: { type: 'Cosine' } } },
  ],
};

const cacheDir = join(process.env['XDG_CACHE_HOME'] ?? join(homedir(), '.cache'), 'finetune-operator', 'bench-quality');
await selectBackend({ requireGpu: false, only: 'wasm' });

/** The pretrained base of a split, trained once and cached (keyed by the recipe's source file). */
async function baseFor(split: keyof typeof SPLITS): Promise<string> {
  const recipe = readFileSync(join(import.meta.dirname, '..', 'src', 'local', 'quickstart', 'fashion-base-model.ts'));
  const dir = join(cacheDir, `base-${split}-${createHash('sha256').update(recipe).digest('hex').slice(0, 12)}`);
  if (!existsSync(join(dir, 'model.json'))) {
    mkdirSync(cacheDir, { recursive: true });
    const building = mkdtempSync(`${dir}.building-`);
    await pretrainBase(join(building, 'model.json'), 1000, 5, [...SPLITS[split].source]);
    renameSync(building, dir);
  }
  return join(dir, 'model.json');
}

const pixels = (subset: Subset) => tf.tensor4d(Float32Array.from(subset.images, (v) => v / 255), [subset.count, 28, 28, 1]);

function accuracy(model: tf.LayersModel, test: Subset): number {
  return tf.tidy(() => {
    const predicted = (model.predict(pixels(test), { batchSize: 500 }) as tf.Tensor).argMax(-1);
    return predicted.equal(tf.tensor1d(Array.from(test.labels), 'int32')).mean().dataSync()[0]!;
  });
}

async function scratch(train: Subset, test: Subset, seed: number): Promise<number> {
  const model = smallCnn(5, seed);
  model.compile({ optimizer: tf.train.adam(1e-3), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
  const [xs, ys] = [pixels(train), tf.tensor1d(Array.from(train.labels), 'float32')];
  await model.fit(xs, ys, { epochs: 30, batchSize: 32, shuffle: true, verbose: 0 });
  const result = accuracy(model, test);
  tf.dispose([xs, ys]);
  model.dispose();
  return result;
}

async function trainer(base: string, data: string, stages: Stages, test: Subset, seed: number, work: string, augment: boolean): Promise<number> {
  const spec = validateFineTuneJobSpec({
    task: { type: 'ImageClassification', numClasses: 5 },
    model: { uri: `file://${base}`, outputKind: 'Classifier', input: { shape: [28, 28, 1] } },
    dataset: { uri: `file://${data}`, format: 'IDX', idx: { images: 'images.idx.gz', labels: 'labels.idx.gz' } },
    output: { uri: `file://${work}` },
    resources: { gpus: 0 },
    seed,
    ...(stages ? { stages } : {}),
    ...(augment ? { augmentation: { horizontalFlip: true } } : {}),
  });
  if (!spec.valid) throw new Error(spec.errors.join('; '));
  const outcome = await runStagedTraining(spec.spec, { reporters: [], cacheDir: work, backend: { name: 'wasm', source: '', gpu: false } });
  const model = await tf.loadLayersModel(fileSystemModel(join(outcome.outputPath, 'model.json')));
  const result = accuracy(model, test);
  model.dispose();
  return result;
}

const runs = values.runs ? values.runs.split(',') : Object.keys(RUNS);
const unknown = runs.filter((name) => !(name in RUNS));
if (unknown.length) throw new Error(`unknown runs ${unknown.join(', ')}: choose from ${Object.keys(RUNS).join(', ')}`);
console.log(`${'split'.padEnd(6)} ${'labels'.padStart(6)} ${'run'.padEnd(28)} ${'test acc'.padStart(9)} ${'seconds'.padStart(8)}`);
for (const split of values.splits!.split(',') as (keyof typeof SPLITS)[]) {
  const base = await baseFor(split);
  const test = await fashionSubset([...SPLITS[split].target], 1000, 0, 't10k');
  for (const perClass of values.labels!.split(',').map(Number)) {
    for (let round = 0; round < Number(values.rounds); round++) {
      const seed = 42 + round;
      const train = await fashionSubset([...SPLITS[split].target], perClass, round * perClass);
      const work = mkdtempSync(join(tmpdir(), 'ftj-bench-quality-'));
      const data = join(work, 'data');
      writeIdx(data, train);
      for (const name of runs) {
        const run = RUNS[name];
        const started = Date.now();
        const acc = run === 'scratch' ? await scratch(train, test, seed) : await trainer(base, data, run, test, seed, join(work, name.replace(/\W+/g, '-')), name.includes('flip'));
        console.log(`${split.padEnd(6)} ${String(perClass).padStart(6)} ${name.padEnd(28)} ${(100 * acc).toFixed(1).padStart(8)}% ${((Date.now() - started) / 1000).toFixed(0).padStart(8)}`);
      }
      rmSync(work, { recursive: true, force: true });
    }
  }
}
