// `npm run bench:trainer`: prints figures (no assertions, no timing thresholds).
// 1. trainer pipeline vs bare model.fit on pre-materialised tensors (goal >= 0.95)
// 2. WASM vs cpu, head-only and full fine-tune, of a MobileNet-like network
// 3. the head stage with and without feature caching
// 4. a real graph model (MobileNetV2 from nsfwjs, 224x224) fine-tuned on WASM: top ops vs all of it
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/trainer/backend/select-backend.ts';
import { ExampleReader } from '../src/trainer/data/batches.ts';
import { loadDataset } from '../src/trainer/data/load-dataset.ts';
import { preprocessingOf } from '../src/trainer/data/preprocessing.ts';
import { buildFineTuneModel } from '../src/trainer/model/fine-tune-model.ts';
import { loadBaseModel } from '../src/trainer/model/load-base-model.ts';
import type { EpochEnd } from '../src/trainer/report/reporter.ts';
import { runStagedTraining } from '../src/trainer/staged-training.ts';
import { materialiseNsfwjsModel, MOBILENET_V2_GRAPH_FEATURES } from '../tests/trainer/support/nsfwjs-models.ts';
import { specFor, workspace } from '../tests/trainer/support/workspace.ts';

const cleanups: (() => void)[] = [];
const fakeContext = { after: (fn: () => void) => cleanups.push(fn) } as never;
const rate = (samples: number, ms: number) => (samples / ms) * 1000;
const show = (label: string, value: string) => console.log(`${label.padEnd(58)} ${value}`);

await selectBackend({ requireGpu: false, only: 'wasm' });
const ws = await workspace(fakeContext, 256);

