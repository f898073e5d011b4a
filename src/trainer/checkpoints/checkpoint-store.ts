import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { FineTuneJobSpec } from '../../api/v1alpha1/index.ts';
import { fileSystemModel } from '../model/file-io-handler.ts';
import type { StageResult } from '../report/reporter.ts';

interface CheckpointState { specHash: string; completed: StageResult[] }

/** Hash of what decides the training result: a checkpoint of another recipe is never resumed. */
export function trainingSpecHash(spec: FineTuneJobSpec): string {
  const { task, model, dataset, head, stages, augmentation, batchSize, seed } = spec;
  return createHash('sha256').update(JSON.stringify({ task, model, dataset, head, stages, augmentation, batchSize, seed })).digest('hex');
}

/**
 * Checkpoints at stage boundaries: the weights after each completed stage and
 * the stage history, so a restarted pod resumes after the last completed stage.
 */
export class CheckpointStore {
  private readonly dir: string;
  private readonly specHash: string;

  constructor(dir: string, specHash: string) {
    this.dir = dir;
    this.specHash = specHash;
  }

  /** Stages completed by an earlier attempt of the same recipe (empty when none, or another recipe). */
  async completedStages(): Promise<StageResult[]> {
    try {
      const state = JSON.parse(await readFile(join(this.dir, 'state.json'), 'utf8')) as CheckpointState;
      return state.specHash === this.specHash ? state.completed : [];
    } catch {
      return [];
    }
  }

  /** Saves the weights after a stage, then (atomically) the state that points at them. */
  async saveStage(model: tf.LayersModel, completed: StageResult[]): Promise<void> {
    const last = completed.at(-1)!;
    await model.save(fileSystemModel(join(this.dir, `stage-${completed.length}-${last.name}`, 'model.json')));
    await mkdir(this.dir, { recursive: true });
    const state: CheckpointState = { specHash: this.specHash, completed };
    await writeFile(join(this.dir, 'state.json.partial'), JSON.stringify(state, null, 2));
    await rename(join(this.dir, 'state.json.partial'), join(this.dir, 'state.json'));
  }

  /** Loads the weights saved after the last completed stage into `model` (built the same way). */
  async restore(model: tf.LayersModel, completed: StageResult[]): Promise<void> {
    const last = completed.at(-1)!;
    const saved = await tf.loadLayersModel(fileSystemModel(join(this.dir, `stage-${completed.length}-${last.name}`, 'model.json')));
    // By layer name: a reloaded functional model may list its weights in another order.
    for (const layer of model.layers) {
      if (layer.weights.length) layer.setWeights(saved.getLayer(layer.name).getWeights());
    }
    saved.dispose();
  }
}
