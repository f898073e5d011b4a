import { readdir } from 'node:fs/promises';
import { extname, join } from 'node:path';
import sharp from 'sharp';
import { PermanentError } from '../errors.ts';
import { type Example, UnreadableFileError } from './example.ts';

const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.webp', '.gif', '.bmp', '.tif', '.tiff']);

/**
 * Examples of an image folder: one sub-folder per class. Images are decoded and
 * resized by sharp (libvips) on libuv's thread pool, off the training thread.
 */
export async function imageFolderExamples(root: string, classNames: string[] | undefined, target: [number, number, number]): Promise<{ examples: Example[]; classNames: string[] }> {
  let folders: string[];
  try {
    folders = (await readdir(root, { withFileTypes: true })).filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name).sort();
  } catch (err) {
    throw new PermanentError(`cannot list the dataset folder ${root}: ${(err as Error).message}`);
  }
  const names = classNames ?? folders;
  const missing = names.filter((name) => !folders.includes(name));
  if (missing.length) throw new PermanentError(`${root} has no sub-folder for class${missing.length > 1 ? 'es' : ''} ${missing.join(', ')} (spec.dataset.classNames); found: ${folders.join(', ') || 'none'}`);
  const [height, width, channels] = target;
  const examples: Example[] = [];
  for (const [label, name] of names.entries()) {
    const files = (await readdir(join(root, name))).filter((f) => IMAGE_EXTENSIONS.has(extname(f).toLowerCase())).sort();
    if (!files.length) throw new PermanentError(`${join(root, name)} (class "${name}") has no images`);
    for (const file of files) {
      const path = join(root, name, file);
      examples.push({ label, source: path, shape: target, read: () => decodeImage(path, width, height, channels) });
    }
  }
  return { examples, classNames: names };
}

async function decodeImage(path: string, width: number, height: number, channels: number): Promise<Uint8Array> {
  try {
    let image = sharp(path, { failOn: 'error' }).resize(width, height, { fit: 'fill' }).removeAlpha();
    image = channels === 1 ? image.grayscale() : image.toColourspace('srgb');
    const { data, info } = await image.raw().toBuffer({ resolveWithObject: true });
    if (info.channels !== channels) throw new Error(`decoded to ${info.channels} channels, expected ${channels}`);
    return data;
  } catch (err) {
    throw new UnreadableFileError(path, (err as Error).message);
  }
}
