// The quickstart's base model and the tests': a small CNN with
// BatchNormalization, pretrained on five Fashion-MNIST classes and saved as a
// tfjs layers model.
import * as tf from '@tensorflow/tfjs';
import { fileSystemModel } from '../../trainer/model/file-io-handler.ts';
import { fashionSubset } from './fashion-mnist.ts';

export const BASE_CLASSES = [0, 1, 2, 3, 4];
export const TRANSFER_CLASSES = [5, 6, 7, 8, 9];

/** The architecture, with seeded initialisers; `classes` outputs, softmax. */
export function smallCnn(classes: number, seed = 1): tf.LayersModel {
  const init = (s: number) => tf.initializers.heNormal({ seed: seed * 100 + s });
  return tf.sequential({
    name: 'fashion_cnn',
    layers: [
      tf.layers.conv2d({
        inputShape: [28, 28, 1],
        filters: 16,
        kernelSize: 3,
        padding: 'same',
        useBias: false,
        kernelInitializer: init(1),
        name: 'conv1',
      }),
      tf.layers.batchNormalization({ name: 'bn1' }),
      tf.layers.activation({ activation: 'relu', name: 'relu1' }),
      tf.layers.maxPooling2d({ poolSize: 2, name: 'pool1' }),
      tf.layers.conv2d({
        filters: 32,
        kernelSize: 3,
        padding: 'same',
        useBias: false,
        kernelInitializer: init(2),
        name: 'conv2',
      }),
      tf.layers.batchNormalization({ name: 'bn2' }),
      tf.layers.activation({ activation: 'relu', name: 'relu2' }),
      tf.layers.maxPooling2d({ poolSize: 2, name: 'pool2' }),
      tf.layers.conv2d({ filters: 64, kernelSize: 3, padding: 'same', kernelInitializer: init(3), name: 'conv3' }),
      tf.layers.globalAveragePooling2d({ name: 'features' }),
      tf.layers.dense({
        units: classes,
        activation: 'softmax',
        kernelInitializer: tf.initializers.glorotUniform({ seed }),
        name: 'predictions',
      }),
    ],
  });
}

/** Pretrains smallCnn on `classes` (default BASE_CLASSES) and saves it to `modelJson`. */
export async function pretrainBase(
  modelJson: string,
  perClass = 400,
  epochs = 4,
  classes = BASE_CLASSES,
): Promise<void> {
  const data = await fashionSubset(classes, perClass);
  const model = smallCnn(classes.length);
  model.compile({ optimizer: tf.train.adam(3e-3), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
  const xs = tf.tensor4d(
    Float32Array.from(data.images, (v) => v / 255),
    [data.count, 28, 28, 1],
  );
  const ys = tf.tensor1d(Array.from(data.labels), 'float32');
  await model.fit(xs, ys, { epochs, batchSize: 64, shuffle: false, verbose: 0 });
  await model.save(fileSystemModel(modelJson));
  tf.dispose([xs, ys]);
  model.dispose();
}
