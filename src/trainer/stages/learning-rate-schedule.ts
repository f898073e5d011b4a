import * as tf from '@tensorflow/tfjs';
import type { Stage } from '../../api/v1alpha1/index.ts';
import { type ResumePoint, skippedBatches } from '../data/batches.ts';

/**
 * An optimizer whose rate a schedule can read and set. tfjs' Adam and
 * RMSProp keep the rate in a protected field with no setter (only SGD has
 * one): these subclasses add the public accessors, as Keras exposes
 * optimizer.learning_rate.
 */
export interface ScheduledOptimizer extends tf.Optimizer {
  readonly rate: number;
  setLearningRate(rate: number): void;
}

class ScheduledAdam extends tf.AdamOptimizer implements ScheduledOptimizer {
  constructor(rate: number) {
    super(rate, 0.9, 0.999);
  }
  get rate(): number {
    return this.learningRate;
  }
  setLearningRate(rate: number): void {
    this.learningRate = rate;
  }
}

class ScheduledRmsProp extends tf.RMSPropOptimizer implements ScheduledOptimizer {
  get rate(): number {
    return this.learningRate;
  }
  setLearningRate(rate: number): void {
    this.learningRate = rate;
  }
}

class ScheduledSgd extends tf.SGDOptimizer implements ScheduledOptimizer {
  get rate(): number {
    return this.learningRate;
  }
}

export function createOptimizer(type: Stage['optimizer']['type'], rate: number): ScheduledOptimizer {
  switch (type) {
    case 'Adam':
      return new ScheduledAdam(rate);
    case 'SGD':
      return new ScheduledSgd(rate);
    case 'RMSProp':
      return new ScheduledRmsProp(rate);
  }
}

export interface ScheduleSettings {
  /** The stage's rate, reached after the warm-up. */
  rate: number;
  warmupEpochs: number;
  decay: Stage['optimizer']['decay'];
  epochs: number;
  stepsPerEpoch: number;
}

/**
 * The rate at optimizer step `step` of a stage (0-based): a linear warm-up
 * from rate/(warm-up steps) to the rate over the first warmupEpochs, then
 * constant, or cosine decay to 0 at the stage's last step, or the rate
 * halved every decay.everyEpochs epochs (Step).
 */
export function learningRateAt(step: number, s: ScheduleSettings): number {
  const warmupSteps = s.warmupEpochs * s.stepsPerEpoch;
  if (step < warmupSteps) return (s.rate * (step + 1)) / warmupSteps;
  const after = step - warmupSteps;
  const total = Math.max(1, s.epochs * s.stepsPerEpoch - warmupSteps);
  switch (s.decay.type) {
    case 'None':
      return s.rate;
    case 'Cosine':
      return 0.5 * s.rate * (1 + Math.cos((Math.PI * Math.min(after, total)) / total));
    case 'Step':
      return s.rate * s.decay.factor ** Math.floor(after / (s.decay.everyEpochs * s.stepsPerEpoch));
  }
}

/**
 * Sets the rate before every batch from learningRateAt, through the
 * optimizer's public setter. `firstStep` is where a resumed stage goes on.
 */
export class LearningRateSchedule extends tf.Callback {
  private epoch = 0;
  private readonly optimizer: ScheduledOptimizer;
  private readonly settings: ScheduleSettings;
  private readonly resumeAt: ResumePoint | undefined;

  constructor(optimizer: ScheduledOptimizer, settings: ScheduleSettings, resumeAt?: ResumePoint) {
    super();
    this.optimizer = optimizer;
    this.settings = settings;
    this.resumeAt = resumeAt;
  }

  override async onEpochBegin(epoch: number): Promise<void> {
    this.epoch = epoch;
  }

  override async onBatchBegin(batch: number): Promise<void> {
    const step = this.epoch * this.settings.stepsPerEpoch + skippedBatches(this.resumeAt, this.epoch) + batch;
    this.optimizer.setLearningRate(learningRateAt(step, this.settings));
  }
}
