import type * as tf from '@tensorflow/tfjs';
import type { Stage } from '../../api/v1alpha1/index.ts';
import { PermanentError } from '../errors.ts';

const isBatchNorm = (layer: tf.layers.Layer) => layer.getClassName() === 'BatchNormalization';

/**
 * Sets `trainable` on the base's layers for a stage and returns the names of
 * those that train. Order matters in tfjs: everything is set first, single
 * layers re-frozen after, and the caller must recompile (tfjs collects the
 * trainable weights at compile time; without it nothing changes).
 */
export function applyUnfreezePolicy(baseLayers: tf.layers.Layer[], stage: Stage, stageIndex: number): string[] {
  const { policy, layers: top, fromLayer } = stage.unfreeze;
  let firstTrainable: number;
  switch (policy) {
    case 'None': firstTrainable = baseLayers.length; break;
    case 'All': firstTrainable = 0; break;
    case 'TopLayers':
      if (top! > baseLayers.length) {
        throw new PermanentError(`spec.stages[${stageIndex}].unfreeze.layers is ${top} but the base has ${baseLayers.length} layers: use at most ${baseLayers.length}, or policy All`);
      }
      firstTrainable = baseLayers.length - top!;
      break;
    case 'FromLayer':
      firstTrainable = baseLayers.findIndex((layer) => layer.name === fromLayer);
      if (firstTrainable < 0) {
        const names = baseLayers.filter((l) => l.getClassName() !== 'BatchNormalization').slice(-8).map((l) => `"${l.name}"`).join(', ');
        throw new PermanentError(`spec.stages[${stageIndex}].unfreeze.fromLayer: the base has no layer "${fromLayer}" (some of its top layers: ${names})`);
      }
      break;
  }
  for (const layer of baseLayers) layer.trainable = true;
  baseLayers.forEach((layer, i) => {
    const frozenBatchNorm = isBatchNorm(layer) && stage.batchNormalization === 'Frozen';
    if (i < firstTrainable || frozenBatchNorm) layer.trainable = false;
  });
  return baseLayers.filter((layer) => layer.trainable && layer.weights.length > 0).map((layer) => layer.name);
}

/**
 * Keeps every BatchNormalization layer that is not trainable in inference
 * mode, as Keras does. tfjs' BN updates its moving mean and variance whenever
 * it is called with training=true, frozen or not (tfjs #7250), which would
 * silently change a frozen base. Patched once per layer; `trainable` is read
 * at call time, so the policy can change from stage to stage.
 */
export function keepFrozenBatchNormInInference(layers: tf.layers.Layer[]): void {
  for (const layer of layers.filter(isBatchNorm)) {
    const call = layer.call.bind(layer);
    layer.call = (inputs, kwargs) => call(inputs, { ...kwargs, training: Boolean(kwargs['training']) && layer.trainable });
  }
}
