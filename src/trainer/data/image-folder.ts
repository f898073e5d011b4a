import { readdir } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { PermanentError } from '../errors.ts';
import { decodeImage } from './decode-image.ts';
import { type Example, UnreadableFileError } from './example.ts';

const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.webp', '.gif', '.bmp', '.tif', '.tiff']);

/**
 * Examples of an image folder: one sub-folder per class. Images are decoded and
 * resized by sharp (libvips) on libuv's thread pool, off the training thread.
 */
export async function imageFolderExamples(
  root: string,
  classNames: string[] | undefined,
  target: [number, number, number],
): Promise<{ examples: Example[]; classNames: string[] }> {
  let folders: string[];
  try {
    folders = (await readdir(root, { withFileTypes: true }))
      .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
      .map((e) => e.name)
      .sort();
  } catch (err) {
    throw new PermanentError(`cannot list the dataset folder ${root}: ${(err as Error).message}`);
  }
  const names = classNames ?? folders;
  const missing = names.filter((name) => !folders.includes(name));
  if (missing.length)
    throw new PermanentError(
      `${root} has no sub-folder for class${missing.length > 1 ? 'es' : ''} ${missing.join(', ')} (spec.dataset.classNames); found: ${folders.join(', ') || 'none'}`,
    );
  const [height, width, channels] = target;
  const examples: Example[] = [];
  for (const [label, name] of names.entries()) {
    const files = (await readdir(join(root, name)))
      .filter((f) => IMAGE_EXTENSIONS.has(extname(f).toLowerCase()))
      .sort();
    if (!files.length) throw new PermanentError(`${join(root, name)} (class "${name}") has no images`);
    for (const file of files) {
      const path = join(root, name, file);
      examples.push({
        label,
        source: path,
        shape: target,
        read: () =>
          decodeImage(path, width, height, channels).catch((err: unknown) => {
            throw new UnreadableFileError(path, (err as Error).message);
          }),
      });
    }
  }
  return { examples, classNames: names };
}
