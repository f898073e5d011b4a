import type { FineTuneJobStatus } from './finetunejob-status.ts';

/**
 * The contract between the operator and the trainer pod it creates. Both sides
 * import it; neither imports the other.
 *
 * Status is shared through server-side apply on the status subresource, with
 * one field manager per side, each owning the fields of its list below:
 * OPERATOR_STATUS_FIELDS and TRAINER_STATUS_FIELDS. Neither can overwrite the
 * other's fields, and `stages` (a list-map keyed by name) keeps its history
 * in etcd across pod and operator restarts. One exception: a trainer killed
 * without warning cannot report, so the operator applies the trainer's fields
 * for it, as the trainer's field manager, with its Running stage Interrupted.
 */
export const OPERATOR_FIELD_MANAGER = 'finetune-operator';
export const TRAINER_FIELD_MANAGER = 'finetune-trainer';
export const OPERATOR_STATUS_FIELDS = [
  'phase',
  'conditions',
  'observedGeneration',
  'attempts',
  'failedAttempts',
  'podName',
  'startTime',
  'completionTime',
] as const;
export const TRAINER_STATUS_FIELDS = [
  'stage',
  'stages',
  'progress',
  'metrics',
  'skippedFiles',
  'outputURI',
  'promotion',
  'datasetFingerprint',
  'history',
  'evaluation',
  'trials',
] as const;
/** The status the operator's field manager owns. */
export type OperatorStatus = Pick<FineTuneJobStatus, (typeof OPERATOR_STATUS_FIELDS)[number]>;
/** The status the trainer's field manager owns. */
export type TrainerStatus = Pick<FineTuneJobStatus, (typeof TRAINER_STATUS_FIELDS)[number]>;

/**
 * Compile-time check that the two lists partition FineTuneJobStatus: every field is owned by exactly one
 * side. A status field owned by neither, or by both, makes `npm run lint` (tsc) fail here.
 */
type OperatorField = (typeof OPERATOR_STATUS_FIELDS)[number];
type TrainerField = (typeof TRAINER_STATUS_FIELDS)[number];
type Exactly<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type StatusField = keyof FineTuneJobStatus;
const statusFieldsOwnedByOneSide: {
  everyFieldOwned: Exactly<OperatorField | TrainerField, StatusField>;
  noFieldOwnedTwice: Exactly<OperatorField & TrainerField, never>;
} = { everyFieldOwned: true, noFieldOwnedTwice: true };
void statusFieldsOwnedByOneSide;

/** Labels of a trainer pod. */
export const JOB_NAME_LABEL = 'finetune.dev/job-name';
export const ATTEMPT_LABEL = 'finetune.dev/attempt';

/** Environment of the trainer container. */
export const TRAINER_ENV = {
  /** The FineTuneJob manifest (JSON) this attempt runs: the spec is fixed per attempt. */
  spec: 'FTJ_SPEC',
  jobName: 'FTJ_JOB_NAME',
  jobNamespace: 'FTJ_JOB_NAMESPACE',
  /** The job's UID: the trainer stops writing status once its job's name belongs to another job (deleted and re-created). */
  jobUid: 'FTJ_JOB_UID',
  attempt: 'FTJ_ATTEMPT',
} as const;

export const TRAINER_CONTAINER = 'trainer';

/**
 * A schedule's fingerprint probe (skipIfUnchanged): a short pod of the trainer image, run with
 * FINGERPRINT_FLAG, that writes its job's dataset fingerprint to its termination message and exits 0.
 * Its label names the run it decides on.
 */
export const FINGERPRINT_FLAG = '--fingerprint';
export const FINGERPRINT_FOR_LABEL = 'finetune.dev/fingerprint-for';
/** Where a container's termination message goes (the kubelet's default path; the local node agent sets another). */
export const TERMINATION_LOG_ENV = 'FTJ_TERMINATION_LOG';
export const DEFAULT_TERMINATION_LOG = '/dev/termination-log';
export const TRAINER_METRICS_PORT = 9400;

/** Delay before retry n (1-based) of a counted failure: 10 s doubling up to 6 min, like a Job's backoff. */
export function retryDelaySeconds(failedAttempts: number, baseSeconds = 10): number {
  return Math.min(baseSeconds * 2 ** Math.max(0, failedAttempts - 1), 360);
}

/** Exit codes of the trainer, documented in the README; the operator's retry decision reads them. */
export const TrainerExitCode = {
  Success: 0,
  /** Invalid spec, model or data: retrying cannot help. */
  Permanent: 2,
  /** Infrastructure or other transient failure: retry. */
  Transient: 3,
  /**
   * Stopped by SIGTERM (preemption, eviction, suspension, a drain) after saving the exact point
   * it reached: retried without counting toward backoffLimit, like an eviction.
   */
  Interrupted: 4,
  /**
   * A programming error in the trainer (TypeError, ReferenceError, SyntaxError): it would fail the
   * same way on every retry, so the default retryPolicy fails the job at once; please report it.
   */
  InternalError: 5,
} as const;

/** The trainer pod's default terminationGracePeriodSeconds: time to finish a batch and save it after SIGTERM. */
export const DEFAULT_TERMINATION_GRACE_SECONDS = 60;
