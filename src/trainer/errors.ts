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

const TFJS_LAYERS_ERRORS = new Set([
  'ValueError',
  'RuntimeError',
  'AttributeError',
  'NotImplementedError',
  'IndexError',
]);

/** The exit code for an error: invalid input and bugs are not retried; an interruption resumes; anything else may be transient. */
export function exitCodeFor(error: unknown): number {
  if (error instanceof PermanentError) return TrainerExitCode.Permanent;
  if (error instanceof InterruptedError) return TrainerExitCode.Interrupted;
  if (isProgrammingError(error)) return TrainerExitCode.InternalError;
  // tfjs-layers' own errors (a model that cannot be built or trained as configured: duplicate layer names,
  // a shape mismatch) fail the same way on every retry. Their `name` is plain Error; their class says which.
  if (error instanceof Error && TFJS_LAYERS_ERRORS.has(error.constructor.name)) return TrainerExitCode.InternalError;
  return TrainerExitCode.Transient;
}

/**
 * A bug fails the same way on every retry. fetch() reports a network failure
 * as a TypeError too ("fetch failed", its cause a system error): that one is
 * transient.
 */
function isProgrammingError(error: unknown): boolean {
  if (!(error instanceof TypeError || error instanceof ReferenceError || error instanceof SyntaxError)) return false;
  const cause = (error as { cause?: { code?: unknown } }).cause;
  return error.message !== 'fetch failed' && typeof cause?.code !== 'string';
}
