// A small text-classification world: sentences about cooking or football (JSONL, a line broken on purpose),
// a WordPiece vocabulary, and an embedding text encoder as the base (its own pretraining is not the point).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { fileSystemModel } from '../../../src/trainer/model/file-io-handler.ts';

export const KITCHEN = ['pan', 'oven', 'knife', 'soup', 'bake', 'salt', 'pepper', 'stove'];
export const PITCH = ['goal', 'ball', 'kick', 'match', 'striker', 'referee', 'league', 'pass'];

/** Writes vocab.txt, topics.jsonl (120 sentences, the 6th line truncated) and encoder/model.json into `dir`. */
export async function writeTopicTexts(dir: string): Promise<{ vocabulary: string; data: string; encoder: string }> {
  const words = [...KITCHEN, ...PITCH, 'the', 'a', 'and', 'was'];
  writeFileSync(join(dir, 'vocab.txt'), ['[PAD]', '[UNK]', '[CLS]', '[SEP]', ...words].join('\n'));
  let state = 7;
  const random = () => (state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 2 ** 32;
  const sentence = (topic: string[]) =>
    Array.from({ length: 6 }, (_, i) => (i % 3 === 0 ? 'the' : topic[Math.floor(random() * topic.length)])).join(' ');
  const lines = Array.from({ length: 120 }, (_, i) =>
    JSON.stringify({ text: sentence(i % 2 ? KITCHEN : PITCH), topic: i % 2 ? 'cooking' : 'football' }),
  );
  lines.splice(5, 0, '{"text": "truncated');
  writeFileSync(join(dir, 'topics.jsonl'), `${lines.join('\n')}\n`);

  const input = tf.input({ shape: [16], dtype: 'int32' });
  const embedded = tf.layers
    .embedding({
      inputDim: 4 + words.length,
      outputDim: 16,
      embeddingsInitializer: tf.initializers.randomNormal({ seed: 3 }),
      name: 'embedding',
    })
    .apply(input) as tf.SymbolicTensor;
  const pooled = tf.layers.globalAveragePooling1d({ name: 'pool' }).apply(embedded) as tf.SymbolicTensor;
  const features = tf.layers
    .dense({
      units: 16,
      activation: 'relu',
      kernelInitializer: tf.initializers.glorotUniform({ seed: 4 }),
      name: 'encoder',
    })
    .apply(pooled) as tf.SymbolicTensor;
  await tf.model({ inputs: input, outputs: features }).save(fileSystemModel(join(dir, 'encoder', 'model.json')));
  return {
    vocabulary: join(dir, 'vocab.txt'),
    data: join(dir, 'topics.jsonl'),
    encoder: join(dir, 'encoder', 'model.json'),
  };
}

/** The task, model and dataset of a job that classifies these texts by topic (the broken line skipped). */
export function topicJob(texts: { vocabulary: string; data: string; encoder: string }) {
  return {
    task: { type: 'TextClassification' as const, numClasses: 2 },
    model: {
      uri: `file://${texts.encoder}`,
      input: { shape: [16], dtype: 'int32' as const, tokenizer: { uri: `file://${texts.vocabulary}` } },
    },
    dataset: {
      uri: `file://${texts.data}`,
      format: 'JSONL' as const,
      fields: { text: 'text', label: 'topic' },
      onCorruptFile: 'Skip' as const,
    },
  };
}
