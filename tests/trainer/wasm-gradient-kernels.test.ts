import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { registerWasmGradientKernels } from '../../src/trainer/backend/wasm-gradient-kernels.ts';

type Pad = 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]];
interface Case {
  kind: 'conv' | 'depthwise';
  x: [number, number, number, number];
  f: [number, number, number, number];
  stride: number | [number, number];
  pad: Pad;
}

const explicit = (t: number, b: number, l: number, r: number): Pad => [
  [0, 0],
  [t, b],
  [l, r],
  [0, 0],
];

const CASES: Case[] = [
  { kind: 'conv', x: [2, 8, 8, 3], f: [3, 3, 3, 4], stride: 1, pad: 'same' },
  { kind: 'conv', x: [2, 9, 7, 3], f: [3, 3, 3, 5], stride: 2, pad: 'same' },
  { kind: 'conv', x: [1, 11, 11, 2], f: [5, 5, 2, 3], stride: 2, pad: 'valid' },
  { kind: 'conv', x: [3, 10, 10, 4], f: [1, 1, 4, 6], stride: 1, pad: 'valid' },
  { kind: 'conv', x: [2, 10, 10, 4], f: [1, 1, 4, 6], stride: 2, pad: 'same' },
  { kind: 'conv', x: [2, 13, 9, 3], f: [3, 2, 3, 2], stride: [2, 1], pad: 'same' },
  { kind: 'conv', x: [1, 7, 7, 1], f: [4, 4, 1, 2], stride: 3, pad: 'same' },
  { kind: 'conv', x: [2, 8, 8, 2], f: [3, 3, 2, 2], stride: 1, pad: explicit(1, 2, 0, 1) },
  { kind: 'depthwise', x: [2, 8, 8, 3], f: [3, 3, 3, 1], stride: 1, pad: 'same' },
  { kind: 'depthwise', x: [2, 9, 9, 4], f: [3, 3, 4, 1], stride: 2, pad: 'same' },
  { kind: 'depthwise', x: [1, 10, 7, 2], f: [3, 3, 2, 2], stride: 1, pad: 'valid' },
  { kind: 'depthwise', x: [2, 11, 11, 3], f: [5, 5, 3, 1], stride: 2, pad: 'valid' },
  { kind: 'depthwise', x: [2, 12, 12, 2], f: [3, 3, 2, 3], stride: 2, pad: 'same' },
  { kind: 'depthwise', x: [1, 7, 9, 3], f: [2, 4, 3, 1], stride: [1, 2], pad: 'same' },
  { kind: 'depthwise', x: [2, 6, 6, 2], f: [3, 3, 2, 1], stride: 1, pad: explicit(2, 0, 1, 1) },
  { kind: 'depthwise', x: [1, 8, 8, 1], f: [1, 1, 1, 4], stride: 1, pad: 'valid' },
  { kind: 'depthwise', x: [2, 13, 13, 2], f: [3, 3, 2, 1], stride: 3, pad: 'same' },
  { kind: 'conv', x: [4, 14, 14, 8], f: [3, 3, 8, 16], stride: 2, pad: 'same' },
];

/** Deterministic pseudo-random values (an LCG) so both backends see the same numbers. */
function values(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let state = seed >>> 0;
  for (let i = 0; i < n; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    out[i] = state / 2 ** 32 - 0.5;
  }
  return out;
}

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** Gradients of sum(conv(x, f) * dy) with respect to x and f: the backprop kernels training uses. */
async function gradients(backend: string, c: Case): Promise<{ dx: Float32Array; df: Float32Array }> {
  await tf.setBackend(backend);
  return tf.tidy(() => {
    const x = tf.tensor4d(values(size(c.x), 1), c.x);
    const f = tf.tensor4d(values(size(c.f), 2), c.f);
    const forward = (xs: tf.Tensor4D, fs: tf.Tensor4D) =>
      c.kind === 'conv' ? tf.conv2d(xs, fs, c.stride, c.pad) : tf.depthwiseConv2d(xs, fs, c.stride, c.pad);
    const outShape = forward(x, f).shape;
    const dy = tf.tensor(values(size(outShape), 3), outShape);
    const [dx, df] = tf.grads((xs: tf.Tensor, fs: tf.Tensor) =>
      tf.sum(tf.mul(forward(xs as tf.Tensor4D, fs as tf.Tensor4D), dy)),
    )([x, f]);
    return { dx: dx!.dataSync() as Float32Array, df: df!.dataSync() as Float32Array };
  });
}

