import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import type { FineTuneJobSpec } from '../../src/api/v1alpha1/index.ts';
import { ExampleReader } from '../../src/trainer/data/batches.ts';
import { loadDataset } from '../../src/trainer/data/load-dataset.ts';
import { preprocessingOf } from '../../src/trainer/data/preprocessing.ts';
import { PermanentError } from '../../src/trainer/errors.ts';
import { fileSystemModel } from '../../src/trainer/model/file-io-handler.ts';
import type { EpochEnd, StageResult, StageStart, TrainingReporter } from '../../src/trainer/report/reporter.ts';
import { trainingSpecHash } from '../../src/trainer/checkpoints/checkpoint-store.ts';
import { runStagedTraining } from '../../src/trainer/staged-training.ts';
import { minimalSpec, validSpec } from '../api/spec-fixtures.ts';
import { pretrainedBase, specFor, useWasm, workspace } from './support/workspace.ts';

const BACKEND = { name: 'wasm', source: 'test', gpu: false };

/** Every weight of every named layer, as plain arrays. */
async function layerWeights(modelJson: string): Promise<Map<string, Float32Array[]>> {
  const model = await tf.loadLayersModel(fileSystemModel(modelJson));
  const weights = new Map(
    model.layers.map((layer) => [layer.name, layer.getWeights().map((w) => w.dataSync() as Float32Array)]),
  );
  model.dispose();
  return weights;
}

const same = (a: Float32Array[] | undefined, b: Float32Array[] | undefined) =>
  a !== undefined &&
  b !== undefined &&
  a.length === b.length &&
  a.every((w, i) => w.length === b[i]!.length && w.every((v, j) => v === b[i]![j]));

/** The spec with the base's BatchNormalization statistics re-estimated on the data (the default keeps them). */
const adaptedStatistics = (spec: FineTuneJobSpec): FineTuneJobSpec => ({
  ...spec,
  model: { ...spec.model, batchNormStatistics: 'Adapt' },
});

function recorder() {
  const events = {
    starts: [] as StageStart[],
    epochs: [] as EpochEnd[],
    ends: [] as StageResult[],
    resumed: [] as StageResult[][],
    skipped: [] as string[],
    adapted: [] as { layers: number; examples: number; stage?: string }[],
  };
  const reporter: TrainingReporter = {
    batchNormAdapted: (a) => events.adapted.push(a),
    stageStarted: (s) => events.starts.push(s),
    epochEnded: (e) => events.epochs.push(e),
    stageEnded: (r) => events.ends.push(r),
    resumed: (done) => events.resumed.push(done),
    fileSkipped: (file) => events.skipped.push(file),
  };
  return { events, reporter };
}

