import * as tf from '@tensorflow/tfjs';
import type { FineTuneJobSpec } from '../../api/v1alpha1/index.ts';
import { augments } from '../data/augmentation.ts';
import {
  type ExampleReader,
  exampleDataset,
  inputsOf,
  type ResumePoint,
  skippedBatches,
  tensorDataset,
} from '../data/batches.ts';
import type { LoadedDataset } from '../data/example.ts';
import { targetsFor, withTargets } from '../data/targets.ts';
import type { Preprocessing } from '../data/preprocessing.ts';
import type { FineTuneModel } from '../model/fine-tune-model.ts';
import type { EpochEnd, StageResult, StageStart } from '../report/reporter.ts';
import type { EarlyStoppingState, InterruptedExtras, NamedTensor } from '../checkpoints/checkpoint-store.ts';
import { InterruptedError, type Interruption, type TrainingPosition } from '../interruption.ts';
import { EarlyStoppingWithRestore } from './early-stopping.ts';
import type { PlannedStage } from './stage-plan.ts';
import { logValue } from './epoch-logs.ts';
import { createOptimizer, LearningRateSchedule } from './learning-rate-schedule.ts';
import { applyUnfreezePolicy, describeUnfreeze } from './unfreeze-policy.ts';
import { adaptBatchNormStatistics } from '../model/adapt-batch-norm.ts';

export interface StageContext {
  spec: FineTuneJobSpec;
  model: FineTuneModel;
  data: LoadedDataset;
  reader: ExampleReader;
  preprocessing: Preprocessing;
  /** Epochs planned over all stages, and done before this stage, for progress and ETA. */
  plannedEpochs: number;
  epochsBefore: number;
  featureCache: boolean;
  /** Epochs of this stage already done by an earlier attempt (checkpoint.everyEpochs or an interruption). */
  initialEpoch: number;
  /** A stage an interrupted attempt stopped in: the batches of its epoch already trained, its optimizer and early stopping. */
  resume?: { batch: number; optimizer?: NamedTensor[]; earlyStopping?: EarlyStoppingState; bestWeights?: tf.Tensor[] };
  /** Save the weights every `epochs` epochs. */
  checkpointEvery?: { epochs: number; save(epoch: number): Promise<void> };
  /** SIGTERM: stop at the end of the batch and save that point with `saveInterrupted`. */
  interruption: Interruption;
  saveInterrupted(position: TrainingPosition, extras: InterruptedExtras): Promise<void>;
  onStart(stage: StageStart): void;
  onEpoch(epoch: EpochEnd): void;
  /** A batchNormalization: Train stage re-estimated the statistics of the BN layers it trains. */
  onBatchNormAdapted(adapted: { stage: string; layers: number; examples: number }): void;
}

/**
 * One stage of docs/recipe.md §2-3. A frozen base trains only the head, on base
 * features (computed once when nothing is augmented); an unfrozen base trains
 * the full model. Either way the model is compiled anew, so trainable flags
 * take effect, with the stage's optimizer, early stopping and warm-up.
 */
