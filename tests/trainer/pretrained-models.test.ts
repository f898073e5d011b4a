import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it, type TestContext } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { validateFineTuneJobSpec } from '../../src/api/v1alpha1/index.ts';
import { fileSystemModel } from '../../src/trainer/model/file-io-handler.ts';
import { runStagedTraining } from '../../src/trainer/staged-training.ts';
import { fashionSubset } from '../../src/local/quickstart/fashion-mnist.ts';
import { materialiseNsfwjsModel, MOBILENET_V2_GRAPH_FEATURES } from './support/nsfwjs-models.ts';
import { useWasm } from './support/workspace.ts';

const BACKEND = { name: 'wasm', source: 'test', gpu: false };

/** Two classes of real Fashion-MNIST images as PNG files; the trainer resizes them to 224x224 RGB. */
async function workspace(t: TestContext): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'ftj-pretrained-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const subset = await fashionSubset([7, 8], 6);
  for (const name of ['sneaker', 'bag']) mkdirSync(join(dir, 'images', name), { recursive: true });
  for (let i = 0; i < subset.count; i++) {
    await sharp(Buffer.from(subset.images.subarray(i * 784, (i + 1) * 784)), {
      raw: { width: 28, height: 28, channels: 1 },
    })
      .png()
      .toFile(join(dir, 'images', subset.labels[i] === 0 ? 'sneaker' : 'bag', `${i}.png`));
  }
  return dir;
}

function spec(dir: string, model: Record<string, unknown>, stages: unknown[]) {
  const result = validateFineTuneJobSpec({
    task: { type: 'ImageClassification', numClasses: 2 },
    model: { ...model, input: { shape: [224, 224, 3] } },
    dataset: { uri: `file://${join(dir, 'images')}`, format: 'ImageFolder', validation: { split: 0.25 } },
    stages,
    batchSize: 8,
    output: { uri: `file://${join(dir, 'out')}` },
    resources: { gpus: 0 },
  });
  assert.ok(result.valid, result.valid ? '' : result.errors.join('\n'));
  return result.spec;
}

const weightsOf = (model: tf.LayersModel, name: string) =>
  model
    .getLayer(name)
    .getWeights()
    .map((w) => Array.from(w.dataSync()));

describe('real pretrained models (shipped in the nsfwjs package)', () => {
  before(useWasm);

  it('fine-tunes a pretrained MobileNetV2 layers model: head, then the top 12 layers; lower layers and all BN statistics stay', async (t) => {
    const dir = await workspace(t);
    const modelJson = materialiseNsfwjsModel('mobilenet_v2', join(dir, 'mobilenet_v2'));
    const outcome = await runStagedTraining(
      spec(dir, { uri: `file://${modelJson}`, outputKind: 'Classifier', cutLayer: 'flatten_1' }, [
        { name: 'head', epochs: 1 },
        { name: 'top', epochs: 1, unfreeze: { policy: 'TopLayers', layers: 12 }, optimizer: { learningRate: 1e-4 } },
      ]),
      { reporters: [], cacheDir: dir, backend: BACKEND },
    );

    const [base, tuned] = await Promise.all(
      [modelJson, join(outcome.outputPath, 'model.json')].map((p) => tf.loadLayersModel(fileSystemModel(p))),
    );
    assert.notDeepEqual(
      weightsOf(tuned!, 'Conv_1'),
      weightsOf(base!, 'Conv_1'),
      'Conv_1 is in the top 12 layers and must train',
    );
    assert.notDeepEqual(
      weightsOf(tuned!, 'block_16_depthwise'),
      weightsOf(base!, 'block_16_depthwise'),
      'the depthwise conv in the top 12 must train (WASM depthwise gradients)',
    );
    assert.deepEqual(weightsOf(tuned!, 'Conv1'), weightsOf(base!, 'Conv1'), 'the first convolution is frozen');
    for (const layer of base!.layers.filter((l) => l.getClassName() === 'BatchNormalization')) {
      assert.deepEqual(weightsOf(tuned!, layer.name), weightsOf(base!, layer.name), `${layer.name} changed`);
    }
  });

  it('trains a head on a pretrained MobileNetV2 graph model (TF Hub feature vector) used as a frozen extractor', async (t) => {
    const dir = await workspace(t);
    const modelJson = materialiseNsfwjsModel('mobilenet_v2_mid', join(dir, 'mobilenet_v2_mid'));
    const model = {
      uri: `file://${modelJson}`,
      format: 'Graph',
      outputKind: 'Classifier',
      cutLayer: MOBILENET_V2_GRAPH_FEATURES,
    };
    const outcome = await runStagedTraining(spec(dir, model, [{ name: 'head', epochs: 2 }]), {
      reporters: [],
      cacheDir: dir,
      backend: BACKEND,
    });
    assert.equal(outcome.stages[0]!.epochsRun, 2);
    const metadata = JSON.parse(readFileSync(join(outcome.outputPath, 'metadata.json'), 'utf8'));
    assert.equal(metadata.baseModel.exportedModelIsHeadOnly, true);
    const head = await tf.loadLayersModel(fileSystemModel(join(outcome.outputPath, 'model.json')));
    assert.deepEqual(head.inputs[0]!.shape, [null, 1792], 'the head takes the width-1.4 MobileNetV2 feature vector');

    assert.equal(metadata.baseModel.fineTunedGraph, undefined, 'a base no stage unfroze is not exported again');
  });
});
