import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it, type TestContext } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import type { FineTuneJobSpecInput } from '../../src/api/v1alpha1/index.ts';
import { TRANSFER_CLASSES } from '../../src/local/quickstart/fashion-base-model.ts';
import { fashionSubset, writeIdx } from '../../src/local/quickstart/fashion-mnist.ts';
import { PermanentError } from '../../src/trainer/errors.ts';
import { checkGraphGradients } from '../../src/trainer/model/graph-gradient-check.ts';
import { FINE_TUNED_GRAPH_BASE } from '../../src/trainer/model/export-model.ts';
import { fileSystemModel } from '../../src/trainer/model/file-io-handler.ts';
import { type GraphNode, graphWeightOps } from '../../src/trainer/model/graph-weights.ts';
import { loadBaseModel } from '../../src/trainer/model/load-base-model.ts';
import type { StageResult, TrainingReporter } from '../../src/trainer/report/reporter.ts';
import { runStagedTraining } from '../../src/trainer/staged-training.ts';
import { materialiseNsfwjsModel, MOBILENET_V2_GRAPH_FEATURES } from './support/nsfwjs-models.ts';
import {
  TINY_GRAPH,
  tinyGraphWeights,
  tinyLayersTwin,
  writeTinyGraphModel,
  writeTinyTextGraphModel,
} from './support/tiny-graph-model.ts';
import { specFor, useWasm, type Workspace } from './support/workspace.ts';

const BACKEND = { name: 'wasm', source: 'test', gpu: false };

