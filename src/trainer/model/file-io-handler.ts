import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { PermanentError } from '../errors.ts';

/**
 * Loads and saves tfjs models (layers and graph) on the local file system,
 * which plain @tensorflow/tfjs cannot do without tfjs-node. `modelJsonPath`
 * is the model.json; weights sit beside it, as the converter writes them
 * (a model.json's in weights.bin, any other X.json's in X.bin, so several
 * weight sets can share a folder).
 */
export function fileSystemModel(modelJsonPath: string): Required<Pick<tf.io.IOHandler, 'load' | 'save'>> {
  const dir = dirname(modelJsonPath);
  return {
    async load() {
      let json: tf.io.ModelJSON;
      try {
        json = JSON.parse(await readFile(modelJsonPath, 'utf8')) as tf.io.ModelJSON;
      } catch (err) {
        throw new PermanentError(`cannot read model ${modelJsonPath}: ${(err as Error).message}`);
      }
      return tf.io.getModelArtifactsForJSON(json, async (manifest) => {
        const specs = manifest.flatMap((group) => group.weights);
        const buffers = await Promise.all(
          manifest
            .flatMap((group) => group.paths)
            .map(async (path) => {
              try {
                const bytes = await readFile(join(dir, path));
                return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
              } catch (err) {
                throw new PermanentError(
                  `cannot read weights ${join(dir, path)} listed in ${modelJsonPath}: ${(err as Error).message}`,
                );
              }
            }),
        );
        return [specs, tf.io.concatenateArrayBuffers(buffers)];
      });
    },
    async save(artifacts) {
      await mkdir(dir, { recursive: true });
      const weights =
        artifacts.weightData === undefined ? new ArrayBuffer(0) : tf.io.CompositeArrayBuffer.join(artifacts.weightData);
      const bin = basename(modelJsonPath) === 'model.json' ? 'weights.bin' : `${basename(modelJsonPath, '.json')}.bin`;
      const manifest: tf.io.WeightsManifestConfig = [{ paths: [bin], weights: artifacts.weightSpecs ?? [] }];
      await writeFile(join(dir, bin), Buffer.from(weights));
      const {
        modelTopology,
        format,
        generatedBy,
        convertedBy,
        trainingConfig,
        signature,
        userDefinedMetadata,
        modelInitializer,
        initializerSignature,
      } = artifacts;
      const json = {
        modelTopology,
        weightsManifest: manifest,
        format,
        generatedBy,
        convertedBy,
        trainingConfig,
        signature,
        userDefinedMetadata,
        modelInitializer,
        initializerSignature,
      };
      await writeFile(modelJsonPath, JSON.stringify(json));
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    },
  };
}
