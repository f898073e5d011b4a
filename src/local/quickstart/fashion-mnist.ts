// Real data for local mode and the tests: Debian's dataset-fashion-mnist (IDX
// files), cut into small subsets written as IDX. Nothing is downloaded.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { readIdx } from '../../trainer/data/idx-files.ts';

export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

/** The ten classes by label, as examples/quickstart.yaml names them. */
export const FASHION_CLASS_NAMES = [
  't-shirt',
  'trouser',
  'pullover',
  'dress',
  'coat',
  'sandal',
  'shirt',
  'sneaker',
  'bag',
  'ankle-boot',
];

export interface Subset {
  images: Uint8Array;
  labels: Uint8Array;
  count: number;
}

/**
 * The first `perClass` examples of each of `classes` (after skipping `skip` of
 * each) from the training set, or the test set (`t10k`), relabelled
 * 0..classes.length-1 in that order.
 */
export async function fashionSubset(
  classes: number[],
  perClass: number,
  skip = 0,
  set: 'train' | 't10k' = 'train',
): Promise<Subset> {
  const images = await readIdx(join(FASHION_MNIST_DIR, `${set}-images-idx3-ubyte.gz`), 3);
  const labels = await readIdx(join(FASHION_MNIST_DIR, `${set}-labels-idx1-ubyte.gz`), 1);
  const taken = new Map(classes.map((c) => [c, 0]));
  const seen = new Map(classes.map((c) => [c, 0]));
  const picked: number[] = [];
  for (let i = 0; i < labels.data.length && picked.length < classes.length * perClass; i++) {
    const label = labels.data[i]!;
    if (!taken.has(label)) continue;
    seen.set(label, seen.get(label)! + 1);
    if (seen.get(label)! <= skip || taken.get(label)! >= perClass) continue;
    taken.set(label, taken.get(label)! + 1);
    picked.push(i);
  }
  const out = new Uint8Array(picked.length * 784);
  picked.forEach((index, k) => out.set(images.data.subarray(index * 784, (index + 1) * 784), k * 784));
  return {
    images: out,
    labels: Uint8Array.from(picked.map((i) => classes.indexOf(labels.data[i]!))),
    count: picked.length,
  };
}

/** Writes a subset as gzipped IDX files (images.idx.gz, labels.idx.gz) into `dir`. */
export function writeIdx(dir: string, subset: Subset): { images: string; labels: string } {
  mkdirSync(dir, { recursive: true });
  const header = (magic: number, dims: number[]) => {
    const buf = Buffer.alloc(4 + 4 * dims.length);
    buf.writeUInt32BE(magic, 0);
    dims.forEach((d, i) => buf.writeUInt32BE(d, 4 + 4 * i));
    return buf;
  };
  writeFileSync(
    join(dir, 'images.idx.gz'),
    gzipSync(Buffer.concat([header(0x803, [subset.count, 28, 28]), subset.images])),
  );
  writeFileSync(join(dir, 'labels.idx.gz'), gzipSync(Buffer.concat([header(0x801, [subset.count]), subset.labels])));
  return { images: 'images.idx.gz', labels: 'labels.idx.gz' };
}
