import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import type { PromotionStatus } from '../../src/api/v1alpha1/index.ts';
import { decidePromotion } from '../../src/trainer/model/promotion.ts';
import type { EpochEnd } from '../../src/trainer/report/reporter.ts';
import { runStagedTraining } from '../../src/trainer/staged-training.ts';
import { pretrainedBase, specFor, useWasm, workspace } from './support/workspace.ts';

const BACKEND = { name: 'wasm', source: 'test', gpu: false };

describe('promotion after export (spec.promotion)', () => {
  before(async () => {
    await useWasm();
    await pretrainedBase();
  });

  it("decides by the metric's direction and minDelta", () => {
    const promoted = (value: number, previous: number, metric: 'valAccuracy' | 'valLoss', minDelta = 0) =>
      decidePromotion(
        value,
        { job: 'team/old', model: '/m', metric, value: previous, promotedAt: '' },
        { metric, minDelta },
      ).promoted;
    assert.equal(promoted(0.8, 0.7, 'valAccuracy'), true);
    assert.equal(promoted(0.7, 0.8, 'valAccuracy'), false);
    assert.equal(promoted(0.75, 0.7, 'valAccuracy', 0.1), false, 'not by more than minDelta');
    assert.equal(promoted(0.3, 0.5, 'valLoss'), true);
    assert.equal(promoted(0.5, 0.3, 'valLoss'), false);
    assert.equal(
      decidePromotion(0.1, undefined, { metric: 'valAccuracy', minDelta: 0 }).promoted,
      true,
      'the first model is promoted',
    );
    assert.match(
      decidePromotion(
        0.7,
        { job: 'team/old', model: '/m', metric: 'valAccuracy', value: 0.8, promotedAt: '' },
        { metric: 'valAccuracy', minDelta: 0 },
      ).message,
      /valAccuracy 0\.7 is not better than team\/old's 0\.8; the pointer still names team\/old/,
    );
  });

  it('points the pointer file at a better model, atomically, and leaves it alone for a worse one', async (t) => {
    const ws = await workspace(t);
    const pointer = join(ws.dir, 'latest.json');
    // Without early stopping the exported model is the last epoch's: its validation accuracy is the one the epoch reported.
    const spec = specFor(ws, {
      stages: [{ name: 'head', epochs: 3, earlyStopping: { enabled: false } }],
      promotion: { pointer: { uri: `file://${pointer}` }, metric: 'valAccuracy' },
    });
    const decisions: PromotionStatus[] = [];
    const epochs: EpochEnd[] = [];
    const reporter = {
      promotionDecided: (d: PromotionStatus) => decisions.push(d),
      epochEnded: (e: EpochEnd) => epochs.push(e),
    };
    const outcome = await runStagedTraining(spec, {
      reporters: [reporter],
      cacheDir: ws.dir,
      backend: BACKEND,
      jobName: 'team/first',
    });
    const written = JSON.parse(await readFile(pointer, 'utf8')) as {
      job: string;
      model: string;
      metric: string;
      value: number;
    };
    assert.deepEqual([written.job, written.model, written.metric], ['team/first', outcome.outputPath, 'valAccuracy']);
    assert.ok(
      Math.abs(written.value - epochs.at(-1)!.metrics.val_acc!) < 1e-5,
      `${written.value} is the exported model's validation accuracy ${epochs.at(-1)!.metrics.val_acc}`,
    );
    assert.equal(decisions[0]!.promoted, true);
    assert.equal(decisions[0]!.value, written.value);

    // A better model is already promoted: this one is not, and the file is untouched.
    const better = {
      job: 'team/better',
      model: '/models/better',
      metric: 'valAccuracy',
      value: 0.999,
      promotedAt: '2026-01-01T00:00:00Z',
    };
    await writeFile(pointer, JSON.stringify(better));
    await runStagedTraining(spec, {
      reporters: [reporter],
      cacheDir: ws.dir,
      backend: BACKEND,
      jobName: 'team/second',
    });
    assert.deepEqual(JSON.parse(await readFile(pointer, 'utf8')), better);
    assert.deepEqual([decisions[1]!.promoted, decisions[1]!.previous], [false, { job: 'team/better', value: 0.999 }]);

    // A worse one is: replaced.
    await writeFile(pointer, JSON.stringify({ ...better, job: 'team/worse', value: 0.01 }));
    await runStagedTraining(spec, { reporters: [reporter], cacheDir: ws.dir, backend: BACKEND, jobName: 'team/third' });
    assert.equal((JSON.parse(await readFile(pointer, 'utf8')) as { job: string }).job, 'team/third');
    assert.equal(decisions[2]!.promoted, true);
  });

  it('names a pointer file it cannot read instead of crashing', async (t) => {
    const ws = await workspace(t);
    const pointer = join(ws.dir, 'latest.json');
    await writeFile(pointer, 'not json');
    const spec = specFor(ws, {
      stages: [{ name: 'head', epochs: 1 }],
      promotion: { pointer: { uri: `file://${pointer}` } },
    });
    await assert.rejects(
      runStagedTraining(spec, { reporters: [], cacheDir: ws.dir, backend: BACKEND }),
      (err: Error) =>
        err.name === 'PermanentError' || /spec\.promotion\.pointer: .*latest\.json is not JSON/.test(err.message),
    );
  });
});
