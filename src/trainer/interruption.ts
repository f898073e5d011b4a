// No tfjs here: errors.ts imports this, and the predictor's HTTP thread imports errors.ts (see ModelThread).

/**
 * A stop the pod was asked for (SIGTERM: preemption, eviction, a suspended
 * job, a node drain). Training ends at the end of the batch running now,
 * the exact point is checkpointed, and the trainer exits with
 * TrainerExitCode.Interrupted, so the next attempt resumes there.
 */
export class Interruption {
  private why: string | undefined;

  request(reason: string): void {
    this.why ??= reason;
  }

  get requested(): boolean {
    return this.why !== undefined;
  }

  get reason(): string {
    return this.why ?? 'not interrupted';
  }
}

/** Where training stopped: `batch` batches into the stage's epoch `epoch` (both counted from 0 done). */
export interface TrainingPosition {
  stage: string;
  epoch: number;
  batch: number;
}

/** Thrown once the interrupted point is saved; main exits with TrainerExitCode.Interrupted. */
export class InterruptedError extends Error {
  override readonly name = 'InterruptedError';
  readonly position: TrainingPosition | undefined;

  /** `when`: what was running, without a position (nothing of it saved). */
  constructor(reason: string, position?: TrainingPosition, when = 'between stages') {
    super(
      position
        ? `interrupted (${reason}) in stage "${position.stage}" after ${position.epoch} epochs and ${position.batch} batches; saved there`
        : `interrupted (${reason}) ${when}; the last stage checkpoint is kept`,
    );
    this.position = position;
  }
}
