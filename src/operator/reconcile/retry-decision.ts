import type { V1Pod } from '@kubernetes/client-node';
import type { FineTuneJobSpec } from '../../api/v1alpha1/index.ts';
import { TRAINER_CONTAINER, TrainerExitCode } from '../../api/v1alpha1/index.ts';

export type FailureAction = 'FailJob' | 'Count' | 'Ignore';

export interface PodFailure {
  action: FailureAction;
  /** CamelCase reason for conditions and events. */
  reason: string;
  message: string;
  exitCode: number | undefined;
  finishedAt: Date | undefined;
}

/**
 * What a failed trainer pod means. Disruptions (eviction, preemption) and a
 * trainer stopped by SIGTERM (exit code 4) are retried without counting, as
 * a Job retries disruptions; otherwise the first retry rule
 * matching the trainer's exit code decides, and an unmatched failure counts
 * toward backoffLimit.
 */
export function classifyFailure(pod: V1Pod, spec: FineTuneJobSpec): PodFailure {
  const terminated = pod.status?.containerStatuses?.find((c) => c.name === TRAINER_CONTAINER)?.state?.terminated;
  const exitCode = terminated?.exitCode;
  const finishedAt = terminated?.finishedAt ? new Date(terminated.finishedAt) : undefined;
  const disrupted =
    pod.status?.reason === 'Evicted' ||
    pod.status?.reason === 'Preempting' ||
    pod.status?.conditions?.some((c) => c.type === 'DisruptionTarget' && c.status === 'True');
  if (disrupted) {
    return {
      action: 'Ignore',
      reason: 'PodDisrupted',
      message:
        `pod ${pod.metadata?.name} was ${pod.status?.reason?.toLowerCase() ?? 'disrupted'}: ${pod.status?.message ?? ''}`.trim(),
      exitCode,
      finishedAt,
    };
  }
  const detail = terminated?.message ? `: ${terminated.message.trim().split('\n').at(-1)}` : '';
  if (exitCode === TrainerExitCode.Interrupted) {
    // Stopped by SIGTERM with its exact point saved: an interruption, not a failure, whatever the rules say.
    return {
      action: 'Ignore',
      reason: 'TrainerInterrupted',
      message: `trainer of pod ${pod.metadata?.name} was stopped and saved its point${detail}`,
      exitCode,
      finishedAt,
    };
  }
  const rule =
    exitCode === undefined
      ? undefined
      : spec.retryPolicy.rules.find(({ onExitCodes: { operator, values } }) =>
          operator === 'In' ? values.includes(exitCode) : !values.includes(exitCode),
        );
  const action = rule?.action ?? 'Count';
  const reason = action === 'FailJob' ? 'PodFailurePolicy' : 'TrainerFailed';
  return {
    action,
    reason,
    message: `trainer exited with code ${exitCode ?? 'unknown'}${detail}`,
    exitCode,
    finishedAt,
  };
}