async function graphWorkspace(t: TestContext, options: { slice: boolean }): Promise<Workspace> {
  const dir = mkdtempSync(join(tmpdir(), 'ftj-graph-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const data = join(dir, 'data');
  writeIdx(data, await fashionSubset(TRANSFER_CLASSES, 24));
  const weights = tinyGraphWeights(7);
  const base = await writeTinyGraphModel(join(dir, 'graph'), weights, options);
  tf.dispose(Object.values(weights));
  return { dir, base, data };
}

const graphSpec = (ws: Workspace, stages: FineTuneJobSpecInput['stages']) =>
  specFor(ws, {
    model: { uri: `file://${ws.base}`, format: 'Graph', outputKind: 'FeatureVector', input: { shape: [28, 28, 1] } },
    stages,
  });

/** The weights of a graph model.json by node name, as plain arrays. */
async function graphWeights(modelJson: string): Promise<Map<string, number[]>> {
  const model = await tf.loadGraphModel(fileSystemModel(modelJson));
  const weights = new Map(
    Object.entries(model.weights).map(([name, [tensor]]) => [name, Array.from(tensor!.dataSync())]),
  );
  model.dispose();
  return weights;
}

function resumeRecorder() {
  const resumed: StageResult[][] = [];
  const reporter: TrainingReporter = { resumed: (done) => resumed.push(done) };
  return { resumed, reporter };
}

describe('graph-model fine-tuning (weights as variables, the graph differentiated)', () => {
  before(useWasm);

  it('finds the weight ops on the path to the features, inputs first, as a layers model has layers', () => {
    const modelJson = materialiseNsfwjsModel('mobilenet_v2_mid', mkdtempSync(join(tmpdir(), 'ftj-mnv2-')));
    const json = JSON.parse(readFileSync(modelJson, 'utf8')) as {
      modelTopology: { node: GraphNode[] };
      weightsManifest: { weights: { name: string }[] }[];
    };
    const weightNames = new Set(json.weightsManifest.flatMap((group) => group.weights.map((w) => w.name)));
    const ops = graphWeightOps(json.modelTopology.node, MOBILENET_V2_GRAPH_FEATURES, (name) => weightNames.has(name));
    const scope = (op: { node: string }) => op.node.split('/predict/')[1];
    assert.equal(ops.length, 52, '35 convolutions and 17 depthwise convolutions feed the feature vector');
    assert.equal(scope(ops[0]!), 'MobilenetV2/Conv/Relu6');
    assert.equal(scope(ops.at(-1)!), 'MobilenetV2/Conv_1/Relu6');
    assert.ok(
      !ops.some((op) => op.op === '_FusedMatMul'),
      'the ImageNet classifier above the cut is not part of the base',
    );
    assert.ok(
      ops.every((op) => op.parameters.length === 2 && op.statistics.length === 0),
      'each op holds its kernel and folded-BN offset',
    );
    assert.ok(
      !ops.flatMap((op) => op.parameters).some((name) => /hub_input/.test(name)),
      'the input scaling constants are not weights',
    );
  });

  it('differentiates the graph exactly as the same network built from layers', async (t) => {
    const ws = await graphWorkspace(t, { slice: false });
    const spec = graphSpec(ws, [{ name: 'head' }, { name: 'all', unfreeze: { policy: 'All' } }]);
    const base = await loadBaseModel(spec, { cacheDir: ws.dir });
    assert.equal(base.format, 'Graph');
    if (base.format !== 'Graph') return;
    assert.deepEqual(
      base.layers.map((unit) => unit.name),
      [TINY_GRAPH.conv1, TINY_GRAPH.bias1, TINY_GRAPH.conv2],
    );
    for (const unit of base.layers) unit.trainable = true;

    const weights = tinyGraphWeights(7);
    const twin = tinyLayersTwin(weights);
    const images = tf.randomUniform([4, 28, 28, 1], 0, 1, 'float32', 3);
    const projection = tf.randomNormal([4, 16], 0, 1, 'float32', 4);
    const gradients = (forward: () => tf.Tensor, variables: tf.LayerVariable[]) => {
      const read = variables.map((v) => v.read() as tf.Variable);
      const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(forward(), projection)), read);
      value.dispose();
      return read.map((v) => grads[v.name]!);
    };
    const graphGrads = gradients(
      () => base.graph.call(images),
      base.layers.flatMap((unit) => unit.weights),
    );
    const twinGrads = gradients(
      () => twin.predict(images) as tf.Tensor,
      [...twin.getLayer('twin1').weights, ...twin.getLayer('twin2').weights],
    );
    for (const [i, name] of ['kernel1', 'bias1', 'kernel2', 'bias2'].entries()) {
      const scale = tf.max(tf.abs(twinGrads[i]!)).dataSync()[0]!;
      const error = tf.max(tf.abs(tf.sub(graphGrads[i]!, twinGrads[i]!))).dataSync()[0]!;
      assert.ok(scale > 0, `the ${name} gradient is not zero`);
      assert.ok(error <= 1e-5 * Math.max(1, scale), `${name}: gradients differ by ${error} (scale ${scale})`);
    }
  });

  it("differentiates a text graph's embedding lookup (int32 token ids, GatherV2)", async (t) => {
    const ws = await graphWorkspace(t, { slice: false });
    const table = tf.randomNormal([20, 4], 0, 1, 'float32', 5) as tf.Tensor2D;
    const modelJson = await writeTinyTextGraphModel(join(ws.dir, 'text-graph'), table);
    const spec = specFor(
      { ...ws, base: modelJson },
      {
        task: { type: 'TextClassification', numClasses: 5 },
        model: {
          uri: `file://${modelJson}`,
          format: 'Graph',
          outputKind: 'FeatureVector',
          input: {
            shape: [8],
            dtype: 'int32',
            tokenizer: { kind: 'Whitespace', uri: `file://${join(ws.dir, 'vocab.txt')}` },
          },
        },
        dataset: { uri: `file://${join(ws.dir, 'reviews.jsonl')}`, format: 'JSONL', fields: { text: 'text' } },
        stages: [{ name: 'head' }, { name: 'all', unfreeze: { policy: 'All' } }],
      },
    );
    const base = await loadBaseModel(spec, { cacheDir: ws.dir });
    if (base.format !== 'Graph') throw new Error('expected a graph base');
    assert.deepEqual(
      base.layers.map((unit) => [unit.name, unit.getClassName()]),
      [['embedding/lookup', 'GatherV2']],
      'the float table of a Gather is an embedding weight',
    );
    base.layers[0]!.trainable = true;
    checkGraphGradients(base.graph, spec.model.input, { name: 'all', index: 1 });

    const ids = [
      [1, 1, 2, 3, 0, 0, 0, 0],
      [4, 4, 4, 4, 4, 4, 4, 19],
    ];
    const projection = [
      [1, 2, 3, 4],
      [-1, 0.5, 0, 2],
    ];
    const variable = base.layers[0]!.weights[0]!.read() as tf.Variable;
    const { value, grads } = tf.variableGrads(
      () => tf.sum(tf.mul(base.graph.call(tf.tensor2d(ids, [2, 8], 'int32')), tf.tensor2d(projection))),
      [variable],
    );
    value.dispose();
    const gradient = grads[variable.name]!.arraySync() as number[][];
    const expected = Array.from({ length: 20 }, (_, row) =>
      [0, 1, 2, 3].map((k) =>
        ids.reduce((sum, tokens, b) => sum + (tokens.filter((id) => id === row).length * projection[b]![k]!) / 8, 0),
      ),
    );
    gradient.forEach((row, r) =>
      row.forEach((g, k) =>
        assert.ok(Math.abs(g - expected[r]![k]!) < 1e-6, `row ${r}, column ${k}: ${g} vs ${expected[r]![k]}`),
      ),
    );
  });

  it('trains only the unfrozen graph ops, exports the fine-tuned graph beside the head, and resumes it from a checkpoint', async (t) => {
    const ws = await graphWorkspace(t, { slice: false });
    const spec = graphSpec(ws, [
      { name: 'head', epochs: 1 },
      {
        name: 'top',
        epochs: 2,
        unfreeze: { policy: 'TopLayers', layers: 1 },
        optimizer: { learningRate: 1e-3, allowHighLearningRate: true },
      },
    ]);
    const outcome = await runStagedTraining(spec, { reporters: [], cacheDir: ws.dir, backend: BACKEND });
    const exported = join(outcome.outputPath, FINE_TUNED_GRAPH_BASE);
    const [before, after] = await Promise.all([graphWeights(ws.base), graphWeights(exported)]);
    assert.deepEqual(
      after.get('block1/kernel'),
      before.get('block1/kernel'),
      'block1 is below the top op and stays frozen',
    );
    assert.deepEqual(after.get('block1/bias'), before.get('block1/bias'));
    assert.notDeepEqual(after.get('block2/kernel'), before.get('block2/kernel'), 'block2 (the top op) trains');
    assert.notDeepEqual(after.get('block2/bias'), before.get('block2/bias'));
    assert.deepEqual(after.get('pool/axes'), [1, 2], 'non-weight constants are exported unchanged');

    const metadata = JSON.parse(readFileSync(join(outcome.outputPath, 'metadata.json'), 'utf8'));
    assert.equal(metadata.baseModel.fineTunedGraph, FINE_TUNED_GRAPH_BASE);
    const graph = await tf.loadGraphModel(fileSystemModel(exported));
    const head = await tf.loadLayersModel(fileSystemModel(join(outcome.outputPath, 'model.json')));
    const probabilities = head.predict(graph.predict(tf.zeros([3, 28, 28, 1])) as tf.Tensor) as tf.Tensor;
    assert.deepEqual(probabilities.shape, [3, 5], 'serving runs the exported graph, then the exported head');

    const { resumed, reporter } = resumeRecorder();
    const again = await runStagedTraining(spec, { reporters: [reporter], cacheDir: ws.dir, backend: BACKEND });
    assert.deepEqual(
      resumed[0]?.map((stage) => stage.name),
      ['head', 'top'],
      'both stages are resumed, none rerun',
    );
    assert.deepEqual(
      await graphWeights(join(again.outputPath, FINE_TUNED_GRAPH_BASE)),
      after,
      'the checkpoint restored the fine-tuned graph weights',
    );
  });

  it('refuses, before training, to unfreeze graph weights below an op without a gradient, naming the op and the way out', async (t) => {
    const ws = await graphWorkspace(t, { slice: true });
    const head = { name: 'head', epochs: 1 };
    await assert.rejects(
      runStagedTraining(graphSpec(ws, [head, { name: 'all', unfreeze: { policy: 'All' } }]), {
        reporters: [],
        cacheDir: ws.dir,
        backend: BACKEND,
      }),
      (err: Error) =>
        err instanceof PermanentError &&
        /spec\.stages\[1\] \("all"\).*StridedSlice \(node "crop"\).*TopLayers or FromLayer.*policy None/.test(
          err.message,
        ),
    );
    const above = await runStagedTraining(
      graphSpec(ws, [head, { name: 'top', epochs: 1, unfreeze: { policy: 'FromLayer', fromLayer: 'block2' } }]),
      { reporters: [], cacheDir: ws.dir, backend: BACKEND },
    );
    assert.equal(above.stages[1]!.epochsRun, 1, 'unfreezing only above the slice (name scope "block2") trains');
  });

  it('fine-tunes the real MobileNetV2 graph model (TF Hub feature vector) from a name scope up; lower ops stay', async (t) => {
    const ws = await graphWorkspace(t, { slice: false });
    const modelJson = materialiseNsfwjsModel('mobilenet_v2_mid', join(ws.dir, 'mobilenet_v2_mid'));
    const spec = specFor(
      { ...ws, base: modelJson },
      {
        model: {
          uri: `file://${modelJson}`,
          format: 'Graph',
          outputKind: 'Classifier',
          cutLayer: MOBILENET_V2_GRAPH_FEATURES,
          input: { shape: [224, 224, 3] },
        },
        dataset: {
          uri: `file://${ws.data}`,
          format: 'IDX',
          idx: { images: 'images.idx.gz', labels: 'labels.idx.gz' },
          validation: { split: 0.5 },
          limit: 20,
        },
        batchSize: 5,
        stages: [
          { name: 'head', epochs: 1 },
          {
            name: 'top',
            epochs: 1,
            unfreeze: { policy: 'FromLayer', fromLayer: 'MobilenetV2/expanded_conv_16' },
            optimizer: { learningRate: 1e-4 },
          },
        ],
      },
    );
    const outcome = await runStagedTraining(spec, { reporters: [], cacheDir: ws.dir, backend: BACKEND });
    const [before, after] = await Promise.all([
      graphWeights(modelJson),
      graphWeights(join(outcome.outputPath, FINE_TUNED_GRAPH_BASE)),
    ]);
    const weight = (scope: string) =>
      [...before.keys()].find((name) => name.endsWith(`/predict/MobilenetV2/${scope}`))!;
    for (const trained of [
      'Conv_1/Conv2D_weights',
      'expanded_conv_16/depthwise/depthwise_weights',
      'expanded_conv_16/expand/Conv2D_weights',
    ]) {
      assert.notDeepEqual(
        after.get(weight(trained)),
        before.get(weight(trained)),
        `${trained} is unfrozen and must train`,
      );
    }
    for (const frozen of ['Conv/Conv2D_weights', 'expanded_conv_15/project/Conv2D_weights']) {
      assert.deepEqual(after.get(weight(frozen)), before.get(weight(frozen)), `${frozen} is below the scope and stays`);
    }
  });
});
