import { copyFile, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { PermanentError } from '../errors.ts';
import type { Entry, Store } from './store.ts';

/** A location on this machine's file system (file://, a PVC's mount): read and written in place. A file's ETag is its modification time. */
export class FileStore implements Store {
  readonly localPath: string;

  constructor(path: string) {
    this.localPath = path;
  }

  get uri(): string {
    return `file://${this.localPath}`;
  }

  at(path: string): FileStore {
    return new FileStore(join(this.localPath, path));
  }

  beside(path: string): FileStore {
    return new FileStore(join(dirname(this.localPath), path));
  }

  async stat(): Promise<Entry | undefined> {
    const info = await stat(this.localPath).catch(() => undefined);
    return info && !info.isDirectory()
      ? { path: '', size: info.size, etag: String(Math.trunc(info.mtimeMs)) }
      : undefined;
  }

  async list(): Promise<Entry[]> {
    const root = this.localPath;
    const entries: Entry[] = [];
    const walk = async (path: string): Promise<void> => {
      const info = await stat(path);
      if (!info.isDirectory()) {
        entries.push({ path: relative(root, path), size: info.size, etag: String(Math.trunc(info.mtimeMs)) });
        return;
      }
      for (const name of (await readdir(path)).sort()) await walk(join(path, name));
    };
    try {
      await walk(root);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new PermanentError(`${root} does not exist`);
      throw err;
    }
    return entries;
  }

  async read(): Promise<Buffer> {
    try {
      return await readFile(this.localPath);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT')
        throw new PermanentError(`${this.localPath} does not exist`);
      throw err;
    }
  }

  async download(file: string): Promise<void> {
    await mkdir(dirname(file), { recursive: true });
    await copyFile(this.localPath, `${file}.partial`);
    await rename(`${file}.partial`, file);
  }

  async upload(file: string): Promise<void> {
    await mkdir(dirname(this.localPath), { recursive: true });
    await copyFile(file, `${this.localPath}.partial`);
    await rename(`${this.localPath}.partial`, this.localPath);
  }

  async write(data: string | Buffer): Promise<void> {
    await mkdir(dirname(this.localPath), { recursive: true });
    await writeFile(`${this.localPath}.partial`, data);
    await rename(`${this.localPath}.partial`, this.localPath);
  }

  async remove(): Promise<void> {
    await rm(this.localPath, { recursive: true, force: true });
  }
}
