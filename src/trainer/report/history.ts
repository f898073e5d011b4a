import { MAX_HISTORY_POINTS, type StageHistory } from '../../api/v1alpha1/index.ts';
import type { EpochEnd } from './reporter.ts';

type Series = 'loss' | 'valLoss' | 'accuracy' | 'valAccuracy';
const SERIES: [Series, keyof EpochEnd['metrics']][] = [
  ['loss', 'loss'],
  ['valLoss', 'val_loss'],
  ['accuracy', 'acc'],
  ['valAccuracy', 'val_acc'],
];

/**
 * The history with one more epoch of a stage (an epoch seen before, after a resume, replaces its point).
 * A stage that reaches MAX_HISTORY_POINTS keeps every other point, its last always: the curve keeps its
 * shape over any number of epochs while the status stays a few kilobytes.
 */
export function withEpoch(
  history: StageHistory[],
  epoch: EpochEnd,
  round: (v: number) => number = (v) => v,
): StageHistory[] {
  const current = history.find((h) => h.stage === epoch.stage) ?? { stage: epoch.stage, epoch: [] };
  const keep = current.epoch.map((e, i) => (e < epoch.epoch ? i : -1)).filter((i) => i >= 0);
  const value = (name: keyof EpochEnd['metrics']) =>
    epoch.metrics[name] === undefined ? null : round(epoch.metrics[name]);
  let next: StageHistory = { stage: epoch.stage, epoch: [...keep.map((i) => current.epoch[i]!), epoch.epoch] };
  for (const [series, metric] of SERIES) {
    const before = current[series] ?? current.epoch.map(() => null);
    next[series] = [...keep.map((i) => before[i] ?? null), value(metric)];
  }
  if (next.epoch.length > MAX_HISTORY_POINTS) next = thinned(next);
  return [...history.filter((h) => h.stage !== epoch.stage), next];
}

function thinned(history: StageHistory): StageHistory {
  const last = history.epoch.length - 1;
  const kept = (_: unknown, i: number) => i % 2 === 0 || i === last;
  const out: StageHistory = { stage: history.stage, epoch: history.epoch.filter(kept) };
  for (const [series] of SERIES) if (history[series]) out[series] = history[series].filter(kept);
  return out;
}
