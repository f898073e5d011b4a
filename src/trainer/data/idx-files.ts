import { readFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import { PermanentError } from '../errors.ts';
import type { Example } from './example.ts';

/** Reads an IDX file (optionally gzipped): the MNIST format. Returns its dimensions and its unsigned-byte payload. */
export async function readIdx(path: string, expectedRank: number): Promise<{ dims: number[]; data: Uint8Array }> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
    if (bytes[0] === 0x1f && bytes[1] === 0x8b) bytes = gunzipSync(bytes);
  } catch (err) {
    throw new PermanentError(`cannot read IDX file ${path}: ${(err as Error).message}`);
  }
  const type = bytes[2];
  const rank = bytes[3] ?? 0;
  if (bytes.length < 4 || bytes[0] !== 0 || bytes[1] !== 0 || type !== 0x08) {
    throw new PermanentError(`${path} is not an unsigned-byte IDX file (bad magic number); check spec.dataset.idx`);
  }
  if (rank !== expectedRank)
    throw new PermanentError(
      `${path} has ${rank} dimensions, expected ${expectedRank}; are spec.dataset.idx.images and labels swapped?`,
    );
  const dims = Array.from({ length: rank }, (_, i) => bytes.readUInt32BE(4 + 4 * i));
  const offset = 4 + 4 * rank;
  const size = dims.reduce((a, b) => a * b, 1);
  if (bytes.length - offset < size)
    throw new PermanentError(`${path} is truncated: header promises ${size} bytes, file has ${bytes.length - offset}`);
  return { dims, data: new Uint8Array(bytes.buffer, bytes.byteOffset + offset, size) };
}

/** Examples of an IDX image/label pair; the bytes stay in one buffer (1 byte per pixel), never as tensors. */
export async function idxExamples(imagesPath: string, labelsPath: string): Promise<Example[]> {
  const [images, labels] = await Promise.all([readIdx(imagesPath, 3), readIdx(labelsPath, 1)]);
  const [count, height, width] = images.dims as [number, number, number];
  if (labels.dims[0] !== count)
    throw new PermanentError(`${imagesPath} has ${count} images but ${labelsPath} has ${labels.dims[0]} labels`);
  const pixels = height * width;
  return Array.from({ length: count }, (_, i) => ({
    label: labels.data[i]!,
    source: `${imagesPath}#${i}`,
    shape: [height, width, 1] as [number, number, number],
    read: async () => images.data.subarray(i * pixels, (i + 1) * pixels),
  }));
}
