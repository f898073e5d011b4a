import type { EvaluationStatus, PromotionStatus, StageEndReason, TrialStatus } from '../../api/v1alpha1/index.ts';
import type { CheckpointUpload, StageInProgress } from '../checkpoints/checkpoint-store.ts';
import type { InterruptedError } from '../interruption.ts';

export interface StageStart {
  name: string;
  index: number;
  total: number;
  epochs: number;
  learningRate: number;
  /** Base layers (with weights) that train in this stage. */
  trainableBaseLayers: number;
  /** What the stage's unfreeze policy asked for and what that means on this base (describeUnfreeze). */
  unfrozen: string;
  /** The head trains on base features computed once (frozen base, no augmentation). */
  cachedFeatures: boolean;
}

export interface EpochEnd {
  stage: string;
  /** 1-based, within the stage. */
  epoch: number;
  epochs: number;
  metrics: { loss?: number; acc?: number; val_loss?: number; val_acc?: number };
  samplesPerSecond: number;
  /** Share of all planned epochs done, 0-100. */
  percent: number;
  eta: Date;
}

export interface StageResult {
  name: string;
  epochsRun: number;
  bestEpoch: number | undefined;
  monitor: string;
  bestValue: number | undefined;
  endReason: StageEndReason;
  startTime: string;
  endTime: string;
}

/**
 * Receives the trainer's progress. The console reporter writes pod logs, the
 * metrics reporter serves Prometheus, and the operator's reporter forwards
 * transitions to the job's status.
 */
export interface TrainingReporter {
  started?(info: {
    backend: string;
    source: string;
    gpu: boolean;
    train: number;
    validation: number;
    classes: string[];
  }): void;
  /**
   * How many BN layers had their statistics re-estimated (0: none to adapt), on how many examples:
   * before the first stage for spec.model.batchNormStatistics Adapt, or at the start of a stage
   * (`stage`, "<candidate>/<stage>" in a trial) with batchNormalization Train.
   */
  batchNormAdapted?(info: { layers: number; examples: number; stage?: string }): void;
  resumed?(completed: StageResult[], inProgress?: StageInProgress): void;
  /** The digest of the data it trains on (a schedule's skipIfUnchanged compares it with the next run's). */
  datasetFingerprinted?(fingerprint: string): void;
  /** A checkpoint exists but is not resumed (another recipe, or another job of the same name): why. */
  checkpointDiscarded?(reason: string): void;
  /** A checkpoint was committed to object storage: how much, how long. */
  checkpointUploaded?(upload: CheckpointUpload): void;
  stageStarted?(stage: StageStart): void;
  epochEnded?(epoch: EpochEnd): void;
  stageEnded?(result: StageResult): void;
  /** spec.trials: a trial's stage starts (named "<candidate>/<stage>"); its epochs come to epochEnded. */
  trialStageStarted?(stage: StageStart): void;
  /** spec.trials: every trial so far, the running one last; once decided, the winner is marked selected. */
  trialsUpdated?(trials: TrialStatus[]): void;
  fileSkipped?(file: string, reason: string): void;
  /** The model is being written (after the last stage). */
  exporting?(): void;
  /** spec.evaluation: the exported model on the test set (before `exported`). */
  evaluated?(evaluation: EvaluationStatus): void;
  /** spec.promotion: whether the pointer file now names this model (before `exported`). */
  promotionDecided?(decision: PromotionStatus): void;
  exported?(info: { path: string; stages: StageResult[] }): void;
  failed?(error: Error): void;
  /** Stopped by SIGTERM after saving where it was; the next attempt resumes there. */
  interrupted?(error: InterruptedError): void;
}

/** Fans every report out to several reporters. */
export function combineReporters(...reporters: TrainingReporter[]): Required<TrainingReporter> {
  const fan =
    <K extends keyof TrainingReporter>(key: K) =>
    (...args: Parameters<Required<TrainingReporter>[K]>) => {
      for (const reporter of reporters) (reporter[key] as ((...a: unknown[]) => void) | undefined)?.(...args);
    };
  return {
    started: fan('started'),
    batchNormAdapted: fan('batchNormAdapted'),
    resumed: fan('resumed'),
    checkpointUploaded: fan('checkpointUploaded'),
    checkpointDiscarded: fan('checkpointDiscarded'),
    datasetFingerprinted: fan('datasetFingerprinted'),
    stageStarted: fan('stageStarted'),
    epochEnded: fan('epochEnded'),
    stageEnded: fan('stageEnded'),
    trialStageStarted: fan('trialStageStarted'),
    trialsUpdated: fan('trialsUpdated'),
    fileSkipped: fan('fileSkipped'),
    exporting: fan('exporting'),
    evaluated: fan('evaluated'),
    promotionDecided: fan('promotionDecided'),
    exported: fan('exported'),
    failed: fan('failed'),
    interrupted: fan('interrupted'),
  };
}
