import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { ImagePreprocessing, Preprocessing } from '../trainer/data/preprocessing.ts';
import { preprocess } from '../trainer/data/preprocessing.ts';
import { fileSystemModel } from '../trainer/model/file-io-handler.ts';
import { localModelFiles } from '../trainer/model/model-files.ts';
import { openStore, type Store } from '../trainer/storage/store.ts';

/** What an exported model's metadata.json says that serving needs (src/trainer/model/export-model.ts writes it). */
interface ExportMetadata {
  job?: string;
  classNames: string[];
  preprocessing: Preprocessing;
  exportedAt?: string;
  baseModel?: { exportedModelIsHeadOnly?: boolean };
}

/** A promotion pointer (latest.json), as the trainer writes it. */
interface Pointer {
  model: string;
  job?: string;
  promotedAt?: string;
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
 * An exported fine-tuned model, loaded for serving: its layers model and
 * the preprocessing and class names it was trained with. `version` says which
 * one it is (the job that trained it, from the pointer or its metadata).
 */
export class ServedModel {
  readonly uri: string;
  readonly version: string;
  readonly classNames: string[];
  readonly preprocessing: ImagePreprocessing;
  private readonly model: tf.LayersModel;
  private inFlight = 0;
  private retired = false;

  private constructor(uri: string, version: string, model: tf.LayersModel, metadata: ExportMetadata) {
    this.uri = uri;
    this.version = version;
    this.model = model;
    this.classNames = metadata.classNames;
    this.preprocessing = metadata.preprocessing as ImagePreprocessing;
  }

  /** Loads the model at `location` (see storeOf); a pointer is followed to the folder it names. */
  static async load(location: string, cacheDir: string): Promise<ServedModel> {
    const resolved = await resolveModel(location);
    const folder = resolved.folder;
    const metadata = JSON.parse((await folder.at('metadata.json').read()).toString('utf8')) as ExportMetadata;
    if (metadata.preprocessing?.kind !== 'image') {
      throw new Error(
        `${folder.uri}: a ${metadata.preprocessing?.kind ?? 'model without preprocessing'} model; this predictor serves image classifiers (text: not yet)`,
      );
    }
    if (metadata.baseModel?.exportedModelIsHeadOnly) {
      throw new Error(
        `${folder.uri}: the head of a Graph base; this predictor serves Layers exports (a Graph base with its head: not yet)`,
      );
    }
    const modelJson = await localModelFiles(folder.at('model.json'), cacheDir);
    const model = await tf.loadLayersModel(fileSystemModel(modelJson));
    return new ServedModel(
      folder.uri,
      resolved.version ?? metadata.job ?? metadata.exportedAt ?? 'unknown',
      model,
      metadata,
    );
  }

  /** [height, width, channels] of one example. */
  get inputShape(): [number, number, number] {
    const p = this.preprocessing;
    return [p.height, p.width, p.channels];
  }

  /**
   * Class probabilities of a batch: `pixels` (HWC, 0-255, preprocessed here as in training) and `ready`
   * (model-ready values), in that order.
   */
  async predict(pixels: Float32Array[], ready: Float32Array[]): Promise<Float32Array[]> {
    this.inFlight++;
    try {
      const [h, w, c] = this.inputShape;
      const size = h * w * c;
      const joined = (rows: Float32Array[]) => {
        const all = new Float32Array(rows.length * size);
        rows.forEach((r, i) => all.set(r, i * size));
        return all;
      };
      const output = tf.tidy(() => {
        const parts: tf.Tensor4D[] = [];
        if (pixels.length)
          parts.push(preprocess(tf.tensor4d(joined(pixels), [pixels.length, h, w, c]), this.preprocessing));
        if (ready.length) parts.push(tf.tensor4d(joined(ready), [ready.length, h, w, c]));
        return this.model.predict(parts.length === 1 ? parts[0]! : tf.concat(parts)) as tf.Tensor2D;
      });
      const values = (await output.data()) as Float32Array;
      output.dispose();
      const classes = this.classNames.length;
      return Array.from({ length: values.length / classes }, (_, i) => values.slice(i * classes, (i + 1) * classes));
    } finally {
      this.inFlight--;
      if (this.retired && this.inFlight === 0) this.model.dispose();
    }
  }

  /** No longer served: its memory is freed once the predictions in flight are done. */
  retire(): void {
    this.retired = true;
    if (this.inFlight === 0) this.model.dispose();
  }
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
