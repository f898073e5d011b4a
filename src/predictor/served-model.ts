import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { ImagePreprocessing, Preprocessing } from '../trainer/data/preprocessing.ts';
import { preprocess } from '../trainer/data/preprocessing.ts';
import { createTokenizer, parseVocabulary, type Tokenizer } from '../trainer/data/tokenizer.ts';
import { fileSystemModel } from '../trainer/model/file-io-handler.ts';
import { localModelFiles } from '../trainer/model/model-files.ts';
import { openStore, type Store } from '../trainer/storage/store.ts';

/** What an exported model's metadata.json says that serving needs (src/trainer/model/export-model.ts writes it). */
interface ExportMetadata {
  job?: string;
  classNames: string[];
  preprocessing: Preprocessing;
  /** A text model's vocabulary, in the folder. */
  vocabularyFile?: string;
  exportedAt?: string;
  baseModel?: { uri?: string; exportedModelIsHeadOnly?: boolean; cutLayer?: string; fineTunedGraph?: string };
}

/** A promotion pointer (latest.json), as the trainer writes it. */
interface Pointer {
  model: string;
  job?: string;
  promotedAt?: string;
}

/** What a request's examples become before the model: an image classifier's pixels, a text classifier's token ids. */
export type ServedInput = { kind: 'image'; preprocessing: ImagePreprocessing } | { kind: 'text'; tokenizer: Tokenizer };

/** The exported network: a layers model, or a graph base up to its cut with the exported head on top. */
interface Network {
  /** The dtype of the model's input (int32 for token ids). */
  dtype: tf.DataType;
  predict(input: tf.Tensor): tf.Tensor2D;
  dispose(): void;
}

/**
 * Where the model to serve is: a folder or its model.json (a path, as KServe
 * mounts it at /mnt/models, or a file://, http(s):// or s3:// URI), or a
 * promotion pointer (any other .json: latest.json), which names the folder.
 */
