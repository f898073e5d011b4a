import * as tf from '@tensorflow/tfjs';
import type { FineTuneJobSpec, JobPromotion, PromotionMetric, PromotionStatus } from '../../api/v1alpha1/index.ts';
import { type ExampleReader, exampleDataset } from '../data/batches.ts';
import type { Example } from '../data/example.ts';
import { PermanentError } from '../errors.ts';
import { openStore, type Store } from '../storage/store.ts';
import type { FineTuneModel } from './fine-tune-model.ts';

/** The pointer file's content: which job's model is promoted, where it is, and its metric. */
export interface PromotionPointer {
  job?: string;
  model: string;
  metric: PromotionMetric;
  value: number;
  promotedAt: string;
}

/** The exported model's validation loss and accuracy (one pass over the validation split). */
export async function evaluateOnValidation(
  model: FineTuneModel,
  validation: Example[],
  reader: ExampleReader,
  batchSize: number,
): Promise<{ valLoss: number; valAccuracy: number }> {
  const target = model.full;
  // Compiling sets what evaluate computes; the weights stay as exported (training is over).
  target.compile({ optimizer: 'sgd', loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
  const evaluated = (await target.evaluateDataset(
    exampleDataset(validation, reader, { batchSize }),
    {},
  )) as tf.Scalar[];
  const [valLoss, valAccuracy] = evaluated.map((t) => t.dataSync()[0]!);
  tf.dispose(evaluated);
  return { valLoss: valLoss!, valAccuracy: valAccuracy! };
}

/** Whether `value` beats the promoted model by minDelta: accuracy higher, loss lower. */
export function decidePromotion(
  value: number,
  previous: PromotionPointer | undefined,
  promotion: Pick<JobPromotion, 'metric' | 'minDelta'>,
): { promoted: boolean; message: string } {
  const { metric, minDelta } = promotion;
  const shown = (v: number) => Number(v.toPrecision(4));
  if (!previous) return { promoted: true, message: `${metric} ${shown(value)}; no model was promoted before` };
  if (previous.metric !== metric) {
    return {
      promoted: true,
      message: `${metric} ${shown(value)}; the promoted model (${previous.job ?? previous.model}) was judged by ${previous.metric}, which is not comparable`,
    };
  }
  const better = metric === 'valAccuracy' ? value > previous.value + minDelta : value < previous.value - minDelta;
  const than = `${previous.job ?? previous.model}'s ${shown(previous.value)}${minDelta ? ` by more than minDelta ${minDelta}` : ''}`;
  return better
    ? { promoted: true, message: `${metric} ${shown(value)} beats ${than}` }
    : {
        promoted: false,
        message: `${metric} ${shown(value)} is not better than ${than}; the pointer still names ${previous.job ?? previous.model}`,
      };
}

/**
 * spec.promotion after export (and, in object storage, after the model's
 * upload): compares the model with the one the pointer file names and, only if
 * it is better, replaces the file atomically (a temporary file renamed over
 * it, or one PUT), so a reader never sees half a file, a pointer never names a
 * model not yet written, and a worse model never replaces a better one.
 */
export async function promoteIfBetter(
  spec: FineTuneJobSpec,
  exported: { job: string | undefined; dir: string },
  metrics: { valLoss: number; valAccuracy: number },
  pvcRoot?: string,
): Promise<PromotionStatus> {
  const promotion = spec.promotion!;
  const store = openStore(promotion.pointer, pvcRoot);
  if (/^https?:/.test(store.uri))
    throw new PermanentError(
      `spec.promotion.pointer: ${store.uri}: http(s) locations are read-only; use s3://, a PVC or file://`,
    );
  const previous = await readPointer(store);
  const value = promotion.metric === 'valAccuracy' ? metrics.valAccuracy : metrics.valLoss;
  const decision = decidePromotion(value, previous, promotion);
  if (decision.promoted) {
    const pointer: PromotionPointer = {
      ...(exported.job ? { job: exported.job } : {}),
      model: exported.dir,
      metric: promotion.metric,
      value,
      promotedAt: new Date().toISOString(),
    };
    await store.write(`${JSON.stringify(pointer, null, 2)}\n`);
  }
  const pointerURI =
    promotion.pointer.uri ??
    `pvc://${promotion.pointer.pvc!.claimName}/${promotion.pointer.pvc!.path.replace(/^\/+/, '')}`;
  return {
    promoted: decision.promoted,
    metric: promotion.metric,
    value,
    pointer: pointerURI,
    message: decision.message,
    ...(previous ? { previous: { ...(previous.job ? { job: previous.job } : {}), value: previous.value } } : {}),
  };
}

async function readPointer(store: Store): Promise<PromotionPointer | undefined> {
  if (!(await store.stat())) return undefined; // none yet
  const text = (await store.read()).toString('utf8');
  const path = store.localPath ?? store.uri;
  let parsed: Partial<PromotionPointer>;
  try {
    parsed = JSON.parse(text) as Partial<PromotionPointer>;
  } catch (err) {
    throw new PermanentError(
      `spec.promotion.pointer: ${path} is not JSON (${(err as Error).message}); move it away or point elsewhere`,
    );
  }
  if (typeof parsed.value !== 'number' || typeof parsed.metric !== 'string') {
    throw new PermanentError(
      `spec.promotion.pointer: ${path} is not a pointer file this trainer wrote (no metric and value); move it away or point elsewhere`,
    );
  }
  return parsed as PromotionPointer;
}
