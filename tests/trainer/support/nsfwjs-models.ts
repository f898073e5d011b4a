// Real pretrained models that ship inside the nsfwjs npm package (ImageNet-derived
// MobileNetV2 backbones), written out as ordinary tfjs model.json + weights.bin.
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';

const require = createRequire(import.meta.url);
// The package's "exports" hide the model files; address them by path.
const MODELS = resolve(dirname(require.resolve('nsfwjs')), '..', 'models');

interface PackagedModel {
  modelTopology: unknown;
  weightsManifest: { paths: string[]; weights: unknown[] }[];
  [key: string]: unknown;
}

/** Writes the packaged model `name` (mobilenet_v2: layers; mobilenet_v2_mid: graph) to `dir`; returns its model.json. */
export function materialiseNsfwjsModel(name: 'mobilenet_v2' | 'mobilenet_v2_mid', dir: string): string {
  const loaded = require(join(MODELS, name, 'model.min.js')) as PackagedModel | string;
  const model = typeof loaded === 'string' ? (JSON.parse(loaded) as PackagedModel) : loaded;
  mkdirSync(dir, { recursive: true });
  for (const path of model.weightsManifest.flatMap((group) => group.paths)) {
    const shard = require(join(MODELS, name, `${path}.min.js`)) as string;
    writeFileSync(join(dir, path), Buffer.from(shard, 'base64'));
  }
  writeFileSync(join(dir, 'model.json'), JSON.stringify(model));
  return join(dir, 'model.json');
}

/** The graph model's TF Hub feature-vector node (MobileNetV2, width 1.4): [batch, 1792]. */
export const MOBILENET_V2_GRAPH_FEATURES =
  'StatefulPartitionedCall/sequential/keras_layer/StatefulPartitionedCall/StatefulPartitionedCall/StatefulPartitionedCall/predict/feature_vector/SpatialSqueeze';
