import * as tf from '@tensorflow/tfjs';
import { preprocess } from '../trainer/data/preprocessing.ts';
import { fileSystemModel } from '../trainer/model/file-io-handler.ts';
import { localModelFiles } from '../trainer/model/model-files.ts';
import type { Store } from '../trainer/storage/store.ts';
import { exampleShape, type ExportMetadata, storeOf } from './model-location.ts';

/** The exported network: a layers model, or a graph base up to its cut with the exported head on top. */
interface Network {
  /** The dtype of the model's input (int32 for token ids). */
  dtype: tf.DataType;
  predict(input: tf.Tensor): tf.Tensor2D;
  dispose(): void;
}

/**
 * An exported model's network with the preprocessing it was trained with: what the model thread
 * (model-worker.ts) runs. Takes batches as flat arrays of examples and answers flat probabilities.
 */
export class ModelNetwork {
  private readonly network: Network;
  private readonly metadata: ExportMetadata;
  private readonly shape: number[];
  private readonly size: number;

  private constructor(network: Network, metadata: ExportMetadata) {
    this.network = network;
    this.metadata = metadata;
    this.shape = exampleShape(metadata.preprocessing);
    this.size = this.shape.reduce((a, b) => a * b, 1);
  }

  /** The network of the exported model in `folder`, whose metadata.json is `metadata`. */
  static async load(folder: string, metadata: ExportMetadata, cacheDir: string): Promise<ModelNetwork> {
    return new ModelNetwork(await loadNetwork(storeOf(folder), metadata, cacheDir), metadata);
  }

  /**
   * Class probabilities, a row per example, of `pixels` (HWC examples, 0-255, preprocessed here as in
   * training) then `ready` (model-ready examples: an image's values, or a text's token ids).
   */
  async predict(pixels: Float32Array, ready: Float32Array): Promise<Float32Array> {
    const p = this.metadata.preprocessing;
    const batch = (values: Float32Array) =>
      tf.tensor(values, [values.length / this.size, ...this.shape]).cast(this.network.dtype);
    const output = tf.tidy(() => {
      const parts: tf.Tensor[] = [];
      if (pixels.length && p.kind === 'image') parts.push(preprocess(batch(pixels) as tf.Tensor4D, p));
      if (ready.length) parts.push(batch(ready));
      return this.network.predict(parts.length === 1 ? parts[0]! : tf.concat(parts));
    });
    try {
      return (await output.data()) as Float32Array;
    } finally {
      output.dispose();
    }
  }

  dispose(): void {
    this.network.dispose();
  }
}

/** The exported layers model; under a graph base's head, the graph (fine-tuned, else the original) up to its cut. */
async function loadNetwork(folder: Store, metadata: ExportMetadata, cacheDir: string): Promise<Network> {
  const layersModel = async (store: Store) =>
    tf.loadLayersModel(fileSystemModel(await localModelFiles(store, cacheDir)));
  const model = await layersModel(folder.at('model.json'));
  const base = metadata.baseModel;
  if (!base?.exportedModelIsHeadOnly)
    return {
      dtype: model.inputs[0]!.dtype,
      predict: (x) => model.predict(x) as tf.Tensor2D,
      dispose: () => model.dispose(),
    };
  const graphAt = base.fineTunedGraph ? folder.at(base.fineTunedGraph) : graphBase(folder, base.uri);
  const graph = await tf.loadGraphModel(fileSystemModel(await localModelFiles(graphAt, cacheDir)));
  const featureNode = base.cutLayer ?? graph.outputs[0]!.name;
  return {
    dtype: graph.inputs[0]!.dtype,
    predict: (x) => model.predict(graph.execute(x, featureNode) as tf.Tensor) as tf.Tensor2D,
    dispose: () => {
      model.dispose();
      graph.dispose();
    },
  };
}

/** The original graph base of a head no stage fine-tuned with it: where the job read it from. */
function graphBase(folder: Store, uri: string | undefined): Store {
  if (!uri || uri.startsWith('pvc://'))
    throw new Error(
      `${folder.uri}: the head of the graph base ${uri ?? '(not recorded)'}, which this predictor cannot read: ` +
        'serve it where that location is a file://, http(s):// or s3:// URI, or fine-tune the base so that ' +
        'the export carries it (base/model.json)',
    );
  return storeOf(uri);
}
