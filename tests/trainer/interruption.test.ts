import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { InterruptedError, Interruption } from '../../src/trainer/interruption.ts';
import { fileSystemModel } from '../../src/trainer/model/file-io-handler.ts';
import type { TrainingReporter } from '../../src/trainer/report/reporter.ts';
import { runStagedTraining } from '../../src/trainer/staged-training.ts';
import { pretrainedBase, specFor, useWasm, workspace } from './support/workspace.ts';

const BACKEND = { name: 'wasm', source: 'test', gpu: false };

async function weightsOf(modelJson: string): Promise<Float32Array[]> {
  const model = await tf.loadLayersModel(fileSystemModel(modelJson));
  const weights = model.getWeights().map((w) => w.dataSync() as Float32Array);
  model.dispose();
  return weights;
}

const largestDifference = (a: Float32Array[], b: Float32Array[]) =>
  Math.max(...a.map((w, i) => Math.max(...w.map((v, j) => Math.abs(v - b[i]![j]!)))));

describe('interruptions cost at most one batch (SIGTERM)', () => {
  before(async () => {
    await useWasm();
    await pretrainedBase();
  });

  it("a run stopped mid-epoch in each stage and resumed twice ends with the uninterrupted run's model", async (t) => {
    const ws = await workspace(t, 40);
    // Two stages: the head on cached features, then all layers on batches read from disk, with augmentation
    // (seeded per batch) and early stopping whose best weights and counters must survive the interruption.
    const spec = (output: string) =>
      specFor(ws, {
        output: { uri: `file://${join(ws.dir, output)}` },
        batchSize: 16,
        augmentation: { horizontalFlip: true, brightness: 0.1 },
        stages: [
          { name: 'head', epochs: 3, earlyStopping: { patience: 10 } },
          // No epoch beats the stage's start by minDelta 100: the best weights restored at the end are the start's (epoch 0),
          // saved before the stop.
          {
            name: 'fine-tune',
            epochs: 3,
            unfreeze: { policy: 'All' },
            optimizer: { learningRate: 1e-4 },
            earlyStopping: { patience: 10, minDelta: 100 },
          },
        ],
      });
    const whole = await runStagedTraining(spec('whole'), { reporters: [], cacheDir: ws.dir, backend: BACKEND });

    // SIGTERM arrives while the first epoch of a stage ends: training stops after the next batch, mid-epoch 2.
    const stopDuring = (stage: string) => {
      const interruption = new Interruption();
      const reporter: TrainingReporter = {
        epochEnded: (e) => {
          if (e.stage === stage && e.epoch === 1) interruption.request('SIGTERM');
        },
      };
      return { interruption, reporter };
    };
    const log: string[] = [];
    const resumed: TrainingReporter = {
      resumed: (done, inProgress) => log.push(`${done.map((s) => s.name).join(',')}|${JSON.stringify(inProgress)}`),
    };
    for (const stage of ['head', 'fine-tune']) {
      const { interruption, reporter } = stopDuring(stage);
      const run = runStagedTraining(spec('parts'), {
        reporters: [reporter, resumed],
        cacheDir: ws.dir,
        backend: BACKEND,
        interruption,
      });
      const error = await run.then(
        () => assert.fail(`not interrupted in ${stage}`),
        (err: unknown) => err,
      );
      assert.ok(error instanceof InterruptedError, String(error));
      assert.deepEqual(error.position, { stage, epoch: 1, batch: 1 });
    }
    const parts = await runStagedTraining(spec('parts'), { reporters: [resumed], cacheDir: ws.dir, backend: BACKEND });
    assert.equal(log.length, 2, 'the second and third runs resumed');
    assert.match(log[1]!, /^head\|.*"stage":"fine-tune","epoch":1,"batch":1.*"optimizer":true/);
    assert.deepEqual(
      parts.stages.map((s) => [s.name, s.epochsRun, s.bestEpoch]),
      whole.stages.map((s) => [s.name, s.epochsRun, s.bestEpoch]),
    );
    assert.equal(whole.stages[1]!.bestEpoch, 0);

    const difference = largestDifference(
      await weightsOf(join(whole.outputPath, 'model.json')),
      await weightsOf(join(parts.outputPath, 'model.json')),
    );
    assert.ok(difference < 1e-5, `the resumed model differs from the uninterrupted one by up to ${difference}`);
    // report.html of the resumed run charts every epoch of both stages, as the uninterrupted run's does.
    const points = (dir: string) =>
      [...readFileSync(join(dir, 'report.html'), 'utf8').matchAll(/data-series="([^"]+)" data-points="(\d+)"/g)].map(
        (m) => `${m[1]} ${m[2]}`,
      );
    assert.deepEqual(points(parts.outputPath), points(whole.outputPath));
    assert.ok(points(whole.outputPath).includes('validation loss 6'), points(whole.outputPath).join(', '));
    assert.doesNotMatch(readFileSync(join(parts.outputPath, 'report.html'), 'utf8'), /earlier attempt/);
    const metadata = (dir: string) =>
      JSON.parse(readFileSync(join(dir, 'metadata.json'), 'utf8')) as { stages: { bestValue: number }[] };
    assert.deepEqual(
      metadata(parts.outputPath).stages.map((s) => s.bestValue.toFixed(5)),
      metadata(whole.outputPath).stages.map((s) => s.bestValue.toFixed(5)),
    );
  });

  it("a stop during a stage's BatchNormalization re-estimation ends the attempt before training; the next runs the stage afresh", async (t) => {
    const ws = await workspace(t, 40);
    // batchSize 16: the fine-tune stage trains BN (Auto) and re-estimates its statistics before its first epoch.
    const spec = (output: string) =>
      specFor(ws, {
        output: { uri: `file://${join(ws.dir, output)}` },
        batchSize: 16,
        stages: [
          { name: 'head', epochs: 2 },
          { name: 'fine-tune', epochs: 2, unfreeze: { policy: 'All' }, optimizer: { learningRate: 1e-4 } },
        ],
      });
    const whole = await runStagedTraining(spec('whole'), { reporters: [], cacheDir: ws.dir, backend: BACKEND });

    const adapted: string[] = [];
    const log: TrainingReporter = { batchNormAdapted: (info) => adapted.push(info.stage ?? 'model') };
    // SIGTERM as the fine-tune stage starts: before its starting point is measured and its statistics re-estimated.
    const interruption = new Interruption();
    const stopAtStart: TrainingReporter = {
      stageStarted: (s) => {
        if (s.name === 'fine-tune') interruption.request('SIGTERM');
      },
    };
    const run = runStagedTraining(spec('parts'), {
      reporters: [stopAtStart, log],
      cacheDir: ws.dir,
      backend: BACKEND,
      interruption,
    });
    const error = await run.then(
      () => assert.fail('not interrupted'),
      (err: unknown) => err,
    );
    assert.ok(error instanceof InterruptedError, String(error));
    assert.equal(error.position, undefined, 'stopped before the first batch, with nothing of the stage to save');
    assert.match(error.message, /while re-estimating BatchNormalization statistics; the last stage checkpoint is kept/);
    assert.deepEqual(adapted, []);

    const parts = await runStagedTraining(spec('parts'), { reporters: [log], cacheDir: ws.dir, backend: BACKEND });
    assert.deepEqual(adapted, ['fine-tune'], 'the next attempt re-estimates');
    assert.deepEqual(
      parts.stages.map((s) => [s.name, s.epochsRun]),
      whole.stages.map((s) => [s.name, s.epochsRun]),
    );
    const difference = largestDifference(
      await weightsOf(join(whole.outputPath, 'model.json')),
      await weightsOf(join(parts.outputPath, 'model.json')),
    );
    assert.ok(difference < 1e-5, `the resumed model differs from the uninterrupted one by up to ${difference}`);
  });
});