export async function runStage(ctx: StageContext, stage: PlannedStage, index: number): Promise<StageResult> {
  const { spec, model } = ctx;
  const startTime = new Date().toISOString();
  const frozen = stage.unfreeze.policy === 'None';
  const trainable = applyUnfreezePolicy(model.base.layers, stage, index);
  const cachedFeatures = ctx.featureCache && frozen && !augments(spec.augmentation);
  const target = frozen ? model.head : model.full;

  const optimizer = createOptimizer(stage.optimizer.type, stage.optimizer.learningRate);
  const targets = targetsFor(spec);
  target.compile({ optimizer, loss: targets.loss, metrics: ['accuracy'] });
  ctx.onStart({
    name: stage.name,
    index,
    total: spec.stages.length,
    epochs: stage.epochs,
    learningRate: stage.optimizer.learningRate,
    trainableBaseLayers: trainable.length,
    unfrozen: describeUnfreeze(model.base.layers, stage.unfreeze, trainable),
    cachedFeatures,
  });

  const earlyStopping = new EarlyStoppingWithRestore(stage.earlyStopping);
  const resumeAt: ResumePoint | undefined = ctx.resume
    ? { epoch: ctx.initialEpoch, batch: ctx.resume.batch }
    : undefined;
  if (ctx.resume?.optimizer) await optimizer.setWeights(ctx.resume.optimizer);
  if (ctx.resume?.earlyStopping) earlyStopping.restoreState(ctx.resume.earlyStopping, ctx.resume.bestWeights);
  const interrupt = new InterruptAtBatchEnd(ctx, stage.name, resumeAt, optimizer, earlyStopping);
  // Checkpoint before reporting: an epoch that was reported has been saved.
  const callbacks: tf.Callback[] = [
    earlyStopping,
    ...(ctx.checkpointEvery ? [new EpochCheckpoint(ctx.checkpointEvery, interrupt)] : []),
    new ProgressCallback(ctx, stage, interrupt),
    interrupt,
  ];
  const { learningRate: rate, warmupEpochs, decay } = stage.optimizer;
  if (warmupEpochs > 0 || decay.type !== 'None') {
    const stepsPerEpoch = Math.ceil(ctx.data.train.length / spec.batchSize);
    callbacks.push(
      new LearningRateSchedule(optimizer, { rate, warmupEpochs, decay, epochs: stage.epochs, stepsPerEpoch }, resumeAt),
    );
  }

  const seed = spec.seed + 1000 * index;
  const fresh = !ctx.resume && ctx.initialEpoch === 0;
  const owned: tf.Tensor[] = [];
  let history: tf.History;
  try {
    if (cachedFeatures) {
      const train = await extractFeatures(ctx, ctx.data.train, targets.training);
      const validation = await extractFeatures(ctx, ctx.data.validation, targets.validation);
      owned.push(train.xs, train.ys, validation.xs, validation.ys);
      if (fresh) earlyStopping.startFrom(target, monitored(stage, target.evaluate(validation.xs, validation.ys)));
      history = await target.fitDataset(tensorDataset(train.xs, train.ys, spec.batchSize, seed, resumeAt), {
        epochs: stage.epochs,
        initialEpoch: ctx.initialEpoch,
        validationData: [validation.xs, validation.ys],
        callbacks,
        verbose: 0,
      });
    } else {
      const map = frozen ? (xs: tf.Tensor) => model.extract(xs) : undefined;
      const train = withTargets(
        exampleDataset(ctx.data.train, ctx.reader, {
          batchSize: spec.batchSize,
          shuffleSeed: seed,
          ...(resumeAt ? { resumeAt } : {}),
          augmentation: { spec, preprocessing: ctx.preprocessing, seed },
          ...(map ? { map } : {}),
        }),
        targets.training,
      );
      const validation = withTargets(
        exampleDataset(ctx.data.validation, ctx.reader, { batchSize: spec.batchSize, ...(map ? { map } : {}) }),
        targets.validation,
      );
      if (fresh) {
        earlyStopping.startFrom(target, monitored(stage, await target.evaluateDataset(validation)));
        if (stage.batchNormalization === 'Train') await adaptTrainedBatchNorm(ctx, stage.name);
      }
      history = await target.fitDataset(train, {
        epochs: stage.epochs,
        initialEpoch: ctx.initialEpoch,
        validationData: validation,
        callbacks,
        verbose: 0,
      });
    }
  } finally {
    tf.dispose(owned);
    optimizer.dispose();
  }
  if (interrupt.stoppedAt) throw new InterruptedError(ctx.interruption.reason, interrupt.stoppedAt);
  const outcome = earlyStopping.outcome();
  return {
    name: stage.name,
    epochsRun: ctx.initialEpoch + history.epoch.length,
    bestEpoch: outcome.bestEpoch,
    monitor: outcome.monitor,
    bestValue: outcome.bestValue,
    endReason: earlyStopping.endReason(),
    startTime,
    endTime: new Date().toISOString(),
  };
}

/**
 * The monitored validation metric of the model as the stage starts (NaN when
 * it monitors a training metric, which has no value before the first epoch).
 */
