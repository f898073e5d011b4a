import { readFile } from 'node:fs/promises';
import type { FineTuneJobSpec } from '../../api/v1alpha1/index.ts';
import { PermanentError } from '../errors.ts';
import { DEFAULT_CACHE_DIR, localCopy } from '../storage/local-copy.ts';
import { openStore } from '../storage/store.ts';

export interface Tokenizer {
  kind: 'WordPiece' | 'Whitespace';
  sequenceLength: number;
  /** Token ids, padded with [PAD] (or 0) and truncated to the sequence length. */
  encode(text: string): Int32Array;
}

/**
 * The model's own tokenizer over its vocabulary file (one token per line, id =
 * line number): BERT's WordPiece (basic tokenization, then greedy
 * longest-match with ## continuations, [CLS] ... [SEP] when the vocabulary has
 * them) or plain whitespace splitting.
 */
export async function loadTokenizer(
  spec: FineTuneJobSpec,
  pvcRoot?: string,
  cacheDir = DEFAULT_CACHE_DIR,
): Promise<Tokenizer> {
  const tokenizer = spec.model.input.tokenizer!;
  const store = openStore(tokenizer, pvcRoot);
  let text: string;
  try {
    text = await readFile(await localCopy(store, cacheDir), 'utf8');
  } catch (err) {
    if (!(err instanceof PermanentError) && !(err as NodeJS.ErrnoException).code) throw err;
    throw new PermanentError(
      `cannot read the vocabulary ${store.uri} (spec.model.input.tokenizer): ${(err as Error).message}`,
    );
  }
  return createTokenizer(parseVocabulary(text), tokenizer.kind, tokenizer.lowercase, spec.model.input.shape[0]!);
}

/** A vocabulary file's tokens by id: one token per line, id = line number (blank lines skipped). */
export function parseVocabulary(text: string): Map<string, number> {
  return new Map(
    text
      .split(/\r?\n/)
      .filter((t) => t.length > 0)
      .map((token, id) => [token, id]),
  );
}

export function createTokenizer(
  vocabulary: Map<string, number>,
  kind: Tokenizer['kind'],
  lowercase: boolean,
  sequenceLength: number,
): Tokenizer {
  const id = (token: string) => vocabulary.get(token);
  const unknown = id('[UNK]') ?? id('<unk>') ?? 1;
  const pad = id('[PAD]') ?? id('<pad>') ?? 0;
  const cls = id('[CLS]');
  const sep = id('[SEP]');
  const words = (text: string) => {
    let t = lowercase ? text.toLowerCase() : text;
    if (kind === 'WordPiece')
      t = t
        .normalize('NFD')
        .replace(/\p{Mn}/gu, '')
        .replace(/(\p{P}|\p{S})/gu, ' $1 ');
    return t.split(/\s+/).filter(Boolean);
  };
  const pieces = (word: string): number[] => {
    if (kind === 'Whitespace') return [id(word) ?? unknown];
    const out: number[] = [];
    for (let start = 0; start < word.length;) {
      let end = word.length;
      let found: number | undefined;
      for (; end > start; end--) {
        found = id(`${start > 0 ? '##' : ''}${word.slice(start, end)}`);
        if (found !== undefined) break;
      }
      if (found === undefined) return [unknown];
      out.push(found);
      start = end;
    }
    return out;
  };
  return {
    kind,
    sequenceLength,
    encode(text) {
      const ids = [...(cls !== undefined && kind === 'WordPiece' ? [cls] : []), ...words(text).flatMap(pieces)];
      const body = ids.slice(0, sequenceLength - (sep !== undefined && kind === 'WordPiece' ? 1 : 0));
      if (sep !== undefined && kind === 'WordPiece') body.push(sep);
      const encoded = new Int32Array(sequenceLength).fill(pad);
      encoded.set(body);
      return encoded;
    },
  };
}