describe('staged training (docs/recipe.md §2-4)', () => {
  before(async () => {
    await useWasm();
    await pretrainedBase();
  });

  it('leaves every base layer bit-identical (BN statistics included) after the head stage', async (t) => {
    const ws = await workspace(t);
    const spec = specFor(ws, { stages: [{ name: 'head', epochs: 2 }] });
    const { events, reporter } = recorder();
    const outcome = await runStagedTraining(spec, { reporters: [reporter], cacheDir: ws.dir, backend: BACKEND });
    const [before, after] = await Promise.all([
      layerWeights(ws.base),
      layerWeights(join(outcome.outputPath, 'model.json')),
    ]);
    for (const name of ['conv1', 'bn1', 'conv2', 'bn2', 'conv3'])
      assert.ok(same(before.get(name), after.get(name)), `${name} changed`);
    assert.equal(
      events.starts[0]!.cachedFeatures,
      true,
      'a frozen base without augmentation trains the head on cached features',
    );
    assert.equal(events.starts[0]!.trainableBaseLayers, 0);
    assert.equal(events.epochs.length, 2);
    assert.deepEqual(events.adapted, []);
  });

  it('with batchNormStatistics Adapt, re-estimates only the BN moving statistics on the training examples (AdaBN), once, not again on resume', async (t) => {
    const ws = await workspace(t);
    const spec = adaptedStatistics(
      specFor(ws, {
        stages: [
          { name: 'head', epochs: 1 },
          { name: 'more', epochs: 1 },
        ],
      }),
    );
    const crash: TrainingReporter = {
      stageStarted: (s) => {
        if (s.name === 'more') throw new Error('pod killed');
      },
    };
    const first = recorder();
    await assert.rejects(
      runStagedTraining(spec, { reporters: [first.reporter, crash], cacheDir: ws.dir, backend: BACKEND }),
      /pod killed/,
    );
    const data = await loadDataset(spec);
    assert.deepEqual(first.events.adapted, [{ layers: 2, examples: data.train.length }]);

    const { events, reporter } = recorder();
    const outcome = await runStagedTraining(spec, { reporters: [reporter], cacheDir: ws.dir, backend: BACKEND });
    assert.deepEqual(events.adapted, [], 'a resumed job keeps the statistics of its checkpoint');
    const [before, after] = await Promise.all([
      layerWeights(ws.base),
      layerWeights(join(outcome.outputPath, 'model.json')),
    ]);
    for (const name of ['conv1', 'conv2', 'conv3'])
      assert.ok(same(before.get(name), after.get(name)), `${name} changed`);
    for (const name of ['bn1', 'bn2']) {
      // A BN layer's weights: gamma, beta, moving mean, moving variance.
      const [pretrained, adapted] = [before.get(name)!, after.get(name)!];
      assert.ok(same(pretrained.slice(0, 2), adapted.slice(0, 2)), `${name}: gamma and beta must not change`);
      assert.ok(!same(pretrained.slice(2), adapted.slice(2)), `${name}: moving mean and variance must be re-estimated`);
    }
  });

  for (const policy of ['Frozen', 'Train'] as const) {
    it(`changes only the unfrozen top layers in a fine-tune stage; BN statistics ${policy === 'Frozen' ? 'stay frozen' : 'train'} with batchNormalization: ${policy}`, async (t) => {
      const ws = await workspace(t);
      const spec = specFor(ws, {
        stages: [
          { name: 'head', epochs: 1 },
          {
            name: 'top',
            epochs: 1,
            unfreeze: { policy: 'TopLayers', layers: 6 },
            optimizer: { learningRate: 1e-4 },
            batchNormalization: policy,
            // The epoch's weights, whether or not it beat the head stage.
            earlyStopping: { restoreBestWeights: false },
          },
        ],
      });
      const { events, reporter } = recorder();
      const outcome = await runStagedTraining(spec, { reporters: [reporter], cacheDir: ws.dir, backend: BACKEND });
      const [before, after] = await Promise.all([
        layerWeights(ws.base),
        layerWeights(join(outcome.outputPath, 'model.json')),
      ]);
      assert.ok(same(before.get('conv1'), after.get('conv1')), 'conv1 is below the top 6 layers and must not change');
      assert.ok(same(before.get('bn1'), after.get('bn1')), 'bn1 is below the top 6 layers and must not change');
      assert.ok(
        !same(before.get('conv2'), after.get('conv2')),
        'conv2 is unfrozen: the recompiled model must train it',
      );
      assert.ok(
        !same(before.get('conv3'), after.get('conv3')),
        'conv3 is unfrozen: the recompiled model must train it',
      );
      const movingMean = (w: Map<string, Float32Array[]>) => w.get('bn2')![2]!;
      assert.equal(
        movingMean(before).every((v, i) => v === movingMean(after)[i]),
        policy === 'Frozen',
      );
      assert.equal(events.starts[1]!.trainableBaseLayers, policy === 'Frozen' ? 2 : 3);
      // The log says what was asked and what it means on this base.
      assert.equal(
        events.starts[1]!.unfrozen,
        `top 6 base layers unfrozen (${policy === 'Frozen' ? 2 : 3} with weights)`,
      );
      assert.equal(events.starts[0]!.unfrozen, 'base frozen');
      const trainExamples = (await loadDataset(spec)).train.length;
      // Only bn2 trains (bn1 is below the top 6 layers): only its statistics are re-estimated.
      assert.deepEqual(
        events.adapted,
        policy === 'Frozen' ? [] : [{ stage: 'top', layers: 1, examples: trainExamples }],
      );
    });
  }

  /** The moving means of bn1 and bn2 of a model.json, end to end. */
  const movingMeans = async (modelJson: string) => {
    const weights = await layerWeights(modelJson);
    return [...weights.get('bn1')![2]!, ...weights.get('bn2')![2]!];
  };
  const distance = (a: number[], b: number[]) => Math.hypot(...a.map((v, i) => v - b[i]!));

  it("starts a batchNormalization: Train stage from BN statistics re-estimated on the training data, not the pretraining data's", async (t) => {
    const ws = await workspace(t);
    const head = { name: 'head', epochs: 1 };
    // AdaBN's statistics for every BN layer, as model.batchNormStatistics Adapt computes them.
    const reference = await runStagedTraining(
      adaptedStatistics(specFor(ws, { stages: [head], output: { uri: `file://${join(ws.dir, 'reference')}` } })),
      { reporters: [], cacheDir: ws.dir, backend: BACKEND },
    );
    // A rate too small to move any weight: only the statistics change, by moving averages of training batches.
    const spec = specFor(ws, {
      stages: [
        head,
        {
          name: 'all',
          epochs: 1,
          unfreeze: { policy: 'All' },
          optimizer: { learningRate: 1e-9 },
          batchNormalization: 'Train',
          earlyStopping: { restoreBestWeights: false },
        },
      ],
    });
    const outcome = await runStagedTraining(spec, { reporters: [], cacheDir: ws.dir, backend: BACKEND });
    const [pretrained, adapted, trained] = await Promise.all([
      movingMeans(ws.base),
      movingMeans(join(reference.outputPath, 'model.json')),
      movingMeans(join(outcome.outputPath, 'model.json')),
    ]);
    // Without the re-estimation, one epoch of momentum-0.99 updates leaves them next to the pretrained ones.
    assert.ok(
      distance(trained, adapted) < 0.1 * distance(pretrained, adapted),
      `moving means ${distance(trained, adapted)} from AdaBN's, ${distance(pretrained, adapted)} from the pretrained ones`,
    );
  });

  it('ends a batchNormalization: Train stage that never beats its start with the BN statistics it started with', async (t) => {
    const ws = await workspace(t);
    const spec = specFor(ws, {
      stages: [
        { name: 'head', epochs: 1 },
        // No epoch can improve by 1e9: the stage ends with the weights it began with.
        {
          name: 'all',
          epochs: 2,
          unfreeze: { policy: 'All' },
          batchNormalization: 'Train',
          earlyStopping: { minDelta: 1e9, patience: 1 },
        },
      ],
    });
    const { events, reporter } = recorder();
    const outcome = await runStagedTraining(spec, { reporters: [reporter], cacheDir: ws.dir, backend: BACKEND });
    assert.equal(events.adapted.length, 1, 'the stage re-estimated its statistics');
    assert.equal(outcome.stages[1]!.bestEpoch, 0);
    const [before, after] = await Promise.all([
      layerWeights(ws.base),
      layerWeights(join(outcome.outputPath, 'model.json')),
    ]);
    for (const name of ['conv1', 'bn1', 'conv2', 'bn2', 'conv3'])
      assert.ok(same(before.get(name), after.get(name)), `${name} changed`);
  });

  it('keeps the checkpoint hash of a spec that trains as before model.batchNormStatistics, head.labelSmoothing and batchNormalization Auto existed', () => {
    const asBefore = {
      head: { labelSmoothing: 0 },
      stages: [
        { name: 'head' },
        { name: 'fine-tune', unfreeze: { policy: 'All' as const }, batchNormalization: 'Frozen' as const },
      ],
    };
    const spec = validSpec({ ...minimalSpec(), ...asBefore });
    // What the trainer of bd3a370, the commit before these fields, wrote for this spec: an upgrade resumes it.
    assert.equal(trainingSpecHash(spec), '120720348966ff031870123e3c64f737230355452c48d2c708edae9d9f48f2f1');
    assert.notEqual(trainingSpecHash(adaptedStatistics(spec)), trainingSpecHash(spec));
    // The default smoothing trains otherwise: a job in flight across the upgrade starts afresh.
    assert.notEqual(trainingSpecHash(validSpec({ ...minimalSpec(), stages: asBefore.stages })), trainingSpecHash(spec));
    // Auto trains BN from 16 examples a batch (a new hash), and below that trains as Frozen did (the same one).
    const auto = (batchSize: number) =>
      validSpec({
        ...minimalSpec(),
        ...asBefore,
        batchSize,
        stages: [{ name: 'head' }, { name: 'fine-tune', unfreeze: { policy: 'All' } }],
      });
    const frozen = (batchSize: number) => validSpec({ ...minimalSpec(), ...asBefore, batchSize });
    assert.equal(auto(32).stages[1]!.batchNormalization, 'Auto');
    assert.notEqual(trainingSpecHash(auto(32)), trainingSpecHash(spec));
    assert.equal(trainingSpecHash(auto(8)), trainingSpecHash(frozen(8)));
  });

  it("with head.labelSmoothing, trains towards 1 - ε + ε / K on an example's class, and validates on the plain cross-entropy", async (t) => {
    const ws = await workspace(t);
    const train = async (labelSmoothing: number) => {
      const spec = specFor(ws, {
        head: { labelSmoothing },
        stages: [
          { name: 'head', epochs: 100, optimizer: { learningRate: 1e-2 }, earlyStopping: { enabled: false } },
          { name: 'top', epochs: 2, unfreeze: { policy: 'TopLayers', layers: 2 } },
        ],
      });
      const outcome = await runStagedTraining(spec, { reporters: [], cacheDir: ws.dir, backend: BACKEND });
      const exported = await tf.loadLayersModel(fileSystemModel(join(outcome.outputPath, 'model.json')));
      exported.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy' });
      const data = await loadDataset(spec);
      const reader = new ExampleReader(spec, preprocessingOf(spec), () => undefined);
      const [training, validation] = [(await reader.read(data.train))!, (await reader.read(data.validation))!];
      const meanTopProbability = tf.tidy(
        () => (exported.predict(training.xs) as tf.Tensor).max(-1).mean().dataSync()[0]!,
      );
      const validationLoss = tf.tidy(
        () => (exported.evaluate(validation.xs, validation.ys) as tf.Scalar).dataSync()[0]!,
      );
      tf.dispose([training, validation]);
      exported.dispose();
      return { meanTopProbability, validationLoss, bestValue: outcome.stages[1]!.bestValue! };
    };
    const [plain, smoothed] = [await train(0), await train(0.5)];
    // ε 0.5 over 5 classes: the target on an example's class is 0.6, so the head stays less sure.
    assert.ok(
      plain.meanTopProbability - smoothed.meanTopProbability > 0.1,
      `mean top probability ${smoothed.meanTopProbability} with ε 0.5, ${plain.meanTopProbability} without: smoothing should lower it`,
    );
    // The val_loss early stopping compared, in the unfrozen stage too, is the exported model's plain cross-entropy.
    assert.ok(
      Math.abs(smoothed.validationLoss - smoothed.bestValue) < 1e-4,
      `val_loss ${smoothed.bestValue}, plain ${smoothed.validationLoss}`,
    );
  });

  it("stops early and restores the best epoch's weights", async (t) => {
    const ws = await workspace(t);
    // No epoch can beat the stage's starting point (epoch 0, the model as the stage began) by minDelta 100.
    // As in Keras and tfjs (wait >= patience), the stage stops after `patience` epochs without improvement,
    // and restores the weights it started with.
    const spec = specFor(ws, { stages: [{ name: 'head', epochs: 8, earlyStopping: { patience: 2, minDelta: 100 } }] });
    const { events, reporter } = recorder();
    const outcome = await runStagedTraining(spec, { reporters: [reporter], cacheDir: ws.dir, backend: BACKEND });
    const [result] = outcome.stages;
    assert.deepEqual([result!.endReason, result!.epochsRun, result!.bestEpoch], ['EarlyStopped', 2, 0]);
    assert.ok(
      result!.bestValue! > events.epochs[0]!.metrics.val_loss!,
      'the random head started worse than its first epoch',
    );

    const exported = await tf.loadLayersModel(fileSystemModel(join(outcome.outputPath, 'model.json')));
    exported.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy' });
    const data = await loadDataset(spec);
    const batch = (await new ExampleReader(spec, preprocessingOf(spec), () => undefined).read(data.validation))!;
    const loss = (exported.evaluate(batch.xs, batch.ys, { batchSize: 1000 }) as tf.Scalar).dataSync()[0]!;
    assert.ok(
      Math.abs(loss - result!.bestValue!) < 1e-4,
      `exported val_loss ${loss} is not the best epoch's ${result!.bestValue}`,
    );
    assert.ok(Math.abs(loss - events.epochs.at(-1)!.metrics.val_loss!) > 1e-4, "the last epoch's weights were kept");
  });

  it('resumes after the last completed stage when a pod restarts, without running it again', async (t) => {
    const ws = await workspace(t);
    const spec = specFor(ws, {
      stages: [
        { name: 'head', epochs: 2 },
        { name: 'fine-tune', epochs: 1, unfreeze: { policy: 'All' } },
      ],
    });
    const crash: TrainingReporter = {
      stageStarted: (s) => {
        if (s.name === 'fine-tune') throw new Error('pod killed');
      },
    };
    await assert.rejects(
      runStagedTraining(spec, { reporters: [crash], cacheDir: ws.dir, backend: BACKEND }),
      /pod killed/,
    );

    const { events, reporter } = recorder();
    const outcome = await runStagedTraining(spec, { reporters: [reporter], cacheDir: ws.dir, backend: BACKEND });
    assert.deepEqual(
      events.resumed.map((done) => done.map((s) => s.name)),
      [['head']],
    );
    assert.deepEqual(
      events.starts.map((s) => s.name),
      ['fine-tune'],
    );
    assert.ok(events.epochs.every((e) => e.stage === 'fine-tune'));
    assert.deepEqual(
      outcome.stages.map((s) => [s.name, s.epochsRun]),
      [
        ['head', 2],
        ['fine-tune', 1],
      ],
    );
  });

  it("never resumes the checkpoint of another job with the same recipe (deleted and re-created, or a schedule's earlier run)", async (t) => {
    const ws = await workspace(t);
    const spec = specFor(ws, { stages: [{ name: 'head', epochs: 2 }] });
    await runStagedTraining(spec, { reporters: [], cacheDir: ws.dir, backend: BACKEND, jobUid: 'uid-old' });

    const { events, reporter } = recorder();
    const discarded: string[] = [];
    const outcome = await runStagedTraining(spec, {
      reporters: [reporter, { checkpointDiscarded: (reason) => discarded.push(reason) }],
      cacheDir: ws.dir,
      backend: BACKEND,
      jobUid: 'uid-new',
    });
    assert.deepEqual(events.resumed, [], "the new job must not take the old job's completed stages as its own");
    assert.deepEqual(
      events.starts.map((s) => s.name),
      ['head'],
    );
    assert.equal(outcome.stages[0]!.epochsRun, 2);
    assert.match(discarded.join('\n'), /belongs to another job \(uid uid-old/);

    // The same job (a later attempt) does resume its own checkpoint.
    const again = recorder();
    await runStagedTraining(spec, {
      reporters: [again.reporter],
      cacheDir: ws.dir,
      backend: BACKEND,
      jobUid: 'uid-new',
    });
    assert.deepEqual(
      again.events.resumed.map((done) => done.map((s) => s.name)),
      [['head']],
    );
  });

  it('resumes within a stage from its last epoch checkpoint (checkpoint.everyEpochs)', async (t) => {
    const ws = await workspace(t);
    const spec = specFor(ws, {
      stages: [{ name: 'head', epochs: 4, earlyStopping: { enabled: false } }],
      checkpoint: { everyEpochs: 1 },
    });
    const crash: TrainingReporter = {
      epochEnded: (e) => {
        if (e.epoch === 2) throw new Error('pod killed');
      },
    };
    await assert.rejects(
      runStagedTraining(spec, { reporters: [crash], cacheDir: ws.dir, backend: BACKEND }),
      /pod killed/,
    );

    const resumedAt: unknown[] = [];
    const { events, reporter } = recorder();
    const outcome = await runStagedTraining(spec, {
      reporters: [reporter, { resumed: (_done, inProgress) => resumedAt.push(inProgress) }],
      cacheDir: ws.dir,
      backend: BACKEND,
    });
    assert.deepEqual(resumedAt, [{ stage: 'head', epoch: 2 }]);
    assert.deepEqual(
      events.epochs.map((e) => e.epoch),
      [3, 4],
      'epochs 1 and 2 are not run again',
    );
    assert.equal(outcome.stages[0]!.epochsRun, 4);
  });

  it('exports the layers model with metadata.json: classes, preprocessing, provenance, per-stage history', async (t) => {
    const ws = await workspace(t);
    const spec = specFor(ws, {
      stages: [{ name: 'head', epochs: 1 }],
      dataset: { ...specFor(ws).dataset, classNames: ['sandal', 'shirt', 'sneaker', 'bag', 'ankle-boot'] },
    });
    const outcome = await runStagedTraining(spec, { reporters: [], cacheDir: ws.dir, backend: BACKEND });
    const { readFile } = await import('node:fs/promises');
    const metadata = JSON.parse(await readFile(join(outcome.outputPath, 'metadata.json'), 'utf8'));
    assert.deepEqual(metadata.classNames, ['sandal', 'shirt', 'sneaker', 'bag', 'ankle-boot']);
    assert.deepEqual(metadata.preprocessing, {
      kind: 'image',
      height: 28,
      width: 28,
      channels: 1,
      valueRange: { min: 0, max: 1 },
    });
    assert.equal(metadata.baseModel.license, 'Apache-2.0');
    assert.equal(metadata.stages[0].name, 'head');
    const model = await tf.loadLayersModel(fileSystemModel(join(outcome.outputPath, 'model.json')));
    const sums = tf.tidy(() => (model.predict(tf.zeros([2, 28, 28, 1])) as tf.Tensor).sum(1).dataSync());
    assert.ok(
      Array.from(sums).every((s) => Math.abs(s - 1) < 1e-5),
      'outputs are class probabilities',
    );
  });

  it('refuses a model whose input does not match spec.model.input.shape before training', async (t) => {
    const ws = await workspace(t);
    const spec = specFor(ws, { model: { ...specFor(ws).model, input: { shape: [32, 32, 1] } } });
    await assert.rejects(
      runStagedTraining(spec, { reporters: [], cacheDir: ws.dir, backend: BACKEND }),
      (err: Error) =>
        err instanceof PermanentError &&
        /spec\.model\.input\.shape is \[32, 32, 1\] but the model takes \[28, 28, 1\]/.test(err.message),
    );
  });
});
