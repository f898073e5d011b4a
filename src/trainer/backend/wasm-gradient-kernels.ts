import * as tf from '@tensorflow/tfjs';
import type { KernelConfig, NamedAttrMap, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs';

/**
 * The gradient kernels tfjs' WASM backend lacks (tfjs #8474), built from ops
 * WASM has, so training a CNN or a text encoder on WASM never falls back to
 * the slow `cpu` backend:
 * - Conv2DBackpropFilter: im2col (one depthwise convolution with a one-hot
 *   filter) then one matrix product; a 1x1 stride-1 convolution needs no im2col.
 * - DepthwiseConv2dNativeBackpropFilter: the same im2col, then a per-channel
 *   multiply and a sum over positions.
 * - DepthwiseConv2dNativeBackpropInput: a transposed depthwise convolution
 *   (stride-dilated, padded dy convolved with the 180°-rotated filter).
 * - UnsortedSegmentSum (the gradient of gather, so of every Embedding): a
 *   scatter of the rows into [numSegments, ...], which sums duplicate ids.
 */

type Pad = 'valid' | 'same' | number | [[number, number], [number, number], [number, number], [number, number]];
interface ConvAttrs {
  strides: [number, number] | number;
  pad: Pad;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  dilations?: [number, number] | number;
  dataFormat?: 'NHWC' | 'NCHW';
}

/** Patch matrices above this many elements are built batch-chunk by batch-chunk. */
const MAX_PATCH_ELEMENTS = 1 << 25;

const pair = (v: [number, number] | number | undefined, fallback = 1): [number, number] =>
  v === undefined ? [fallback, fallback] : typeof v === 'number' ? [v, v] : v;

function checkSupported(kernel: string, attrs: ConvAttrs): void {
  if (attrs.dataFormat === 'NCHW') throw new Error(`${kernel} on wasm: only NHWC (channelsLast) is supported`);
  const [dh, dw] = pair(attrs.dilations);
  if (dh !== 1 || dw !== 1) throw new Error(`${kernel} on wasm: dilation rates above 1 have no gradient in tfjs`);
}

/**
 * im2col: [N,H,W,C] -> [N,Ho,Wo,C*fh*fw], channel c*fh*fw + (kh*fw + kw) holding
 * x at that tap of the window. The convolution geometry (stride, padding,
 * rounding) is the depthwise convolution's own, so it matches the forward pass.
 */
function extractPatches(x: tf.Tensor4D, fh: number, fw: number, attrs: ConvAttrs): tf.Tensor4D {
  const channels = x.shape[3];
  const taps = fh * fw;
  const oneHot = tf.eye(taps).reshape([fh, fw, 1, taps]).tile([1, 1, channels, 1]) as tf.Tensor4D;
  return tf.depthwiseConv2d(x, oneHot, pair(attrs.strides), attrs.pad as 'valid', 'NHWC', 1, attrs.dimRoundingMode);
}

/** Splits the batch so that no patch matrix exceeds MAX_PATCH_ELEMENTS; sums the per-chunk results. */
function overBatchChunks(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  patchElementsPerExample: number,
  compute: (x: tf.Tensor4D, dy: tf.Tensor4D) => tf.Tensor,
): tf.Tensor {
  const batch = x.shape[0];
  const chunk = Math.max(1, Math.min(batch, Math.floor(MAX_PATCH_ELEMENTS / Math.max(1, patchElementsPerExample))));
  if (chunk >= batch) return compute(x, dy);
  let total: tf.Tensor | undefined;
  for (let start = 0; start < batch; start += chunk) {
    const size = Math.min(chunk, batch - start);
    // Each chunk's patch matrix is freed before the next is built.
    const part = tf.tidy(() =>
      compute(x.slice([start, 0, 0, 0], [size, -1, -1, -1]), dy.slice([start, 0, 0, 0], [size, -1, -1, -1])),
    );
    const sum = total ? tf.add(total, part) : part;
    if (total) tf.dispose([total, part]);
    total = sum;
  }
  return total!;
}

type Inputs = Record<string, tf.Tensor4D>;

function conv2DBackpropFilter({ x, dy }: Inputs, attrs: NamedAttrMap): tf.Tensor {
  const a = attrs as unknown as ConvAttrs & { filterShape: [number, number, number, number] };
  checkSupported('Conv2DBackpropFilter', a);
  const [fh, fw, inChannels, outChannels] = a.filterShape;
  const [sh, sw] = pair(a.strides);
  if (fh === 1 && fw === 1 && sh === 1 && sw === 1 && (a.pad === 'valid' || a.pad === 'same')) {
    // Pointwise convolution: the input already is the patch matrix.
    return tf.matMul(x!.reshape([-1, inChannels]), dy!.reshape([-1, outChannels]), true, false).reshape(a.filterShape);
  }
  const [, outH, outW] = dy!.shape;
  const grad = overBatchChunks(x!, dy!, outH * outW * inChannels * fh * fw, (xs, dys) => {
    const patches = extractPatches(xs, fh, fw, a).reshape([-1, inChannels * fh * fw]);
    return tf.matMul(patches, dys.reshape([-1, outChannels]), true, false);
  });
  // Rows are ordered (c, kh, kw); the filter is [kh, kw, c, out].
  return grad.reshape([inChannels, fh, fw, outChannels]).transpose([1, 2, 0, 3]);
}

function depthwiseBackpropFilter({ x, dy }: Inputs, attrs: NamedAttrMap): tf.Tensor {
  const a = attrs as unknown as ConvAttrs & { filterShape: [number, number, number, number] };
  checkSupported('DepthwiseConv2dNativeBackpropFilter', a);
  const [fh, fw, channels, multiplier] = a.filterShape;
  const taps = fh * fw;
  const [, outH, outW] = dy!.shape;
  const grad = overBatchChunks(x!, dy!, outH * outW * channels * taps * multiplier, (xs, dys) => {
    const patches = extractPatches(xs, fh, fw, a).reshape([-1, channels, taps, 1]);
    return tf.mul(patches, dys.reshape([-1, channels, 1, multiplier])).sum(0);
  });
  return grad.reshape([channels, fh, fw, multiplier]).transpose([1, 2, 0, 3]);
}

function depthwiseBackpropInput({ dy, filter }: Inputs, attrs: NamedAttrMap): tf.Tensor {
  const a = attrs as unknown as ConvAttrs & { inputShape: [number, number, number, number] };
  checkSupported('DepthwiseConv2dNativeBackpropInput', a);
  const [batch, inH, inW, channels] = a.inputShape;
  const [fh, fw, , multiplier] = filter!.shape;
  const [sh, sw] = pair(a.strides);
  const { top, left } = tf.backend_util.computeConv2DInfo(
    a.inputShape,
    filter!.shape,
    [sh, sw],
    1,
    a.pad as 'valid',
    a.dimRoundingMode,
    true,
  ).padInfo;
  const [, outH, outW, outChannels] = dy!.shape;
  // Dilate dy by the stride: zeros between rows and columns.
  let spread: tf.Tensor4D = dy!;
  if (sh > 1 || sw > 1) {
    spread = dy!
      .reshape([batch, outH, 1, outW, 1, outChannels])
      .pad([
        [0, 0],
        [0, 0],
        [0, sh - 1],
        [0, 0],
        [0, sw - 1],
        [0, 0],
      ])
      .reshape([batch, outH * sh, outW * sw, outChannels])
      .slice([0, 0, 0, 0], [batch, (outH - 1) * sh + 1, (outW - 1) * sw + 1, outChannels]) as tf.Tensor4D;
  }
  // Pad so a stride-1 VALID convolution yields exactly [inH, inW]; negative amounts crop.
  const padTop = fh - 1 - top;
  const padLeft = fw - 1 - left;
  const padBottom = inH + fh - 1 - spread.shape[1] - padTop;
  const padRight = inW + fw - 1 - spread.shape[2] - padLeft;
  const padded = padOrCrop(spread, padTop, padBottom, padLeft, padRight);
  const rotated = filter!.reverse([0, 1]).reshape([fh, fw, outChannels, 1]) as tf.Tensor4D;
  const dx = tf.depthwiseConv2d(padded, rotated, 1, 'valid');
  return multiplier === 1 ? dx : dx.reshape([batch, inH, inW, channels, multiplier]).sum(4);
}

function padOrCrop(t: tf.Tensor4D, top: number, bottom: number, left: number, right: number): tf.Tensor4D {
  const padded = t.pad([
    [0, 0],
    [Math.max(0, top), Math.max(0, bottom)],
    [Math.max(0, left), Math.max(0, right)],
    [0, 0],
  ]) as tf.Tensor4D;
  const [n, h, w, c] = padded.shape;
  const cropTop = Math.max(0, -top);
  const cropLeft = Math.max(0, -left);
  return padded.slice(
    [0, cropTop, cropLeft, 0],
    [n, h - cropTop - Math.max(0, -bottom), w - cropLeft - Math.max(0, -right), c],
  );
}

function unsortedSegmentSum({ x, segmentIds }: Inputs, attrs: NamedAttrMap): tf.Tensor {
  const { numSegments } = attrs as unknown as { numSegments: number };
  return tf.scatterND(segmentIds!.reshape([-1, 1]).cast('int32'), x!, [numSegments, ...x!.shape.slice(1)]);
}

/** Kernel inputs are TensorInfos; view them as tensors (a view made here is released by the caller's tidy). */
function asTensors(inputs: NamedTensorInfoMap): Inputs {
  return Object.fromEntries(
    Object.entries(inputs).map(([name, info]) => [
      name,
      (info instanceof tf.Tensor ? info : tf.engine().makeTensorFromTensorInfo(info!)) as tf.Tensor4D,
    ]),
  );
}

const KERNELS: [string, (inputs: Inputs, attrs: NamedAttrMap) => tf.Tensor][] = [
  ['Conv2DBackpropFilter', conv2DBackpropFilter],
  ['DepthwiseConv2dNativeBackpropFilter', depthwiseBackpropFilter],
  ['DepthwiseConv2dNativeBackpropInput', depthwiseBackpropInput],
  ['UnsortedSegmentSum', unsortedSegmentSum],
];

/** Registers the missing gradient kernels for `backendName` (idempotent; leaves existing kernels alone). */
export function registerWasmGradientKernels(backendName = 'wasm'): string[] {
  const added: string[] = [];
  for (const [kernelName, compute] of KERNELS) {
    if (tf.getKernel(kernelName, backendName)) continue;
    const config: KernelConfig = {
      kernelName,
      backendName,
      // Returning a Tensor (not a TensorInfo) hands its single reference to the engine.
      kernelFunc: ({ inputs, attrs }) =>
        tf.tidy(() => compute(asTensors(inputs), attrs ?? {})) as unknown as TensorInfo,
    };
    tf.registerKernel(config);
    added.push(kernelName);
  }
  return added;
}
