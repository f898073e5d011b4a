/**
 * The contract between the operator and the trainer pod it creates. Both sides
 * import it; neither imports the other.
 *
 * Status is shared through server-side apply on the status subresource, with
 * one field manager per side: the operator owns phase, conditions, attempts
 * and times; the trainer owns the fields below. Neither can overwrite the
 * other's fields, and `stages` (a list-map keyed by name) keeps its history
 * in etcd across pod and operator restarts.
 */
export const OPERATOR_FIELD_MANAGER = 'finetune-operator';
export const TRAINER_FIELD_MANAGER = 'finetune-trainer';
export const TRAINER_STATUS_FIELDS = ['stage', 'stages', 'progress', 'metrics', 'skippedFiles', 'outputURI'] as const;

/** Labels of a trainer pod. */
export const JOB_NAME_LABEL = 'finetune.dev/job-name';
export const ATTEMPT_LABEL = 'finetune.dev/attempt';

/** Environment of the trainer container. */
export const TRAINER_ENV = {
  /** The FineTuneJob manifest (JSON) this attempt runs: the spec is fixed per attempt. */
  spec: 'FTJ_SPEC',
  jobName: 'FTJ_JOB_NAME',
  jobNamespace: 'FTJ_JOB_NAMESPACE',
  /** The job's UID: the trainer's status writes carry it, so a pod left by a deleted job of the same name cannot write to a new one. */
  jobUid: 'FTJ_JOB_UID',
  attempt: 'FTJ_ATTEMPT',
} as const;

export const TRAINER_CONTAINER = 'trainer';
export const TRAINER_METRICS_PORT = 9400;

/** Delay before retry n (1-based) of a counted failure: 10 s doubling up to 6 min, like a Job's backoff. */
export function retryDelaySeconds(failedAttempts: number, baseSeconds = 10): number {
  return Math.min(baseSeconds * 2 ** Math.max(0, failedAttempts - 1), 360);
}