// 1. Pipeline overhead: the same full model, backend and batch, fine-tune stage, both from epoch 2 on.
{
  const spec = specFor(ws, {
    dataset: { ...specFor(ws).dataset, validation: { split: 0.05 } },
    stages: [
      { name: 'head', epochs: 1 },
      { name: 'fine-tune', epochs: 3, unfreeze: { policy: 'All' }, earlyStopping: { enabled: false } },
    ],
  });
  const epochs: EpochEnd[] = [];
  await runStagedTraining(spec, {
    reporters: [{ epochEnded: (e) => epochs.push(e) }],
    cacheDir: ws.dir,
    backend: { name: 'wasm', source: '', gpu: false },
  });
  const trainer = epochs
    .filter((e) => e.stage === 'fine-tune')
    .slice(1)
    .map((e) => e.samplesPerSecond);

  const data = await loadDataset(spec);
  const batch = (await new ExampleReader(spec, preprocessingOf(spec), () => undefined).read(data.train))!;
  const model = buildFineTuneModel(await loadBaseModel(spec, { cacheDir: ws.dir }), spec).full!;
  model.compile({ optimizer: tf.train.adam(1e-5), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
  const bare: number[] = [];
  let start = 0;
  await model.fit(batch.xs, batch.ys, {
    epochs: 3,
    batchSize: spec.batchSize,
    verbose: 0,
    callbacks: {
      onEpochBegin: async () => {
        start = Date.now();
      },
      onEpochEnd: async () => {
        bare.push(rate(batch.ys.shape[0], Date.now() - start));
      },
    },
  });
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  show('trainer fine-tune stage (samples/s)', mean(trainer).toFixed(1));
  show('bare model.fit on pre-materialised tensors (samples/s)', mean(bare.slice(1)).toFixed(1));
  show('ratio trainer / bare (goal >= 0.95)', (mean(trainer) / mean(bare.slice(1))).toFixed(3));
}

// 2. WASM vs cpu on a MobileNet-like network (depthwise-separable blocks), 96x96x3, batch 16.
function mobileNetLike(): { base: tf.LayersModel; full: tf.LayersModel } {
  const input = tf.input({ shape: [96, 96, 3] });
  let x = tf.layers
    .conv2d({ filters: 16, kernelSize: 3, strides: 2, padding: 'same', useBias: false })
    .apply(input) as tf.SymbolicTensor;
  x = tf.layers.batchNormalization().apply(x) as tf.SymbolicTensor;
  x = tf.layers.reLU({ maxValue: 6 }).apply(x) as tf.SymbolicTensor;
  for (const [filters, stride] of [
    [24, 2],
    [32, 2],
    [64, 2],
    [96, 1],
    [128, 2],
  ] as const) {
    x = tf.layers
      .depthwiseConv2d({ kernelSize: 3, strides: stride, padding: 'same', useBias: false })
      .apply(x) as tf.SymbolicTensor;
    x = tf.layers.batchNormalization().apply(x) as tf.SymbolicTensor;
    x = tf.layers.reLU({ maxValue: 6 }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.conv2d({ filters, kernelSize: 1, useBias: false }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.batchNormalization().apply(x) as tf.SymbolicTensor;
    x = tf.layers.reLU({ maxValue: 6 }).apply(x) as tf.SymbolicTensor;
  }
  const features = tf.layers.globalAveragePooling2d({}).apply(x) as tf.SymbolicTensor;
  const output = tf.layers.dense({ units: 5, activation: 'softmax' }).apply(features) as tf.SymbolicTensor;
  return { base: tf.model({ inputs: input, outputs: features }), full: tf.model({ inputs: input, outputs: output }) };
}

for (const backend of ['wasm', 'cpu']) {
  await tf.setBackend(backend);
  const batches = backend === 'cpu' ? 2 : 8;
  const xs = tf.randomUniform([16 * batches, 96, 96, 3]);
  const ys = tf.tensor1d(Array.from({ length: 16 * batches }, (_, i) => i % 5));
  for (const mode of ['head-only', 'full fine-tune'] as const) {
    const { base, full } = mobileNetLike();
    for (const layer of base.layers) layer.trainable = mode === 'full fine-tune';
    full.compile({ optimizer: tf.train.adam(1e-4), loss: 'sparseCategoricalCrossentropy' });
    await full.fit(xs.slice(0, 16), ys.slice(0, 16), { epochs: 1, batchSize: 16, verbose: 0 });
    const t0 = Date.now();
    await full.fit(xs, ys, { epochs: 1, batchSize: 16, verbose: 0 });
    show(`MobileNet-like 96x96, ${mode}, ${backend} (samples/s)`, rate(16 * batches, Date.now() - t0).toFixed(2));
    full.dispose();
  }
  tf.dispose([xs, ys]);
}
await tf.setBackend('wasm');

// 3. Head stage with and without feature caching.
for (const featureCache of [true, false]) {
  // Each run writes (and checkpoints) under its own output, so neither resumes the other.
  const spec = specFor(ws, {
    stages: [{ name: 'head', epochs: 5, earlyStopping: { enabled: false } }],
    output: { uri: `file://${ws.dir}/head-${featureCache}` },
  });
  const t0 = Date.now();
  await runStagedTraining(spec, {
    reporters: [],
    cacheDir: ws.dir,
    backend: { name: 'wasm', source: '', gpu: false },
    featureCache,
  });
  show(
    `head stage, 5 epochs, ${featureCache ? 'cached features' : 'base run every batch'} (s)`,
    ((Date.now() - t0) / 1000).toFixed(1),
  );
}

// 4. Graph model fine-tuning: the graph's weights as variables, its ops differentiated (batch 8).
{
  const modelJson = materialiseNsfwjsModel('mobilenet_v2_mid', `${ws.dir}/mobilenet_v2_mid`);
  const model = {
    uri: `file://${modelJson}`,
    format: 'Graph' as const,
    outputKind: 'Classifier' as const,
    cutLayer: MOBILENET_V2_GRAPH_FEATURES,
    input: { shape: [224, 224, 3] },
  };
  const xs = tf.randomUniform([24, 224, 224, 3]);
  const ys = tf.tensor1d(Array.from({ length: 24 }, (_, i) => i % 5));
  for (const unfreeze of [{ policy: 'TopLayers' as const, layers: 4 }, { policy: 'All' as const }]) {
    const spec = specFor(ws, { model, stages: [{ name: 'head' }, { name: 'fine-tune', unfreeze }] });
    const tuned = buildFineTuneModel(await loadBaseModel(spec, { cacheDir: ws.dir }), spec);
    const units = tuned.base.layers;
    units.forEach((unit, i) => {
      unit.trainable = unfreeze.policy === 'All' || i >= units.length - 4;
    });
    tuned.full.compile({ optimizer: tf.train.adam(1e-5), loss: 'sparseCategoricalCrossentropy' });
    await tuned.full.fit(xs.slice(0, 8), ys.slice(0, 8), { epochs: 1, batchSize: 8, verbose: 0 });
    const t0 = Date.now();
    await tuned.full.fit(xs, ys, { epochs: 1, batchSize: 8, verbose: 0 });
    show(
      `MobileNetV2 graph 224x224, ${unfreeze.policy === 'All' ? 'all 52 ops' : 'top 4 ops'} unfrozen, wasm (samples/s)`,
      rate(24, Date.now() - t0).toFixed(2),
    );
  }
  tf.dispose([xs, ys]);
}
for (const cleanup of cleanups) cleanup();