export function storeOf(location: string): Store {
  return openStore({ uri: /^[a-z][a-z0-9+.-]*:\/\//i.test(location) ? location : `file://${location}` });
}

/**
 * An exported fine-tuned model, loaded for serving: its network and the
 * preprocessing and class names it was trained with. `version` says which
 * one it is (the job that trained it, from the pointer or its metadata).
 */
export class ServedModel {
  readonly uri: string;
  readonly version: string;
  readonly classNames: string[];
  readonly input: ServedInput;
  readonly platform: string;
  private readonly network: Network;
  private inFlight = 0;
  private retired = false;

  private constructor(uri: string, version: string, network: Network, input: ServedInput, metadata: ExportMetadata) {
    this.uri = uri;
    this.version = version;
    this.network = network;
    this.input = input;
    this.classNames = metadata.classNames;
    this.platform = metadata.baseModel?.exportedModelIsHeadOnly ? 'tfjs-graph' : 'tfjs-layers';
  }

  /** Loads the model at `location` (see storeOf); a pointer is followed to the folder it names. */
  static async load(location: string, cacheDir: string): Promise<ServedModel> {
    const { folder, version } = await resolveModel(location);
    const metadata = JSON.parse((await folder.at('metadata.json').read()).toString('utf8')) as ExportMetadata;
    const input = await servedInput(folder, metadata);
    const network = await loadNetwork(folder, metadata, cacheDir);
    return new ServedModel(
      folder.uri,
      version ?? metadata.job ?? metadata.exportedAt ?? 'unknown',
      network,
      input,
      metadata,
    );
  }

  /** One example's shape: [height, width, channels] of an image, [sequence length] of text. */
  get inputShape(): number[] {
    if (this.input.kind === 'text') return [this.input.tokenizer.sequenceLength];
    const p = this.input.preprocessing;
    return [p.height, p.width, p.channels];
  }

  /**
   * Class probabilities of a batch: `pixels` (HWC, 0-255, preprocessed here as in training) and `ready`
   * (model-ready values: an image's, or a text's token ids), in that order.
   */
  async predict(pixels: Float32Array[], ready: Float32Array[]): Promise<Float32Array[]> {
    this.inFlight++;
    try {
      const shape = this.inputShape;
      const size = shape.reduce((a, b) => a * b, 1);
      const batch = (rows: Float32Array[]) => {
        const all = new Float32Array(rows.length * size);
        rows.forEach((r, i) => all.set(r, i * size));
        return tf.tensor(all, [rows.length, ...shape]).cast(this.network.dtype);
      };
      const output = tf.tidy(() => {
        const parts: tf.Tensor[] = [];
        if (pixels.length && this.input.kind === 'image')
          parts.push(preprocess(batch(pixels) as tf.Tensor4D, this.input.preprocessing));
        if (ready.length) parts.push(batch(ready));
        return this.network.predict(parts.length === 1 ? parts[0]! : tf.concat(parts));
      });
      const values = (await output.data()) as Float32Array;
      output.dispose();
      const classes = this.classNames.length;
      return Array.from({ length: values.length / classes }, (_, i) => values.slice(i * classes, (i + 1) * classes));
    } finally {
      this.inFlight--;
      if (this.retired && this.inFlight === 0) this.network.dispose();
    }
  }

  /** No longer served: its memory is freed once the predictions in flight are done. */
  retire(): void {
    this.retired = true;
    if (this.inFlight === 0) this.network.dispose();
  }
}

/** The image preprocessing, or the tokenizer over the vocabulary exported beside the model. */
async function servedInput(folder: Store, metadata: ExportMetadata): Promise<ServedInput> {
  const p = metadata.preprocessing;
  if (p?.kind === 'image') return { kind: 'image', preprocessing: p };
  if (p?.kind !== 'text') throw new Error(`${folder.uri}: metadata.json has no preprocessing: not an exported model`);
  if (!metadata.vocabularyFile)
    throw new Error(
      `${folder.uri}: a text model exported without its vocabulary (by a trainer before 0.1.0's predictor): ` +
        `train it again, or copy ${p.vocabulary} into the folder and name it in metadata.json's "vocabularyFile"`,
    );
  const vocabulary = (await folder.at(metadata.vocabularyFile).read()).toString('utf8');
  return {
    kind: 'text',
    tokenizer: createTokenizer(parseVocabulary(vocabulary), p.tokenizer, p.lowercase, p.sequenceLength),
  };
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

/** A promotion pointer is any .json but model.json: latest.json, by the trainer's convention. */
function isPointer(store: Store): boolean {
  const name = new URL(store.uri).pathname.split('/').pop() ?? '';
  return name.endsWith('.json') && name !== 'model.json';
}

/** The folder of the model at a location, and the pointer's version when it is one. */
async function resolveModel(location: string): Promise<{ folder: Store; version?: string }> {
  const store = storeOf(location);
  if (!isPointer(store)) return { folder: store.uri.endsWith('/model.json') ? store.beside('.') : store };
  const pointer = JSON.parse((await store.read()).toString('utf8')) as Pointer;
  if (typeof pointer.model !== 'string') throw new Error(`${store.uri} is not a promotion pointer (no "model")`);
  return { folder: storeOf(pointer.model), version: pointer.job ?? pointer.promotedAt ?? pointer.model };
}

/** The pointer's current content, to see whether it moved (undefined when `location` is no pointer). */
export async function pointerTarget(location: string): Promise<string | undefined> {
  const store = storeOf(location);
  return isPointer(store) ? (await store.read()).toString('utf8') : undefined;
}

/** metadata.json of a local folder (for tests and tools). */
export async function readMetadata(dir: string): Promise<ExportMetadata> {
  return JSON.parse(await readFile(join(dir, 'metadata.json'), 'utf8')) as ExportMetadata;
}
