import * as tf from '@tensorflow/tfjs';
import type { StageEndReason } from '../../api/v1alpha1/index.ts';
import type { EarlyStoppingState } from '../checkpoints/checkpoint-store.ts';
import type { PlannedStage } from './stage-plan.ts';
import { logValue } from './epoch-logs.ts';

export interface EarlyStoppingOutcome {
  monitor: string;
  bestEpoch: number | undefined;
  bestValue: number | undefined;
  stoppedEarly: boolean;
}

/**
 * Early stopping on a monitored metric with patience and min delta, which, unlike
 * tfjs' built-in callback, restores the weights of the best epoch (all of them,
 * BN statistics included) when the stage ends.
 */
export class EarlyStoppingWithRestore extends tf.Callback {
  private readonly config: PlannedStage['earlyStopping'];
  private readonly lowerIsBetter: boolean;
  private best: number | undefined;
  private bestEpoch: number | undefined;
  private bestWeights: tf.Tensor[] | undefined;
  private wait = 0;
  private stopped = false;

  constructor(config: PlannedStage['earlyStopping']) {
    super();
    this.config = config;
    this.lowerIsBetter = config.monitor.endsWith('loss');
  }

  override async onEpochEnd(epoch: number, logs?: tf.Logs): Promise<void> {
    const value = logValue(logs, this.config.monitor);
    if (value === undefined || Number.isNaN(value)) return;
    const improved =
      this.best === undefined ||
      (this.lowerIsBetter ? value < this.best - this.config.minDelta : value > this.best + this.config.minDelta);
    if (improved) {
      this.best = value;
      this.bestEpoch = epoch + 1;
      this.wait = 0;
      if (this.config.restoreBestWeights) this.snapshot();
    } else if (this.config.enabled && ++this.wait >= this.config.patience) {
      // Keras and tfjs stop once `patience` epochs in a row did not improve (wait >= patience).
      this.stopped = true;
      (this.model as tf.LayersModel).stopTraining = true;
    }
  }

  /**
   * The stage's starting point as epoch 0 (Keras' `baseline`, plus its weights): an epoch must beat
   * the model the stage started from, and if none does, the stage ends with the weights it began
   * with. An unfrozen stage whose rate is too high for its base then does no harm. The weights are
   * taken now: whatever changes them before the first step (BN statistics re-estimated) is undone too.
   */
  startFrom(model: tf.LayersModel, value: number): void {
    if (Number.isNaN(value)) return;
    this.best = value;
    this.bestEpoch = 0;
    this.setModel(model);
    if (this.config.restoreBestWeights) this.snapshot();
  }

  /** What an interrupted stage saves: the counters, and the best epoch's weights (its model's getWeights() order). */
  snapshotState(): { state: EarlyStoppingState; bestWeights: tf.Tensor[] | undefined } {
    return {
      state: {
        ...(this.best !== undefined ? { best: this.best, bestEpoch: this.bestEpoch! } : {}),
        wait: this.wait,
        bestWeights: !!this.bestWeights,
      },
      bestWeights: this.bestWeights,
    };
  }

  /** Takes up a stage where an interrupted attempt left it; owns `bestWeights` from then on. */
  restoreState(state: EarlyStoppingState, bestWeights: tf.Tensor[] | undefined): void {
    this.best = state.best;
    this.bestEpoch = state.bestEpoch;
    this.wait = state.wait;
    if (bestWeights?.length) this.bestWeights = bestWeights;
  }

  override async onTrainEnd(): Promise<void> {
    if (this.bestWeights) {
      (this.model as tf.LayersModel).setWeights(this.bestWeights);
      tf.dispose(this.bestWeights);
      this.bestWeights = undefined;
    }
  }

  outcome(): EarlyStoppingOutcome {
    return {
      monitor: this.config.monitor,
      bestEpoch: this.bestEpoch,
      bestValue: this.best,
      stoppedEarly: this.stopped,
    };
  }

  endReason(): StageEndReason {
    return this.stopped ? 'EarlyStopped' : 'EpochsDone';
  }

  private snapshot(): void {
    if (this.bestWeights) tf.dispose(this.bestWeights);
    this.bestWeights = (this.model as tf.LayersModel).getWeights().map((w) => w.clone());
  }
}
