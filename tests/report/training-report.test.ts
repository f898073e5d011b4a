// Each job's report.html, as a person sees it: the trainer writes it beside the model; a real headless
// browser (Debian's chromium) renders it, and the screenshot shows the charts drawn.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import sharp from 'sharp';
import { runStagedTraining } from '../../src/trainer/staged-training.ts';
import { screenshot } from '../../src/local/chromium.ts';
import { specFor, useWasm, workspace } from '../trainer/support/workspace.ts';

const BACKEND = { name: 'wasm', source: 'test', gpu: false };

/** How many pixels of the screenshot are within a few levels of `[r, g, b]`. */
function pixelsNear(data: Buffer, channels: number, [r, g, b]: [number, number, number]): number {
  let count = 0;
  for (let i = 0; i < data.length; i += channels)
    if (Math.abs(data[i]! - r) < 12 && Math.abs(data[i + 1]! - g) < 12 && Math.abs(data[i + 2]! - b) < 12) count++;
  return count;
}

describe('the training report (report.html beside the model)', () => {
  before(useWasm);

  it('charts every epoch of each stage with the stages marked, the learning rate per step, the confusion matrix and the provenance; chromium draws it', async (t) => {
    const ws = await workspace(t, 30);
    const spec = specFor(ws, {
      stages: [
        { name: 'head', epochs: 3 },
        { name: 'fine-tune', epochs: 2, unfreeze: { policy: 'All' }, optimizer: { warmupEpochs: 1 } },
      ],
      evaluation: { split: 0.2 },
    });
    const outcome = await runStagedTraining(spec, {
      reporters: [],
      cacheDir: ws.dir,
      backend: BACKEND,
      jobName: 'team/report',
    });
    const file = join(outcome.outputPath, 'report.html');
    assert.ok(existsSync(file), 'report.html is written beside model.json');
    const html = readFileSync(file, 'utf8');
    const epochs = outcome.stages.reduce((sum, s) => sum + s.epochsRun, 0);
    for (const series of ['training loss', 'validation loss', 'training accuracy', 'validation accuracy'])
      assert.match(html, new RegExp(`data-series="${series}" data-points="${epochs}"`), series);
    assert.equal(html.match(/class="boundary"/g)?.length, 2 * 2 + 2, 'each stage marked on both curves and the rate');
    const evaluation = JSON.parse(readFileSync(join(outcome.outputPath, 'evaluation.json'), 'utf8')) as {
      confusion: number[][];
    };
    const cells = [...html.matchAll(/<table class="confusion">([\s\S]*?)<\/table>/g)][0]![1]!.match(/<td /g)!.length;
    assert.equal(cells, 25, 'a 5x5 confusion matrix');
    assert.equal(evaluation.confusion.length, 5);
    const stepsPerEpoch = /data-series="learning rate" data-points="(\d+)"/.exec(html)?.[1];
    assert.ok(Number(stepsPerEpoch) > epochs, 'the rate is charted per step, not per epoch');
    assert.match(html, /class="best"/, 'the best epoch is marked');
    assert.match(html, /<th>base model<\/th><td>file:\/\//);
    assert.doesNotMatch(html, /<script|https?:\/\//, 'self-contained: no script, nothing fetched');

    const png = join(ws.dir, 'report.png');
    await screenshot(`file://${file}`, png, 800, 1600);
    const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    assert.equal(info.width, 800);
    const blue = pixelsNear(data, info.channels, [0x1f, 0x77, 0xb4]);
    const red = pixelsNear(data, info.channels, [0xd6, 0x27, 0x28]);
    const green = pixelsNear(data, info.channels, [0x2c, 0xa0, 0x2c]);
    assert.ok(
      blue > 300 && red > 300,
      `the training and validation curves are drawn (${blue} blue, ${red} red pixels)`,
    );
    assert.ok(green > 200, `the learning-rate curve is drawn (${green} green pixels)`);
  });
});
