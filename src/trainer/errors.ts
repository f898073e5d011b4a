import { TrainerExitCode } from '../api/v1alpha1/index.ts';
import { InterruptedError } from './interruption.ts';

/**
 * A failure retrying cannot fix: invalid spec, model or data. The trainer
 * exits with TrainerExitCode.Permanent and the operator fails the job at once.
 * The message names what is wrong (field, file, layer) and the fix.
 */
export class PermanentError extends Error {
  override readonly name = 'PermanentError';
}

/** The exit code for an error: permanent errors are not retried; an interruption resumes; anything else may be transient. */
export function exitCodeFor(error: unknown): number {
  if (error instanceof PermanentError) return TrainerExitCode.Permanent;
  if (error instanceof InterruptedError) return TrainerExitCode.Interrupted;
  return TrainerExitCode.Transient;
}
