import * as tf from '@tensorflow/tfjs';
import type { FineTuneJobSpec } from '../../api/v1alpha1/index.ts';

/**
 * The one preprocessing definition (docs/recipe.md §4): applied identically to
 * training and validation batches and written into the exported metadata, so
 * serving does exactly the same.
 */
export type Preprocessing = ImagePreprocessing | TextPreprocessing;

export interface ImagePreprocessing {
  kind: 'image';
  /** Raw input: HWC pixels 0-255, resized (bilinear) to height×width. */
  height: number;
  width: number;
  channels: number;
  /** 0 maps to min, 255 to max. */
  valueRange: { min: number; max: number };
  /** Then (x - mean) / std per channel, when given. */
  mean?: number[];
  std?: number[];
}

/** Text: the model's tokenizer and vocabulary, ids padded/truncated to sequenceLength. */
export interface TextPreprocessing {
  kind: 'text';
  tokenizer: 'WordPiece' | 'Whitespace';
  lowercase: boolean;
  vocabulary: string;
  sequenceLength: number;
}

export function preprocessingOf(spec: FineTuneJobSpec): Preprocessing {
  const { input } = spec.model;
  if (spec.task.type === 'TextClassification') {
    const tokenizer = input.tokenizer!;
    return {
      kind: 'text',
      tokenizer: tokenizer.kind,
      lowercase: tokenizer.lowercase,
      sequenceLength: input.shape[0]!,
      vocabulary: tokenizer.uri ?? `pvc://${tokenizer.pvc!.claimName}/${tokenizer.pvc!.path}`,
    };
  }
  const [height, width, channels] = input.shape as [number, number, number];
  const { valueRange, mean, std } = input;
  return { kind: 'image', height, width, channels, valueRange, ...(mean ? { mean } : {}), ...(std ? { std } : {}) };
}

/** [batch, h, w, c] pixels 0-255 → model input. */
export function preprocess(pixels: tf.Tensor4D, p: ImagePreprocessing): tf.Tensor4D {
  return tf.tidy(() => {
    let x = pixels;
    if (x.shape[1] !== p.height || x.shape[2] !== p.width) x = tf.image.resizeBilinear(x, [p.height, p.width]);
    if (x.shape[3] === 1 && p.channels === 3) x = x.tile([1, 1, 1, 3]);
    if (x.shape[3] === 3 && p.channels === 1) x = x.mean(3, true);
    x = x.mul((p.valueRange.max - p.valueRange.min) / 255).add(p.valueRange.min);
    if (p.mean) x = x.sub(tf.tensor1d(p.mean));
    if (p.std) x = x.div(tf.tensor1d(p.std));
    return x;
  });
}
