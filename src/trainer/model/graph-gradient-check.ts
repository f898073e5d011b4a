import * as tf from '@tensorflow/tfjs';
import { PermanentError } from '../errors.ts';
import type { GraphBaseLayer } from './graph-base-layer.ts';

/**
 * Fails before training when the weights a stage unfreezes in a graph base
 * cannot get gradients: an op between them and the features has no gradient
 * in tfjs (e.g. StridedSlice, GatherNd). One forward and backward pass of a
 * single zero input finds it; the error names the op and the way out.
 */
export function checkGraphGradients(
  graph: GraphBaseLayer,
  input: { shape: number[]; dtype: tf.DataType },
  stage: { name: string; index: number },
): void {
  const trainable = graph.trainableWeights.map((weight) => weight.read() as tf.Variable);
  if (!trainable.length) return;
  try {
    tf.tidy(() => {
      tf.variableGrads(() => tf.sum(graph.call(tf.zeros([1, ...input.shape], input.dtype))), trainable);
    });
  } catch (err) {
    const kernel = /gradient function not found for (\w+)/.exec((err as Error).message)?.[1];
    if (!kernel) throw err;
    const nodes = graph.topology
      .filter((node) => node.op === kernel)
      .map((node) => `"${node.name}"`)
      .slice(0, 3);
    throw new PermanentError(
      `spec.stages[${stage.index}] ("${stage.name}") unfreezes graph weights below the op ${kernel}${nodes.length ? ` (node ${nodes.join(', ')})` : ''}, which has no gradient in tfjs: unfreeze only above it (unfreeze.policy TopLayers or FromLayer), or keep the base frozen (policy None: head only)`,
    );
  }
}
