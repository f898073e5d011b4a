import * as tf from '@tensorflow/tfjs';
import {
  type Stage,
  TRIAL_EPOCHS,
  type TrialCandidate,
  type Trials,
  type TrialStatus,
} from '../../api/v1alpha1/index.ts';
import type { StageResult } from '../report/reporter.ts';
import type { PlannedStage } from './stage-plan.ts';

/** What the trials decided: every trial, the winner, and its stage results when its trial already ran them to the end. */
export interface TrialsOutcome {
  results: TrialStatus[];
  selected: string;
  /** The winner's trial was its whole run (early-stopped, or its stages are no longer than a trial): the model holds its weights. */
  finished?: StageResult[];
}

/** What the trials need of the training run around them. */
export interface TrialRunner {
  /** The full model, whose weights are saved and put back between trials. */
  model: tf.LayersModel;
  /** Runs one planned stage, reported under the trial's name. */
  runStage(stage: PlannedStage, index: number, trialName: string): Promise<StageResult>;
  evaluate(): Promise<{ valLoss: number; valAccuracy: number }>;
  /** The trials so far (the running one last), after each change. */
  onUpdate(trials: TrialStatus[]): void;
}

/**
 * The stages after the frozen ones as a candidate changes them: its rate and
 * BatchNormalization mode on every unfrozen stage, its unfreeze on the one
 * unfrozen stage (the API checks there is one); none at all for head only.
 */
export function candidateStages<S extends Stage>(tuning: S[], candidate: TrialCandidate): S[] {
  if (candidate.headOnly) return [];
  return tuning.map((stage): S =>
    stage.unfreeze.policy === 'None'
      ? stage
      : {
          ...stage,
          ...(candidate.unfreeze ? { unfreeze: candidate.unfreeze } : {}),
          ...(candidate.batchNormalization ? { batchNormalization: candidate.batchNormalization } : {}),
          optimizer: {
            ...stage.optimizer,
            ...(candidate.learningRate !== undefined ? { learningRate: candidate.learningRate } : {}),
          },
        },
  );
}

/** A stage shortened to a trial: trials.epochs, or a third of its epochs (at least 3); frozen stages run whole. */
export function trialStage(stage: PlannedStage, trials: Pick<Trials, 'epochs'>): PlannedStage {
  if (stage.unfreeze.policy === 'None') return stage;
  const epochs = trials.epochs ?? Math.max(TRIAL_EPOCHS.min, Math.ceil(stage.epochs * TRIAL_EPOCHS.shareOfStage));
  return { ...stage, epochs: Math.min(stage.epochs, epochs) };
}

/** What a candidate changes, in a few words. */
export function describeCandidate(candidate: TrialCandidate): string {
  if (candidate.headOnly) return 'head only';
  const { unfreeze } = candidate;
  const parts = [
    ...(candidate.learningRate !== undefined ? [`learningRate ${candidate.learningRate}`] : []),
    ...(unfreeze
      ? [
          `unfreeze ${unfreeze.policy}${unfreeze.layers !== undefined ? ` ${unfreeze.layers}` : ''}${unfreeze.fromLayer ? ` from ${unfreeze.fromLayer}` : ''}`,
        ]
      : []),
    ...(candidate.batchNormalization ? [`batchNormalization ${candidate.batchNormalization}`] : []),
  ];
  return parts.length ? parts.join(', ') : 'the stages as written';
}

/**
 * The value of every weight, by variable: the order of getWeights() follows
 * the trainable flags, which each trial's unfreeze policy changes.
 */
type Snapshot = Map<tf.LayerVariable, tf.Tensor>;
const snapshot = (model: tf.LayersModel): Snapshot => new Map(model.weights.map((v) => [v, v.read().clone()]));
const restore = (weights: Snapshot) => {
  for (const [variable, value] of weights) variable.write(value);
};
const release = (weights: Snapshot | undefined) => tf.dispose([...(weights?.values() ?? [])]);

/** Whether a trial's stage result is the stage's whole run: more epochs or a later end would change nothing. */
function ranToEnd(result: StageResult, full: PlannedStage): boolean {
  // A decay schedule spans the stage's epochs, so a shortened stage decayed faster than the full one would.
  return (
    result.epochsRun >= full.epochs || (result.endReason === 'EarlyStopped' && full.optimizer.decay.type === 'None')
  );
}

/**
 * spec.trials: from the weights the frozen stages left, each candidate runs
 * its unfrozen stages as a short, early-stopped trial, then is measured on
 * the validation split; the best (ties: the earlier) wins. The model is left
 * holding the winner's weights when its trial was its whole run (`finished`),
 * and the frozen stages' weights otherwise, for the winner to be trained to
 * the end.
 */
export async function runTrials(
  trials: Trials,
  tuning: PlannedStage[],
  firstIndex: number,
  runner: TrialRunner,
): Promise<TrialsOutcome> {
  const start = snapshot(runner.model);
  const lowerIsBetter = trials.metric === 'valLoss';
  const results: TrialStatus[] = [];
  let best: { index: number; value: number; weights?: Snapshot; stages?: StageResult[] } | undefined;
  try {
    for (const [index, candidate] of trials.candidates.entries()) {
      const running: TrialStatus = {
        name: candidate.name,
        settings: describeCandidate(candidate),
        state: 'Running',
        epochs: 0,
      };
      runner.onUpdate([...results, running]);
      restore(start);
      const full = candidateStages(tuning, candidate);
      const stages: StageResult[] = [];
      for (const [offset, stage] of full.entries()) {
        const result = await runner.runStage(trialStage(stage, trials), firstIndex + offset, candidate.name);
        stages.push({ ...result, name: stage.name });
      }
      const whole = stages.every((result, i) => ranToEnd(result, full[i]!));
      const metrics = await runner.evaluate();
      const value = lowerIsBetter ? metrics.valLoss : metrics.valAccuracy;
      const endReason = candidate.headOnly
        ? 'HeadOnly'
        : !whole
          ? 'TrialEpochsDone'
          : stages.every((s) => s.endReason === 'EarlyStopped')
            ? 'EarlyStopped'
            : 'EpochsDone';
      results.push({
        ...running,
        state: 'Done',
        ...metrics,
        epochs: stages.reduce((sum, s) => sum + s.epochsRun, 0),
        endReason,
      });
      const better = best === undefined || (lowerIsBetter ? value < best.value : value > best.value);
      if (Number.isFinite(value) && better) {
        release(best?.weights);
        best = { index, value, ...(whole ? { weights: snapshot(runner.model), stages } : {}) };
      }
      runner.onUpdate(results);
    }
    // Every trial diverged (NaN): the first candidate, from the start.
    best ??= { index: 0, value: Number.NaN };
    results[best.index] = { ...results[best.index]!, selected: true };
    runner.onUpdate(results);
    restore(best.weights ?? start);
    return {
      results,
      selected: trials.candidates[best.index]!.name,
      ...(best.stages ? { finished: best.stages } : {}),
    };
  } finally {
    release(start);
    release(best?.weights);
  }
}
