// A small graph model the tests write themselves (GraphDef JSON, as the tfjs
// converter emits it) for Fashion-MNIST-sized input, and the layers model
// that computes the same function with the same weights:
//   Conv2D -> BiasAdd -> Relu -> [StridedSlice x[:, 1:, 1:, :]] -> _FusedConv2D(BiasAdd, Relu, stride 2) -> Mean -> [batch, 16]
// StridedSlice has no gradient in tfjs: the graph with it cannot be unfrozen below it.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';

const text = (value: string) => ({ s: Buffer.from(value).toString('base64') });
const ints = (...values: number[]) => ({ list: { i: values.map(String) } });
const dims = (shape: number[]) => ({ dim: shape.map((size) => ({ size: String(size) })) });
const FLOAT = { type: 'DT_FLOAT' };
const CONV = {
  T: FLOAT,
  padding: text('SAME'),
  data_format: text('NHWC'),
  dilations: ints(1, 1, 1, 1),
  explicit_paddings: { list: {} },
  use_cudnn_on_gpu: { b: true },
};

export const TINY_GRAPH = {
  input: 'images',
  features: 'features',
  conv1: 'block1/conv',
  bias1: 'block1/bias_add',
  conv2: 'block2/conv',
};

export interface TinyGraphWeights {
  kernel1: tf.Tensor4D;
  bias1: tf.Tensor1D;
  kernel2: tf.Tensor4D;
  bias2: tf.Tensor1D;
}

export function tinyGraphWeights(seed: number): TinyGraphWeights {
  return {
    kernel1: tf.randomNormal([3, 3, 1, 8], 0, 0.5, 'float32', seed),
    bias1: tf.randomNormal([8], 0, 0.1, 'float32', seed + 1),
    kernel2: tf.randomNormal([3, 3, 8, 16], 0, 0.2, 'float32', seed + 2),
    bias2: tf.randomNormal([16], 0, 0.1, 'float32', seed + 3),
  };
}

/** Writes the graph model with `weights` to `dir`; returns its model.json. */
export async function writeTinyGraphModel(
  dir: string,
  weights: TinyGraphWeights,
  options: { slice: boolean },
): Promise<string> {
  const tensors: tf.NamedTensorMap = {
    'block1/kernel': weights.kernel1,
    'block1/bias': weights.bias1,
    'block2/kernel': weights.kernel2,
    'block2/bias': weights.bias2,
    'pool/axes': tf.tensor1d([1, 2], 'int32'),
    ...(options.slice
      ? {
          'crop/begin': tf.tensor1d([0, 1, 1, 0], 'int32'),
          'crop/end': tf.tensor1d([0, 0, 0, 0], 'int32'),
          'crop/strides': tf.tensor1d([1, 1, 1, 1], 'int32'),
        }
      : {}),
  };
  const block2Input = options.slice ? 'crop' : 'block1/relu';
  const node = [
    { name: TINY_GRAPH.input, op: 'Placeholder', attr: { dtype: FLOAT, shape: { shape: dims([-1, 28, 28, 1]) } } },
    ...Object.entries(tensors).map(([name, tensor]) => constantNode(name, tensor)),
    {
      name: TINY_GRAPH.conv1,
      op: 'Conv2D',
      input: [TINY_GRAPH.input, 'block1/kernel'],
      attr: { ...CONV, strides: ints(1, 1, 1, 1) },
    },
    {
      name: TINY_GRAPH.bias1,
      op: 'BiasAdd',
      input: [TINY_GRAPH.conv1, 'block1/bias'],
      attr: { T: FLOAT, data_format: text('NHWC') },
    },
    { name: 'block1/relu', op: 'Relu', input: [TINY_GRAPH.bias1], attr: { T: FLOAT } },
    ...(options.slice
      ? [
          {
            name: 'crop',
            op: 'StridedSlice',
            input: ['block1/relu', 'crop/begin', 'crop/end', 'crop/strides'],
            attr: {
              T: FLOAT,
              Index: { type: 'DT_INT32' },
              begin_mask: { i: '9' },
              end_mask: { i: '15' },
              ellipsis_mask: { i: '0' },
              new_axis_mask: { i: '0' },
              shrink_axis_mask: { i: '0' },
            },
          },
        ]
      : []),
    {
      name: TINY_GRAPH.conv2,
      op: '_FusedConv2D',
      input: [block2Input, 'block2/kernel', 'block2/bias'],
      attr: {
        ...CONV,
        strides: ints(1, 2, 2, 1),
        num_args: { i: '1' },
        epsilon: { f: 0 },
        fused_ops: { list: { s: [text('BiasAdd').s, text('Relu').s] } },
      },
    },
    {
      name: TINY_GRAPH.features,
      op: 'Mean',
      input: [TINY_GRAPH.conv2, 'pool/axes'],
      attr: { T: FLOAT, Tidx: { type: 'DT_INT32' }, keep_dims: { b: false } },
    },
  ];
  return writeGraphModel(dir, node, tensors);
}

