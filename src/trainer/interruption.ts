import * as tf from '@tensorflow/tfjs';

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

/**
 * The batches of a pass that saves nothing part-way (re-estimating
 * BatchNormalization statistics before training), ended with an
 * InterruptedError once a stop is requested rather than run to the end:
 * the next attempt starts it again from the last checkpoint, and a long pass
 * cannot outlast the pod's grace period.
 */
export async function* untilInterrupted<T extends tf.TensorContainer>(
  batches: AsyncIterable<T>,
  interruption: Interruption,
  when: string,
): AsyncGenerator<T> {
  for await (const batch of batches) {
    if (interruption.requested) {
      tf.dispose(batch);
      throw new InterruptedError(interruption.reason, undefined, when);
    }
    yield batch;
  }
}
