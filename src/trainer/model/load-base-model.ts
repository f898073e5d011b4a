import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import type { FineTuneJobSpec } from '../../api/v1alpha1/index.ts';
import { PermanentError } from '../errors.ts';
import { openStore } from '../storage/store.ts';
import { fileSystemModel } from './file-io-handler.ts';
import { GraphBaseLayer, type GraphWeightUnit } from './graph-base-layer.ts';
import { localModelFiles } from './model-files.ts';
import { type GraphNode, graphWeightOps } from './graph-weights.ts';

/**
 * The pretrained base, cut where the new head goes: symbolic `inputs` to
 * `features`, ready for the head. `layers` are what the unfreeze policies
 * count: a layers model's layers, or a graph model's weight ops.
 */
export type BaseModel = { inputs: tf.SymbolicTensor[]; features: tf.SymbolicTensor; path: string } & (
  | { format: 'Layers'; layers: tf.layers.Layer[] }
  | { format: 'Graph'; layers: GraphWeightUnit[]; graph: GraphBaseLayer }
);

export interface LoadOptions {
  pvcRoot?: string;
  cacheDir: string;
}

/** Loads the base model of the spec and checks its signature before any training starts. */
export async function loadBaseModel(spec: FineTuneJobSpec, options: LoadOptions): Promise<BaseModel> {
  const path = await localModelFiles(openStore(spec.model, options.pvcRoot), options.cacheDir);
  if (spec.model.provenance?.sha256) await checkDigest(path, spec.model.provenance.sha256);
  if (spec.model.format === 'Graph') return loadGraphBase(spec, path);

  let model: tf.LayersModel;
  try {
    model = await tf.loadLayersModel(fileSystemModel(path));
  } catch (err) {
    if (err instanceof PermanentError) throw err;
    throw new PermanentError(
      `${path} is not a tfjs layers model (${(err as Error).message}); a converted SavedModel or TF Hub module needs spec.model.format: Graph`,
    );
  }
  return layersBase(spec, model, path);
}

/** A layers model as the base of the spec: checked, cut where the spec says, its feature map pooled. */
export function layersBase(spec: FineTuneJobSpec, model: tf.LayersModel, path: string): BaseModel {
  checkInputShape(spec, model.inputs[0]!.shape);
  const cut = cutPoint(spec, model);
  let features = cut.output as tf.SymbolicTensor;
  if (features.shape.length === 4) {
    // A spatial feature map: pool it to a vector as Keras' pooling='avg' does.
    features = tf.layers.globalAveragePooling2d({ name: 'ftj_feature_pool' }).apply(features) as tf.SymbolicTensor;
  }
  const layers = model.layers
    .slice(0, model.layers.indexOf(cut) + 1)
    .filter((layer) => layer.getClassName() !== 'InputLayer');
  return { format: 'Layers', inputs: model.inputs, features, layers, path };
}

function cutPoint(spec: FineTuneJobSpec, model: tf.LayersModel): tf.layers.Layer {
  const last = model.layers.at(-1)!;
  if (spec.model.outputKind === 'FeatureVector') {
    const activation = (last.getConfig() as { activation?: string }).activation;
    if (activation === 'softmax' || activation === 'sigmoid') {
      throw new PermanentError(
        `the model's last layer "${last.name}" is a ${activation} classifier, not a feature vector: set spec.model.outputKind: Classifier (the head then replaces it)`,
      );
    }
    return last;
  }
  if (spec.model.cutLayer) {
    try {
      return model.getLayer(spec.model.cutLayer);
    } catch {
      throw new PermanentError(
        `spec.model.cutLayer: the model has no layer "${spec.model.cutLayer}"; its last layers are ${model.layers
          .slice(-6)
          .map((l) => `"${l.name}"`)
          .join(', ')}`,
      );
    }
  }
  const penultimate = model.layers.at(-2);
  if (!penultimate || penultimate.getClassName() === 'InputLayer') {
    throw new PermanentError(
      'spec.model.outputKind Classifier: the model has no layer before its output to cut at; set spec.model.cutLayer',
    );
  }
  return penultimate;
}

function checkInputShape(spec: FineTuneJobSpec, modelShape: (number | null)[]): void {
  const expected = spec.model.input.shape;
  const actual = modelShape.slice(1);
  const matches = actual.length === expected.length && actual.every((dim, i) => dim === null || dim === expected[i]);
  if (!matches) {
    throw new PermanentError(
      `spec.model.input.shape is [${expected.join(', ')}] but the model takes [${actual.map((d) => d ?? 'any').join(', ')}]: set spec.model.input.shape to the model's input`,
    );
  }
}

async function loadGraphBase(spec: FineTuneJobSpec, path: string): Promise<BaseModel> {
  const artifacts = await fileSystemModel(path).load();
  let model: tf.GraphModel;
  try {
    model = await tf.loadGraphModel({ load: async () => artifacts });
  } catch (err) {
    throw new PermanentError(
      `${path} is not a tfjs graph model (${(err as Error).message}); a Keras layers model needs spec.model.format: Layers`,
    );
  }
  const input = model.inputs[0]!;
  if (input.shape)
    checkInputShape(
      spec,
      input.shape.map((d) => (d === -1 ? null : d)),
    );
  const featureNode = spec.model.cutLayer ?? model.outputs[0]!.name;
  const { shape, dtype } = spec.model.input;
  const featureShape = tf.tidy(() =>
    (model.execute(tf.zeros([1, ...shape], dtype), featureNode) as tf.Tensor).shape.slice(1),
  );
  if (featureShape.length !== 1) {
    throw new PermanentError(
      `the graph model's output has shape [${featureShape.join(', ')}], not a feature vector: set spec.model.cutLayer to a node that outputs [batch, features]`,
    );
  }
  const nodes = (artifacts.modelTopology as { node?: GraphNode[] }).node ?? [];
  const weights = model.weights;
  const isWeight = (name: string) => weights[name]?.[0]?.dtype === 'float32';
  const graph = new GraphBaseLayer({
    graph: model,
    artifacts,
    inputNode: input.name,
    featureNode,
    featureShape,
    weightOps: graphWeightOps(nodes, nodeName(featureNode), isWeight),
  });
  const inputs = [tf.input({ shape, dtype, name: 'ftj_input' })];
  const features = graph.apply(inputs[0]!) as tf.SymbolicTensor;
  return { format: 'Graph', inputs, features, layers: graph.units, graph, path };
}

const nodeName = (output: string) => output.replace(/:\d+$/, '');

async function checkDigest(path: string, expected: string): Promise<void> {
  const actual = createHash('sha256')
    .update(await readFile(path))
    .digest('hex');
  if (actual !== expected) {
    throw new PermanentError(
      `${path} has SHA-256 ${actual}, not spec.model.provenance.sha256 ${expected}: the model changed; update the digest or the model`,
    );
  }
}
