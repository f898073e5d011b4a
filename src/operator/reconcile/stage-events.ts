import type { FineTuneJobStatus, StageStatus, TrialStatus } from '../../api/v1alpha1/index.ts';
import type { JobEvent } from './finetunejob-reconciler.ts';

/**
 * The events of the stage transitions between two observed statuses (the
 * trainer reports them; the operator, which sees every update of its jobs,
 * records them): each stage's start, and its end with its best metric;
 * the recipe trial selected (spec.trials), once.
 */
export function stageEvents(before: FineTuneJobStatus | undefined, after: FineTuneJobStatus | undefined): JobEvent[] {
  const events: JobEvent[] = [];
  for (const stage of after?.stages ?? []) {
    const previous = before?.stages?.find((s) => s.name === stage.name);
    if (previous?.state === stage.state && previous.startTime === stage.startTime) continue;
    if (stage.state === 'Running') {
      events.push({ type: 'Normal', reason: 'StageStarted', message: `stage ${stage.name} started${attempt(after)}` });
    } else if (stage.state === 'Succeeded' && previous?.state !== 'Succeeded') {
      events.push({
        type: 'Normal',
        reason: 'StageSucceeded',
        message: `stage ${stage.name} ended: ${summary(stage)}`,
      });
    } else if (stage.state === 'Failed' && previous?.state !== 'Failed') {
      events.push({
        type: 'Warning',
        reason: 'StageFailed',
        message: `stage ${stage.name} failed${attempt(after)}: ${stage.message ?? stage.endReason ?? ''}`,
      });
    }
  }
  const selected = after?.trials?.find((trial) => trial.selected);
  if (selected && !before?.trials?.some((trial) => trial.selected)) {
    const others = after!
      .trials!.filter((trial) => trial !== selected)
      .map((trial) => `${trial.name} ${figures(trial)}`)
      .join(', ');
    events.push({
      type: 'Normal',
      reason: 'TrialSelected',
      message: `trial ${selected.name} (${selected.settings}) selected: ${figures(selected)}${others ? `; others: ${others}` : ''}`,
    });
  }
  return events;
}

const figures = (trial: TrialStatus) => `val_loss ${trial.valLoss ?? '-'}, val_acc ${trial.valAccuracy ?? '-'}`;

const attempt = (status: FineTuneJobStatus | undefined) => (status?.attempts ? ` (attempt ${status.attempts})` : '');

function summary(stage: StageStatus): string {
  const best =
    stage.bestValue === undefined
      ? ''
      : `, best ${stage.monitor} ${Number(stage.bestValue.toPrecision(4))} at epoch ${stage.bestEpoch}`;
  return `${stage.epochsRun} epochs (${stage.endReason ?? 'EpochsDone'})${best}`;
}