function relativeError(actual: Float32Array, expected: Float32Array): number {
  let maxDiff = 0;
  let maxRef = 0;
  for (let i = 0; i < expected.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(actual[i]! - expected[i]!));
    maxRef = Math.max(maxRef, Math.abs(expected[i]!));
  }
  return maxDiff / Math.max(maxRef, 1e-12);
}

const describePad = (pad: Pad) => (typeof pad === 'string' ? pad : `explicit ${JSON.stringify(pad.slice(1, 3))}`);

describe('WASM convolution gradient kernels', () => {
  before(async () => {
    registerWasmGradientKernels();
    await tf.setBackend('wasm');
  });

  it('fill exactly the kernels WASM lacks', () => {
    for (const kernel of [
      'Conv2DBackpropFilter',
      'DepthwiseConv2dNativeBackpropFilter',
      'DepthwiseConv2dNativeBackpropInput',
      'UnsortedSegmentSum',
    ]) {
      assert.ok(tf.getKernel(kernel, 'wasm'), kernel);
    }
    assert.deepEqual(registerWasmGradientKernels(), [], 'registering twice adds nothing');
  });

  for (const c of CASES) {
    it(`${c.kind} x${JSON.stringify(c.x)} f${JSON.stringify(c.f)} stride ${JSON.stringify(c.stride)} ${describePad(c.pad)} matches cpu (rel. error < 1e-4)`, async () => {
      const expected = await gradients('cpu', c);
      const actual = await gradients('wasm', c);
      assert.equal(actual.df.length, expected.df.length);
      assert.ok(
        relativeError(actual.df, expected.df) < 1e-4,
        `filter gradient off by ${relativeError(actual.df, expected.df)}`,
      );
      assert.ok(
        relativeError(actual.dx, expected.dx) < 1e-4,
        `input gradient off by ${relativeError(actual.dx, expected.dx)}`,
      );
    });
  }

  it('UnsortedSegmentSum (the embedding gradient) matches cpu, summing repeated ids', async () => {
    const run = async (backend: string) => {
      await tf.setBackend(backend);
      return tf.tidy(() => {
        const table = tf.tensor2d(values(7 * 5, 4), [7, 5]);
        const ids = tf.tensor2d(
          [
            [0, 3, 3, 6],
            [3, 1, 0, 0],
          ],
          [2, 4],
          'int32',
        );
        const weights = tf.tensor3d(values(2 * 4 * 5, 5), [2, 4, 5]);
        return tf
          .grad((t: tf.Tensor) => tf.sum(tf.mul(tf.gather(t, ids), weights)))(table)
          .dataSync() as Float32Array;
      });
    };
    const expected = await run('cpu');
    const actual = await run('wasm');
    assert.ok(relativeError(actual, expected) < 1e-5, `off by ${relativeError(actual, expected)}`);
    assert.ok(
      expected.slice(15, 20).some((v) => v !== 0),
      'row 3 (three ids) has a gradient',
    );
  });

  it('leak no tensors and no backend memory', async () => {
    await tf.setBackend('wasm');
    const c = CASES[1]!;
    await gradients('wasm', c);
    const before = { tensors: tf.memory().numTensors, dataIds: tf.engine().backend.numDataIds() };
    for (let i = 0; i < 3; i++) await gradients('wasm', { ...c, kind: i % 2 ? 'conv' : 'depthwise', f: [3, 3, 3, 1] });
    assert.deepEqual({ tensors: tf.memory().numTensors, dataIds: tf.engine().backend.numDataIds() }, before);
  });

  it('refuse NCHW with a clear message instead of a wrong answer', () => {
    const kernel = tf.getKernel('Conv2DBackpropFilter', 'wasm')!;
    const x = tf.zeros([1, 4, 4, 1]);
    const dy = tf.zeros([1, 4, 4, 1]);
    assert.throws(
      () =>
        kernel.kernelFunc({
          inputs: { x, dy },
          attrs: { strides: 1, pad: 'same', dataFormat: 'NCHW', filterShape: [3, 3, 1, 1] },
          backend: tf.engine().backend,
        }),
      /only NHWC/,
    );
    tf.dispose([x, dy]);
  });
});
