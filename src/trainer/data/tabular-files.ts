import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { createInterface } from 'node:readline';
import { parse } from 'csv-parse';
import type { FineTuneJobSpec } from '../../api/v1alpha1/index.ts';
import { PermanentError } from '../errors.ts';
import type { Example } from './example.ts';
import type { Tokenizer } from './tokenizer.ts';

interface Row {
  values: Record<string, unknown>;
  source: string;
}

/**
 * Examples from a CSV or JSONL file: the label column/key, and either text
 * (tokenized when its batch is built) or numeric feature columns (pixel
 * values, 0-255, in HWC order). Only the needed fields of each row are kept.
 */
export async function tabularExamples(
  path: string,
  spec: FineTuneJobSpec,
  tokenizer: Tokenizer | undefined,
): Promise<{ examples: Example[]; classNames: string[]; skipped: string[] }> {
  const { fields } = spec.dataset;
  const keep = [fields.label, ...(fields.text ? [fields.text] : []), ...(fields.features ?? [])];
  const rows: Row[] = [];
  const skipped: string[] = [];
  for await (const row of spec.dataset.format === 'CSV' ? csvRows(path) : jsonlRows(path, spec, skipped)) {
    rows.push({ source: row.source, values: Object.fromEntries(keep.map((key) => [key, row.values[key]])) });
  }
  if (!rows.length) throw new PermanentError(`${path} has no rows`);
  for (const key of keep) {
    const missing = rows.find((row) => row.values[key] === undefined || row.values[key] === '');
    if (missing)
      throw new PermanentError(`${missing.source} has no "${key}" (spec.dataset.fields): check the column/key names`);
  }
  const classNames = spec.dataset.classNames ?? [...new Set(rows.map((r) => String(r.values[fields.label])))].sort();
  const labelOf = (row: Row) => {
    const label = String(row.values[fields.label]);
    const byName = classNames.indexOf(label);
    if (byName >= 0) return byName;
    if (/^\d+$/.test(label) && Number(label) < classNames.length) return Number(label);
    throw new PermanentError(
      `${row.source} has label "${label}", which is not among spec.dataset.classNames (${classNames.join(', ')})`,
    );
  };
  const examples = rows.map((row): Example => {
    const label = labelOf(row);
    if (tokenizer) {
      const text = String(row.values[fields.text!]);
      return { label, source: row.source, shape: [tokenizer.sequenceLength], read: async () => tokenizer.encode(text) };
    }
    const pixels = Uint8Array.from(fields.features!, (key) => Number(row.values[key]));
    const expected = spec.model.input.shape.reduce((a, b) => a * b, 1);
    if (pixels.length !== expected) {
      throw new PermanentError(
        `spec.dataset.fields.features lists ${pixels.length} columns but spec.model.input.shape [${spec.model.input.shape.join(', ')}] needs ${expected}`,
      );
    }
    return { label, source: row.source, shape: spec.model.input.shape, read: async () => pixels };
  });
  return { examples, classNames, skipped };
}

async function* csvRows(path: string): AsyncGenerator<Row> {
  const parser = parse({ columns: true, skip_empty_lines: true, trim: true, info: true });
  // pipeline, not pipe: a file that cannot be read (ENOENT, EACCES) ends the parser with its error, which the
  // loop below turns into a PermanentError, instead of an 'error' event nobody listens to that kills the process.
  pipeline(createReadStream(path), parser).catch(() => undefined);
  try {
    for await (const { record, info } of parser as AsyncIterable<{
      record: Record<string, string>;
      info: { lines: number };
    }>) {
      yield { values: record, source: `${path}:${info.lines}` };
    }
  } catch (err) {
    const unreadable = (err as NodeJS.ErrnoException).syscall !== undefined;
    throw new PermanentError(
      `cannot ${unreadable ? 'read' : 'parse'} ${path} (spec.dataset): ${(err as Error).message}`,
    );
  }
}

/** JSONL rows; with onCorruptFile Skip, broken lines go to `skipped` (as file:line) instead of failing. */
async function* jsonlRows(path: string, spec: FineTuneJobSpec, skipped: string[]): AsyncGenerator<Row> {
  const lines = createInterface({ input: createReadStream(path), crlfDelay: Infinity });
  let number = 0;
  try {
    for await (const line of lines) {
      number++;
      if (!line.trim()) continue;
      try {
        yield { values: JSON.parse(line) as Record<string, unknown>, source: `${path}:${number}` };
      } catch (err) {
        if (spec.dataset.onCorruptFile === 'Fail')
          throw new PermanentError(
            `${path}:${number} is not valid JSON (${(err as Error).message}); spec.dataset.onCorruptFile is Fail, set Skip to skip such lines`,
          );
        skipped.push(`${path}:${number}`);
      }
    }
  } catch (err) {
    if (err instanceof PermanentError) throw err;
    throw new PermanentError(`cannot read ${path} (spec.dataset): ${(err as Error).message}`);
  }
}