function monitored(stage: PlannedStage, evaluated: tf.Scalar | tf.Scalar[]): number {
  const [loss, accuracy] = (Array.isArray(evaluated) ? evaluated : [evaluated]).map((t) => t.dataSync()[0]!);
  tf.dispose(evaluated);
  if (stage.earlyStopping.monitor === 'val_loss') return loss!;
  if (stage.earlyStopping.monitor === 'val_acc') return accuracy ?? Number.NaN;
  return Number.NaN;
}

/**
 * BN layers that start training normalise each batch with its own
 * statistics, while validation uses the moving ones: left at the
 * pretraining data's, those reach the new data's only after a few hundred
 * steps (momentum 0.99), so early stopping judges the first epochs by a
 * model that validates with neither. Re-estimating them on the training
 * data first (AdaBN) makes the two agree from the first epoch. Runs after
 * the stage's starting point is taken, so a stage that never beats it
 * ends with the statistics it began with.
 */
async function adaptTrainedBatchNorm(ctx: StageContext, stage: string): Promise<void> {
  const adapted = await adaptBatchNormStatistics(ctx.model.base, reestimationBatches(ctx), { trainingOnly: true });
  if (adapted.layers) ctx.onBatchNormAdapted({ stage, ...adapted });
}

/**
 * The training examples' inputs in batches, for a pass that re-estimates
 * BatchNormalization statistics; a stop ends it at once (nothing of it is
 * saved, so the next attempt runs it again).
 */
export function reestimationBatches({
  reader,
  data,
  spec,
  interruption,
}: Pick<StageContext, 'reader' | 'data' | 'spec' | 'interruption'>): AsyncGenerator<tf.Tensor> {
  const batches = inputsOf(reader.inBatches(data.train, spec.batchSize));
  return untilInterrupted(batches, interruption, 'while re-estimating BatchNormalization statistics');
}

/**
 * The batches of a pass that saves nothing part-way (re-estimating
 * BatchNormalization statistics before training), ended with an
 * InterruptedError once a stop is requested rather than run to the end:
 * the next attempt starts it again from the last checkpoint, and a long pass
 * cannot outlast the pod's grace period.
 */
async function* untilInterrupted<T extends tf.TensorContainer>(
  batches: AsyncIterable<T>,
  interruption: Interruption,
  when: string,
): AsyncGenerator<T> {
  for await (const batch of batches) {
    if (interruption.requested) {
      tf.dispose(batch);
      throw new InterruptedError(interruption.reason, undefined, when);
    }
    yield batch;
  }
}

/** The base's features of every example, in batches, in inference mode, and their targets (the labels unless `toTargets`). */
async function extractFeatures(
  ctx: StageContext,
  examples: LoadedDataset['train'],
  toTargets?: (labels: tf.Tensor) => tf.Tensor,
): Promise<{ xs: tf.Tensor; ys: tf.Tensor }> {
  const features: tf.Tensor[] = [];
  const labels: tf.Tensor1D[] = [];
  for await (const batch of ctx.reader.inBatches(examples, ctx.spec.batchSize)) {
    features.push(tf.tidy(() => ctx.model.extract(batch.xs)));
    labels.push(batch.ys);
    batch.xs.dispose();
  }
  const result = {
    xs: tf.concat(features),
    ys: tf.tidy(() => (toTargets ? toTargets(tf.concat(labels)) : tf.concat(labels))),
  };
  tf.dispose([...features, ...labels]);
  return result;
}

/**
 * Ends training at the end of the batch during which SIGTERM came, after
 * saving that exact point: the weights, the optimizer's state, early
 * stopping's, and the position (epoch and batch) the next attempt resumes at.
 */
class InterruptAtBatchEnd extends tf.Callback {
  /** Set once training stopped part-way through an epoch: the epoch-end callbacks then see a partial epoch. */
  stoppedAt: TrainingPosition | undefined;
  private epoch = 0;
  private readonly ctx: StageContext;
  private readonly stage: string;
  private readonly resumeAt: ResumePoint | undefined;
  private readonly optimizer: tf.Optimizer;
  private readonly earlyStopping: EarlyStoppingWithRestore;