function constantNode(name: string, tensor: tf.Tensor) {
  const dtype = tensor.dtype === 'int32' ? 'DT_INT32' : 'DT_FLOAT';
  return {
    name,
    op: 'Const',
    attr: { value: { tensor: { dtype, tensorShape: dims(tensor.shape) } }, dtype: { type: dtype } },
  };
}

async function writeGraphModel(dir: string, node: unknown[], tensors: tf.NamedTensorMap): Promise<string> {
  const { data, specs } = await tf.io.encodeWeights(tensors);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'weights.bin'), Buffer.from(data as ArrayBuffer));
  const modelJson = join(dir, 'model.json');
  writeFileSync(
    modelJson,
    JSON.stringify({
      format: 'graph-model',
      generatedBy: 'finetune-operator tests',
      convertedBy: 'hand-written',
      modelTopology: { node, library: {}, versions: { producer: 1395 } },
      weightsManifest: [{ paths: ['weights.bin'], weights: specs }],
    }),
  );
  return modelJson;
}

/** A text graph: int32 token ids [batch, 8] -> GatherV2 from a [20, 4] embedding table -> Mean over tokens -> [batch, 4]. */
export async function writeTinyTextGraphModel(dir: string, embedding: tf.Tensor2D): Promise<string> {
  const tensors: tf.NamedTensorMap = {
    'embedding/table': embedding,
    'embedding/axis': tf.scalar(0, 'int32'),
    'pool/axes': tf.tensor1d([1], 'int32'),
  };
  const node = [
    { name: 'token_ids', op: 'Placeholder', attr: { dtype: { type: 'DT_INT32' }, shape: { shape: dims([-1, 8]) } } },
    ...Object.entries(tensors).map(([name, tensor]) => constantNode(name, tensor)),
    {
      name: 'embedding/lookup',
      op: 'GatherV2',
      input: ['embedding/table', 'token_ids', 'embedding/axis'],
      attr: { Tparams: FLOAT, Tindices: { type: 'DT_INT32' }, Taxis: { type: 'DT_INT32' }, batch_dims: { i: '0' } },
    },
    {
      name: TINY_GRAPH.features,
      op: 'Mean',
      input: ['embedding/lookup', 'pool/axes'],
      attr: { T: FLOAT, Tidx: { type: 'DT_INT32' }, keep_dims: { b: false } },
    },
  ];
  return writeGraphModel(dir, node, tensors);
}

/** The same function as a layers model (without the slice), for checking the graph's gradients. */
export function tinyLayersTwin(weights: TinyGraphWeights): tf.LayersModel {
  const input = tf.input({ shape: [28, 28, 1] });
  const conv1 = tf.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same', activation: 'relu', name: 'twin1' });
  const conv2 = tf.layers.conv2d({
    filters: 16,
    kernelSize: 3,
    strides: 2,
    padding: 'same',
    activation: 'relu',
    name: 'twin2',
  });
  const output = tf.layers.globalAveragePooling2d({}).apply(conv2.apply(conv1.apply(input))) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: output });
  conv1.setWeights([weights.kernel1, weights.bias1]);
  conv2.setWeights([weights.kernel2, weights.bias2]);
  return model;
}
