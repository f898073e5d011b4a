import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it, type TestContext } from 'node:test';
import sharp from 'sharp';
import { validateFineTuneJobSpec } from '../../src/api/v1alpha1/index.ts';
import { readIdx } from '../../src/trainer/data/idx-files.ts';
import { PermanentError } from '../../src/trainer/errors.ts';
import { runStagedTraining } from '../../src/trainer/staged-training.ts';
import { fashionSubset } from '../../src/local/quickstart/fashion-mnist.ts';
import { pretrainedBase, useWasm } from './support/workspace.ts';

/** An image folder of real Fashion-MNIST PNGs (two classes) plus one corrupt JPEG. */
async function imageFolder(t: TestContext): Promise<{ dir: string; corrupt: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'ftj-images-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const subset = await fashionSubset([7, 9], 12);
  for (const name of ['sneaker', 'boot']) mkdirSync(join(dir, 'images', name), { recursive: true });
  for (let i = 0; i < subset.count; i++) {
    const pixels = Buffer.from(subset.images.subarray(i * 784, (i + 1) * 784));
    await sharp(pixels, { raw: { width: 28, height: 28, channels: 1 } })
      .png()
      .toFile(join(dir, 'images', subset.labels[i] === 0 ? 'sneaker' : 'boot', `${i}.png`));
  }
  const corrupt = join(dir, 'images', 'boot', 'truncated.jpg');
  writeFileSync(corrupt, Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 16, 1, 2, 3]));
  return { dir, corrupt };
}

async function specFor(dir: string, onCorruptFile: 'Skip' | 'Fail') {
  const result = validateFineTuneJobSpec({
    task: { type: 'ImageClassification', numClasses: 2 },
    model: { uri: `file://${await pretrainedBase()}`, outputKind: 'Classifier', input: { shape: [28, 28, 1] } },
    dataset: {
      uri: `file://${join(dir, 'images')}`,
      format: 'ImageFolder',
      onCorruptFile,
      classNames: ['sneaker', 'boot'],
    },
    stages: [{ name: 'head', epochs: 2 }],
    output: { uri: `file://${join(dir, 'out')}` },
    resources: { gpus: 0 },
  });
  assert.ok(result.valid);
  return result.spec;
}

const BACKEND = { name: 'wasm', source: 'test', gpu: false };

describe('broken dataset files are always named', () => {
  before(useWasm);

  it('skips an unreadable image once, names it, and trains on the rest (onCorruptFile: Skip)', async (t) => {
    const { dir, corrupt } = await imageFolder(t);
    const skipped: string[] = [];
    const outcome = await runStagedTraining(await specFor(dir, 'Skip'), {
      reporters: [{ fileSkipped: (file) => skipped.push(file) }],
      cacheDir: dir,
      backend: BACKEND,
    });
    assert.deepEqual(skipped, [corrupt]);
    assert.deepEqual(outcome.skippedFiles, [corrupt]);
    assert.equal(outcome.stages[0]!.epochsRun, 2);
  });

  it('fails naming the file and the setting (onCorruptFile: Fail)', async (t) => {
    const { dir, corrupt } = await imageFolder(t);
    await assert.rejects(
      runStagedTraining(await specFor(dir, 'Fail'), { reporters: [], cacheDir: dir, backend: BACKEND }),
      (err: Error) =>
        err instanceof PermanentError && err.message.includes(corrupt) && err.message.includes('onCorruptFile'),
    );
  });

  it('names a truncated IDX file and what is wrong with it', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'ftj-idx-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, 'images.idx');
    const header = Buffer.alloc(16);
    header.writeUInt32BE(0x803, 0);
    header.writeUInt32BE(10, 4);
    header.writeUInt32BE(28, 8);
    header.writeUInt32BE(28, 12);
    writeFileSync(path, Buffer.concat([header, Buffer.alloc(100)]));
    await assert.rejects(
      readIdx(path, 3),
      (err: Error) => err instanceof PermanentError && err.message.startsWith(`${path} is truncated`),
    );
  });
});
