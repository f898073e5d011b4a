import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it, type TestContext } from 'node:test';
import { validateFineTuneJobSpec } from '../../src/api/v1alpha1/index.ts';
import { createTokenizer } from '../../src/trainer/data/tokenizer.ts';
import { runStagedTraining } from '../../src/trainer/staged-training.ts';
import { fashionSubset } from '../../src/local/quickstart/fashion-mnist.ts';
import { topicJob, writeTopicTexts } from './support/topic-texts.ts';
import { pretrainedBase, useWasm } from './support/workspace.ts';

const BACKEND = { name: 'wasm', source: 'test', gpu: false };

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'ftj-tabular-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function valid(spec: unknown) {
  const result = validateFineTuneJobSpec(spec);
  assert.ok(result.valid, result.valid ? '' : result.errors.join('\n'));
  return result.spec;
}

describe('WordPiece and whitespace tokenizers', () => {
  const vocabulary = new Map(
    ['[PAD]', '[UNK]', '[CLS]', '[SEP]', 'the', 'cat', 'un', '##aff', '##able', '!'].map((t, i) => [t, i]),
  );

  it("splits into the longest vocabulary pieces, with [CLS]/[SEP], padding and unknowns (BERT's example)", () => {
    const tokenizer = createTokenizer(vocabulary, 'WordPiece', true, 10);
    assert.deepEqual(Array.from(tokenizer.encode('The unaffable cat! Zebra')), [2, 4, 6, 7, 8, 5, 9, 1, 3, 0]);
  });

  it('truncates to the sequence length, keeping [SEP] last', () => {
    const tokenizer = createTokenizer(vocabulary, 'WordPiece', true, 4);
    assert.deepEqual(Array.from(tokenizer.encode('the cat the cat')), [2, 4, 5, 3]);
  });

  it('whitespace tokenization maps whole words, unknown words to [UNK]', () => {
    const tokenizer = createTokenizer(vocabulary, 'Whitespace', true, 5);
    assert.deepEqual(Array.from(tokenizer.encode('The   cat unaffable')), [4, 5, 1, 0, 0]);
  });
});

describe('CSV and JSONL datasets', () => {
  before(useWasm);

  it('trains an image task from a CSV of pixel columns, classes named by the label column', async (t) => {
    const dir = tempDir(t);
    const subset = await fashionSubset([7, 9], 20);
    const columns = Array.from({ length: 784 }, (_, i) => `p${i}`);
    const rows = Array.from({ length: subset.count }, (_, i) =>
      [subset.labels[i] === 0 ? 'sneaker' : 'boot', ...subset.images.subarray(i * 784, (i + 1) * 784)].join(','),
    );
    writeFileSync(join(dir, 'shoes.csv'), `label,${columns.join(',')}\n${rows.join('\n')}\n`);
    const spec = valid({
      task: { type: 'ImageClassification', numClasses: 2 },
      model: { uri: `file://${await pretrainedBase()}`, outputKind: 'Classifier', input: { shape: [28, 28, 1] } },
      dataset: {
        uri: `file://${join(dir, 'shoes.csv')}`,
        format: 'CSV',
        fields: { label: 'label', features: columns },
      },
      stages: [{ name: 'head', epochs: 2 }],
      output: { uri: `file://${join(dir, 'out')}` },
      resources: { gpus: 0 },
    });
    const outcome = await runStagedTraining(spec, { reporters: [], cacheDir: dir, backend: BACKEND });
    assert.equal(outcome.stages[0]!.epochsRun, 2);
    const { readFileSync } = await import('node:fs');
    assert.deepEqual(JSON.parse(readFileSync(join(outcome.outputPath, 'metadata.json'), 'utf8')).classNames, [
      'boot',
      'sneaker',
    ]);
  });

  it('fine-tunes a text encoder on JSONL with its WordPiece vocabulary; a broken line is skipped and named', async (t) => {
    const dir = tempDir(t);
    const texts = await writeTopicTexts(dir);

    const skipped: string[] = [];
    const spec = valid({
      ...topicJob(texts),
      stages: [
        {
          name: 'head',
          epochs: 15,
          optimizer: { learningRate: 3e-2 },
          earlyStopping: { monitor: 'val_acc', patience: 15 },
        },
        {
          name: 'fine-tune',
          epochs: 3,
          unfreeze: { policy: 'All' },
          optimizer: { learningRate: 1e-4 },
          earlyStopping: { monitor: 'val_acc', patience: 3 },
        },
      ],
      batchSize: 16,
      output: { uri: `file://${join(dir, 'out')}` },
      resources: { gpus: 0 },
    });
    const outcome = await runStagedTraining(spec, {
      reporters: [{ fileSkipped: (file) => skipped.push(file) }],
      cacheDir: dir,
      backend: BACKEND,
    });
    assert.deepEqual(skipped, [`${texts.data}:6`]);
    assert.ok(outcome.stages[0]!.bestValue! > 0.9, `head validation accuracy ${outcome.stages[0]!.bestValue}`);
    assert.equal(outcome.stages[1]!.epochsRun > 0, true);
  });
});
