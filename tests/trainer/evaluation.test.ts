import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { before, describe, it } from 'node:test';
import type { EvaluationStatus } from '../../src/api/v1alpha1/index.ts';
import { loadDataset } from '../../src/trainer/data/load-dataset.ts';
import { summarize } from '../../src/trainer/model/evaluate-test-set.ts';
import { runStagedTraining } from '../../src/trainer/staged-training.ts';
import { minimalSpec, specErrors } from '../api/spec-fixtures.ts';
import { pretrainedBase, specFor, useWasm, workspace } from './support/workspace.ts';

const BACKEND = { name: 'wasm', source: 'test', gpu: false };

describe('the evaluation stage (spec.evaluation)', () => {
  before(async () => {
    await useWasm();
    await pretrainedBase();
  });

  it('computes accuracy, per-class precision and recall from the confusion matrix', () => {
    // Rows: actual class; columns: predicted.
    const report = summarize(
      [
        [3, 1],
        [0, 4],
      ],
      ['cat', 'dog'],
    );
    assert.equal(report.examples, 8);
    assert.equal(report.accuracy, 7 / 8);
    assert.deepEqual(report.classes, [
      { name: 'cat', precision: 1, recall: 3 / 4, support: 4 },
      { name: 'dog', precision: 4 / 5, recall: 1, support: 4 },
    ]);
    assert.equal(report.macroPrecision, (1 + 0.8) / 2);
    assert.equal(report.macroRecall, (0.75 + 1) / 2);
  });

  it('holds the test split out of training and validation, and reports on the exported model', async (t) => {
    const ws = await workspace(t);
    const spec = specFor(ws, { stages: [{ name: 'head', epochs: 2 }], evaluation: { split: 0.25 } });
    const data = await loadDataset(spec);
    const plain = await loadDataset(specFor(ws));
    const total = plain.train.length + plain.validation.length;
    assert.equal(
      data.train.length + data.validation.length + data.test!.length,
      total,
      'every example in exactly one split',
    );
    assert.ok(Math.abs(data.test!.length - total / 4) <= 5, `about a quarter: ${data.test!.length} of ${total}`);
    const seen = new Set([...data.train, ...data.validation].map((e) => e.source));
    assert.ok(
      data.test!.every((e) => !seen.has(e.source)),
      'no test example is trained on or used for early stopping',
    );

    const evaluated: EvaluationStatus[] = [];
    const outcome = await runStagedTraining(spec, {
      reporters: [{ evaluated: (e) => evaluated.push(e) }],
      cacheDir: ws.dir,
      backend: BACKEND,
    });
    const report = JSON.parse(await readFile(`${outcome.outputPath}/evaluation.json`, 'utf8')) as {
      examples: number;
      accuracy: number;
      confusion: number[][];
    };
    assert.equal(report.examples, data.test!.length);
    assert.equal(report.confusion.length, spec.task.numClasses);
    assert.equal(report.accuracy, report.confusion.reduce((sum, row, i) => sum + row[i]!, 0) / report.examples);
    assert.deepEqual(
      evaluated.map((e) => [e.examples, e.accuracy]),
      [[report.examples, report.accuracy]],
    );
  });

  it('scratchControl: trains the same network from scratch on the same data and reports the transfer gain', async (t) => {
    const ws = await workspace(t);
    const spec = specFor(ws, {
      stages: [
        { name: 'head', epochs: 3 },
        { name: 'fine-tune', epochs: 2, unfreeze: { policy: 'All' } },
      ],
      evaluation: { split: 0.25, scratchControl: true },
    });
    const evaluated: EvaluationStatus[] = [];
    const outcome = await runStagedTraining(spec, {
      reporters: [{ evaluated: (e) => evaluated.push(e) }],
      cacheDir: ws.dir,
      backend: BACKEND,
    });
    const [status] = evaluated;
    const report = JSON.parse(await readFile(`${outcome.outputPath}/evaluation.json`, 'utf8')) as {
      accuracy: number;
      scratch: { accuracy: number; epochs: number };
    };
    assert.ok(
      report.scratch.epochs >= 1 && report.scratch.epochs <= 5,
      `the recipe's budget of 5 epochs at most: ${report.scratch.epochs}`,
    );
    assert.ok(report.scratch.accuracy >= 0 && report.scratch.accuracy <= 1);
    assert.equal(status!.scratchAccuracy, report.scratch.accuracy);
    assert.equal(status!.transferGain, report.accuracy - report.scratch.accuracy);
    // The pretrained base's weights were not touched by the control (it trains a fresh copy of the architecture).
    assert.notEqual(status!.scratchAccuracy, status!.accuracy, 'a different model');
  });

  it("scratchControl trains as the recipe's stages do: patience in steps, the whole step budget, the best epoch's weights", async (t) => {
    const ws = await workspace(t);
    const spec = specFor(ws, {
      stages: [
        { name: 'head', epochs: 3 },
        { name: 'fine-tune', epochs: 6, unfreeze: { policy: 'All' } },
      ],
      evaluation: { split: 0.25, scratchControl: true },
    });
    const data = await loadDataset(spec);
    const stepsPerEpoch = Math.ceil(data.train.length / spec.batchSize);
    const outcome = await runStagedTraining(spec, { reporters: [], cacheDir: ws.dir, backend: BACKEND });
    const report = JSON.parse(await readFile(`${outcome.outputPath}/evaluation.json`, 'utf8')) as {
      scratch: { epochs: number; bestEpoch: number; patience: number };
    };
    // An unfrozen stage's patience: about 400 steps, in whole epochs (at most 30). tfjs' earlyStopping(5) ended
    // the old control after 5 noisy epochs, far short of the steps a network from scratch needs.
    assert.equal(report.scratch.patience, Math.min(30, Math.max(3, Math.ceil(400 / stepsPerEpoch))));
    assert.ok(
      report.scratch.patience > 5,
      `a small split gets more than 5 epochs of patience: ${report.scratch.patience}`,
    );
    assert.equal(
      report.scratch.epochs,
      9,
      "patience longer than the budget: the control trains for the recipe's whole budget",
    );
    assert.ok(
      report.scratch.bestEpoch >= 1 && report.scratch.bestEpoch <= 9,
      `the best epoch, whose weights it is scored with: ${report.scratch.bestEpoch}`,
    );
  });

  it('refuses both a split and a location, or neither, naming the field', () => {
    assert.match(
      specErrors({ ...minimalSpec(), evaluation: { split: 0.2, uri: 'file:///test' } }).join('\n'),
      /spec\.evaluation: set either split .* or a test set location/,
    );
    assert.match(specErrors({ ...minimalSpec(), evaluation: {} }).join('\n'), /spec\.evaluation: set either split/);
  });
});
