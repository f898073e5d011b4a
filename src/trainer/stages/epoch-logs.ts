import type * as tf from '@tensorflow/tfjs';

/**
 * A metric from a callback's logs as a number. tfjs passes validation metrics
 * of fitDataset as Scalars rather than numbers.
 */
export function logValue(logs: tf.Logs | undefined, key: string): number | undefined {
  const value = (logs as Record<string, number | tf.Scalar> | undefined)?.[key];
  if (value === undefined) return undefined;
  return typeof value === 'number' ? value : value.dataSync()[0];
}
