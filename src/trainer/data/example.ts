/** One labelled example; its pixels are read only when its batch is built. */
export interface Example {
  label: number;
  /** File (and index, for IDX) the example comes from: named in every error about it. */
  source: string;
  /** Shape of what `read` returns: [height, width, channels] of pixels, or [sequenceLength] of token ids. */
  shape: number[];
  /** Pixels (row-major HWC, 0-255) or token ids. */
  read(): Promise<Uint8Array | Int32Array>;
}

export interface LoadedDataset {
  train: Example[];
  validation: Example[];
  /** spec.evaluation's test set: never trained on, never used for early stopping. */
  test?: Example[];
  classNames: string[];
  /** Records skipped while listing the data (broken JSONL lines, as file:line). */
  skipped: string[];
}

/** A file that cannot be read or decoded. */
export class UnreadableFileError extends Error {
  readonly file: string;
  constructor(file: string, reason: string) {
    super(`${file}: ${reason}`);
    this.file = file;
  }
}
