import type * as tf from '@tensorflow/tfjs';
import { PermanentError } from '../errors.ts';
import { isGraphBatchNorm } from '../model/graph-weights.ts';
import type { PlannedStage } from './stage-plan.ts';

/** What a policy acts on: a layer of a layers base, or a weight op of a graph base. */
export type UnfreezableLayer = Pick<tf.layers.Layer, 'name' | 'trainable' | 'getClassName'> & {
  readonly weights: readonly unknown[];
};

const isBatchNorm = (layer: UnfreezableLayer) =>
  layer.getClassName() === 'BatchNormalization' || isGraphBatchNorm(layer.getClassName());

/** A layer's name, or (graph node names being paths) a name scope such as "MobilenetV2/expanded_conv_14". */
const matches = (layer: UnfreezableLayer, name: string) =>
  layer.name === name || `/${layer.name}/`.includes(`/${name}/`);

/**
 * Sets `trainable` on the base's layers for a stage and returns the names of
 * those that train. Order matters in tfjs: everything is set first, single
 * layers re-frozen after, and the caller must recompile (tfjs collects the
 * trainable weights at compile time; without it nothing changes).
 */
export function applyUnfreezePolicy(
  baseLayers: UnfreezableLayer[],
  stage: Pick<PlannedStage, 'unfreeze' | 'batchNormalization'>,
  stageIndex: number,
): string[] {
  const { policy, layers: top, fromLayer } = stage.unfreeze;
  let firstTrainable: number;
  switch (policy) {
    case 'None':
      firstTrainable = baseLayers.length;
      break;
    case 'All':
      firstTrainable = 0;
      break;
    case 'TopLayers':
      if (top! > baseLayers.length) {
        throw new PermanentError(
          `spec.stages[${stageIndex}].unfreeze.layers is ${top} but the base has ${baseLayers.length} layers: use at most ${baseLayers.length}, or policy All`,
        );
      }
      firstTrainable = baseLayers.length - top!;
      break;
    case 'FromLayer':
      firstTrainable = baseLayers.findIndex((layer) => matches(layer, fromLayer!));
      if (firstTrainable < 0) {
        const names = baseLayers
          .filter((l) => !isBatchNorm(l))
          .slice(-8)
          .map((l) => `"${l.name}"`)
          .join(', ');
        throw new PermanentError(
          `spec.stages[${stageIndex}].unfreeze.fromLayer: the base has no layer "${fromLayer}" (a layer name; for a Graph model a node name or name scope). Some of its top layers: ${names}`,
        );
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
 * What a stage's policy asked for and what it means on this base, for the log: "top 3 base layers
 * unfrozen (1 with weights)" says why a stage trains fewer layers than the number asked for.
 */
export function describeUnfreeze(
  baseLayers: UnfreezableLayer[],
  { policy, layers, fromLayer }: PlannedStage['unfreeze'],
  trainable: string[],
): string {
  const unfrozen = baseLayers.filter((layer) => layer.trainable).length;
  const withWeights = `${trainable.length} with weights`;
  switch (policy) {
    case 'None':
      return 'base frozen';
    case 'All':
      return `all ${baseLayers.length} base layers unfrozen (${withWeights})`;
    case 'TopLayers':
      return `top ${layers} base layer${layers === 1 ? '' : 's'} unfrozen (${withWeights})`;
    case 'FromLayer':
      return `base layers from "${fromLayer}" up unfrozen: ${unfrozen} layers (${withWeights})`;
  }
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
    layer.call = (inputs, kwargs) =>
      call(inputs, { ...kwargs, training: Boolean(kwargs['training']) && layer.trainable });
  }
}