  constructor(
    ctx: StageContext,
    stage: string,
    resumeAt: ResumePoint | undefined,
    optimizer: tf.Optimizer,
    earlyStopping: EarlyStoppingWithRestore,
  ) {
    super();
    this.ctx = ctx;
    this.stage = stage;
    this.resumeAt = resumeAt;
    this.optimizer = optimizer;
    this.earlyStopping = earlyStopping;
  }

  override async onEpochBegin(epoch: number): Promise<void> {
    this.epoch = epoch;
  }

  override async onBatchEnd(batch: number): Promise<void> {
    // tfjs yields to the event loop only for callback configs, not tf.Callback objects: without a turn of the loop
    // here, a signal (and a /metrics scrape) would wait for the end of the stage.
    await new Promise((resolve) => setImmediate(resolve));
    if (!this.ctx.interruption.requested || this.stoppedAt) return;
    const position = {
      stage: this.stage,
      epoch: this.epoch,
      batch: skippedBatches(this.resumeAt, this.epoch) + batch + 1,
    };
    const { state, bestWeights } = this.earlyStopping.snapshotState();
    await this.ctx.saveInterrupted(position, {
      optimizer: await this.optimizer.getWeights(),
      earlyStopping: state,
      ...(bestWeights ? { bestWeights } : {}),
    });
    this.stoppedAt = position;
    (this.model as tf.LayersModel).stopTraining = true;
  }
}

/** Saves the weights every N epochs (epochs counted within the stage, 1-based). */
class EpochCheckpoint extends tf.Callback {
  private readonly every: { epochs: number; save(epoch: number): Promise<void> };
  private readonly interrupt: InterruptAtBatchEnd;

  constructor(every: { epochs: number; save(epoch: number): Promise<void> }, interrupt: InterruptAtBatchEnd) {
    super();
    this.every = every;
    this.interrupt = interrupt;
  }

  override async onEpochEnd(epoch: number): Promise<void> {
    if (this.interrupt.stoppedAt) return; // a partial epoch: its exact point is saved already
    if ((epoch + 1) % this.every.epochs === 0) await this.every.save(epoch + 1);
  }
}

/** Reports each epoch with throughput, overall progress and ETA. */
class ProgressCallback extends tf.Callback {
  private readonly ctx: StageContext;
  private readonly stage: PlannedStage;
  private readonly interrupt: InterruptAtBatchEnd;
  private readonly stageStart = Date.now();
  private epochStart = 0;
  private samples = 0;

  constructor(ctx: StageContext, stage: PlannedStage, interrupt: InterruptAtBatchEnd) {
    super();
    this.ctx = ctx;
    this.stage = stage;
    this.interrupt = interrupt;
  }

  override async onEpochBegin(): Promise<void> {
    this.epochStart = Date.now();
    this.samples = 0;
  }

  override async onBatchEnd(_batch: number, logs?: tf.Logs): Promise<void> {
    this.samples += Number(logs?.['size'] ?? this.ctx.spec.batchSize);
  }

  override async onEpochEnd(epoch: number, logs?: tf.Logs): Promise<void> {
    if (this.interrupt.stoppedAt) return; // a partial epoch is not reported as done
    const { ctx, stage } = this;
    const done = ctx.epochsBefore + epoch + 1;
    const perEpoch = (Date.now() - this.stageStart) / (epoch + 1 - ctx.initialEpoch);
    const seconds = (Date.now() - this.epochStart) / 1000;
    ctx.onEpoch({
      stage: stage.name,
      epoch: epoch + 1,
      epochs: stage.epochs,
      metrics: {
        loss: logValue(logs, 'loss'),
        acc: logValue(logs, 'acc'),
        val_loss: logValue(logs, 'val_loss'),
        val_acc: logValue(logs, 'val_acc'),
      },
      samplesPerSecond: seconds > 0 ? this.samples / seconds : 0,
      percent: Math.min(100, (100 * done) / ctx.plannedEpochs),
      eta: new Date(Date.now() + perEpoch * Math.max(0, ctx.plannedEpochs - done)),
    });
  }
}
