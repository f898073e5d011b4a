import * as tf from '@tensorflow/tfjs';
import type { FineTuneJobSpec } from '../../api/v1alpha1/index.ts';
import type { BaseModel } from './load-base-model.ts';

/**
 * The base with its new head, in two views that share the head's layers
 * (and so its weights):
 * - `head`: features in, class probabilities out; trained while the base is frozen;
 * - `full`: images in; trained once base layers are unfrozen, and exported
 *   (for a graph base: its head, and the graph with its fine-tuned weights).
 */
export interface FineTuneModel {
  base: BaseModel;
  head: tf.LayersModel;
  full: tf.LayersModel;
  headLayers: tf.layers.Layer[];
  /** Base features of a preprocessed batch, in inference mode. */
  extract(batch: tf.Tensor): tf.Tensor;
}

/** docs/recipe.md §2: Dropout (default 0.2), optional hidden Dense layers with L2, then Dense(numClasses, softmax). */
export function buildFineTuneModel(base: BaseModel, spec: FineTuneJobSpec): FineTuneModel {
  const { head: headSpec, task, seed } = spec;
  const regularizer = headSpec.l2 > 0 ? tf.regularizers.l2({ l2: headSpec.l2 }) : undefined;
  const dense = (units: number, activation: 'relu' | 'softmax', name: string) =>
    tf.layers.dense({
      units,
      activation,
      name,
      kernelRegularizer: regularizer,
      kernelInitializer: tf.initializers.glorotUniform({ seed: seed + units }),
    });
  // A base that is itself a model this trainer exported (a schedule's warm start) has layers of these names.
  const taken = new Set(base.format === 'Layers' ? base.layers.map((layer) => layer.name) : []);
  const unique = (name: string) => {
    let candidate = name;
    for (let n = 2; taken.has(candidate); n++) candidate = `${name}_${n}`;
    taken.add(candidate);
    return candidate;
  };
  const headLayers: tf.layers.Layer[] = [
    tf.layers.dropout({ rate: headSpec.dropout, seed, name: unique('ftj_head_dropout') }),
    ...headSpec.hiddenUnits.map((units, i) => dense(units, 'relu', unique(`ftj_head_hidden_${i}`))),
    dense(task.numClasses, 'softmax', unique('ftj_head_output')),
  ];
  const applyHead = (input: tf.SymbolicTensor) =>
    headLayers.reduce((x, layer) => layer.apply(x) as tf.SymbolicTensor, input);

  const featureInput = tf.input({ shape: base.features.shape.slice(1) as number[], name: 'ftj_features' });
  const head = tf.model({ inputs: featureInput, outputs: applyHead(featureInput), name: 'ftj_head' });
  const full = tf.model({ inputs: base.inputs, outputs: applyHead(base.features), name: 'ftj_model' });
  const extractor = tf.model({ inputs: base.inputs, outputs: base.features, name: 'ftj_extractor' });
  return { base, head, full, headLayers, extract: (batch) => extractor.predict(batch) as tf.Tensor };
}
