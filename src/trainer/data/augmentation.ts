import * as tf from '@tensorflow/tfjs';
import type { Augmentation } from '../../api/v1alpha1/index.ts';
import type { ImagePreprocessing } from './preprocessing.ts';

export const augments = (a: Augmentation) => a.horizontalFlip || a.zoom > 0 || a.brightness > 0 || a.contrast > 0;

/**
 * Random flip, crop/zoom, brightness and contrast per example of a
 * preprocessed training batch (never validation). `random` is seeded, so an
 * epoch's augmentation repeats.
 */
export function augment(batch: tf.Tensor4D, a: Augmentation, p: ImagePreprocessing, random: () => number): tf.Tensor4D {
  const [n, height, width] = batch.shape;
  const perExample = <T>(f: () => T): T[] => Array.from({ length: n }, f);
  return tf.tidy(() => {
    let x: tf.Tensor4D = batch;
    if (a.horizontalFlip) {
      const flip = tf.tensor1d(perExample(() => (random() < 0.5 ? 1 : 0))).reshape([n, 1, 1, 1]);
      x = x.mul(tf.sub(1, flip)).add(tf.image.flipLeftRight(x).mul(flip)) as tf.Tensor4D;
    }
    if (a.zoom > 0) {
      const boxes = perExample(() => {
        const crop = random() * a.zoom;
        const top = random() * crop;
        const left = random() * crop;
        return [top, left, 1 - (crop - top), 1 - (crop - left)];
      });
      x = tf.image.cropAndResize(x, tf.tensor2d(boxes), tf.range(0, n, 1, 'int32'), [height, width]);
    }
    const span = p.valueRange.max - p.valueRange.min;
    if (a.brightness > 0) {
      x = x.add(
        tf.tensor1d(perExample(() => (random() * 2 - 1) * a.brightness * span)).reshape([n, 1, 1, 1]),
      ) as tf.Tensor4D;
    }
    if (a.contrast > 0) {
      const factor = tf.tensor1d(perExample(() => 1 + (random() * 2 - 1) * a.contrast)).reshape([n, 1, 1, 1]);
      const mean = x.mean([1, 2, 3], true);
      x = x.sub(mean).mul(factor).add(mean) as tf.Tensor4D;
    }
    return x.clipByValue(p.valueRange.min - span, p.valueRange.max + span) as tf.Tensor4D;
  });
}
