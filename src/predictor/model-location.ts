import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Preprocessing } from '../trainer/data/preprocessing.ts';
import { openStore, type Store } from '../trainer/storage/store.ts';

/** What an exported model's metadata.json says that serving needs (src/trainer/model/export-model.ts writes it). */
export interface ExportMetadata {
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

/**
 * Where the model to serve is: a folder or its model.json (a path, as KServe
 * mounts it at /mnt/models, or a file://, http(s):// or s3:// URI), or a
 * promotion pointer (any other .json: latest.json), which names the folder.
 */
export function storeOf(location: string): Store {
  return openStore({ uri: /^[a-z][a-z0-9+.-]*:\/\//i.test(location) ? location : `file://${location}` });
}

/** One example's shape: [height, width, channels] of an image, [sequence length] of text. */
export function exampleShape(preprocessing: Preprocessing): number[] {
  return preprocessing.kind === 'text'
    ? [preprocessing.sequenceLength]
    : [preprocessing.height, preprocessing.width, preprocessing.channels];
}

/** A promotion pointer is any .json but model.json: latest.json, by the trainer's convention. */
function isPointer(store: Store): boolean {
  const name = new URL(store.uri).pathname.split('/').pop() ?? '';
  return name.endsWith('.json') && name !== 'model.json';
}

/** The folder of the model at a location, and the pointer's version when it is one. */
export async function resolveModel(location: string): Promise<{ folder: Store; version?: string }> {
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
