import type { ImagePreprocessing } from '../trainer/data/preprocessing.ts';
import { createTokenizer, parseVocabulary, type Tokenizer } from '../trainer/data/tokenizer.ts';
import type { Store } from '../trainer/storage/store.ts';
import { exampleShape, type ExportMetadata, resolveModel } from './model-location.ts';
import type { ModelThread } from './model-thread.ts';

/** What a request's examples become before the model: an image classifier's pixels, a text classifier's token ids. */
export type ServedInput = { kind: 'image'; preprocessing: ImagePreprocessing } | { kind: 'text'; tokenizer: Tokenizer };

/**
 * An exported fine-tuned model, loaded for serving: what the HTTP thread needs of it (the preprocessing and
 * class names it was trained with, its input) and its network, loaded in the model thread. `version` says
 * which one it is (the job that trained it, from the pointer or its metadata).
 */
export class ServedModel {
  readonly uri: string;
  readonly version: string;
  readonly classNames: string[];
  readonly input: ServedInput;
  readonly platform: string;
  /** One example's shape: [height, width, channels] of an image, [sequence length] of text. */
  readonly inputShape: number[];
  private readonly thread: ModelThread;
  private readonly network: number;
  private inFlight = 0;
  private retired = false;

  private constructor(
    folder: Store,
    version: string,
    metadata: ExportMetadata,
    input: ServedInput,
    thread: ModelThread,
    network: number,
  ) {
    this.uri = folder.uri;
    this.version = version;
    this.classNames = metadata.classNames;
    this.input = input;
    this.platform = metadata.baseModel?.exportedModelIsHeadOnly ? 'tfjs-graph' : 'tfjs-layers';
    this.inputShape = exampleShape(metadata.preprocessing);
    this.thread = thread;
    this.network = network;
  }

  /** Loads the model at `location` (see storeOf), its network in `thread`; a pointer is followed to the folder it names. */
  static async load(location: string, cacheDir: string, thread: ModelThread): Promise<ServedModel> {
    const { folder, version } = await resolveModel(location);
    const metadata = JSON.parse((await folder.at('metadata.json').read()).toString('utf8')) as ExportMetadata;
    const input = await servedInput(folder, metadata);
    const network = await thread.load(folder.uri, metadata, cacheDir);
    return new ServedModel(
      folder,
      version ?? metadata.job ?? metadata.exportedAt ?? 'unknown',
      metadata,
      input,
      thread,
      network,
    );
  }

  /**
   * Class probabilities of a batch: `pixels` (HWC, 0-255, preprocessed as in training) and `ready`
   * (model-ready values: an image's, or a text's token ids), in that order.
   */
  async predict(pixels: Float32Array[], ready: Float32Array[]): Promise<Float32Array[]> {
    this.inFlight++;
    try {
      const values = await this.thread.predict(this.network, concatenated(pixels), concatenated(ready));
      const classes = this.classNames.length;
      return Array.from({ length: values.length / classes }, (_, i) => values.subarray(i * classes, (i + 1) * classes));
    } finally {
      this.inFlight--;
      if (this.retired && this.inFlight === 0) this.thread.dispose(this.network);
    }
  }

  /** No longer served: its memory is freed once the predictions in flight are done. */
  retire(): void {
    this.retired = true;
    if (this.inFlight === 0) this.thread.dispose(this.network);
  }
}

/** The examples end to end, in a buffer of their own (it moves to the model thread). */
function concatenated(rows: Float32Array[]): Float32Array<ArrayBuffer> {
  const all = new Float32Array(rows.reduce((n, row) => n + row.length, 0));
  let offset = 0;
  for (const row of rows) {
    all.set(row, offset);
    offset += row.length;
  }
  return all;
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
