import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import {
  batchNormalizationOf,
  type FineTuneJobSpec,
  type StageHistory,
  type TrialStatus,
} from '../../api/v1alpha1/index.ts';
import { fileSystemModel } from '../model/file-io-handler.ts';
import type { StageResult } from '../report/reporter.ts';
import { FileStore } from '../storage/file-store.ts';
import type { Store } from '../storage/store.ts';

/**
 * A stage saved part-way: after `epoch` epochs (checkpoint.everyEpochs), or,
 * when the pod was stopped, `batch` batches into the next epoch, with the
 * optimizer's state and early stopping's, so the run goes on exactly there.
 */
export interface StageInProgress {
  stage: string;
  epoch: number;
  batch?: number;
  earlyStopping?: EarlyStoppingState;
  /** The optimizer's weights (Adam's moments, its step count) were saved beside the model's. */
  optimizer?: boolean;
}

/** An optimizer weight, as tf.Optimizer's getWeights() and setWeights() take them. */
export interface NamedTensor {
  name: string;
  tensor: tf.Tensor;
}

/** Early stopping's state within a stage; the best epoch's weights are saved beside the model's when kept. */
export interface EarlyStoppingState {
  best?: number;
  bestEpoch?: number;
  wait: number;
  bestWeights: boolean;
}

/** What an interrupted stage saves besides the model's weights. */
export interface InterruptedExtras {
  optimizer: NamedTensor[];
  earlyStopping: EarlyStoppingState;
  /** The best epoch's weights of the stage's model, in its getWeights() order. */
  bestWeights?: tf.Tensor[];
}

/** What spec.trials decided: a resumed attempt trains the same winner and reports the same trials. */
export interface SavedTrials {
  results: TrialStatus[];
  selected: string;
}

interface CheckpointState {
  specHash: string;
  jobUid?: string;
  completed: StageResult[];
  inProgress?: StageInProgress;
  trials?: SavedTrials;
  /** Every epoch's metrics up to this save, so that a resumed attempt's report.html has the whole curves. */
  history?: StageHistory[];
}

/** The remote state.json: the local one, and the generation of each folder it uses (FOLDER@GENERATION under the location). */
interface RemoteState extends CheckpointState {
  folders: Record<string, string>;
}

/** A checkpoint written to object storage: how much and how long (the SIGTERM save must fit in the grace period). */
export interface CheckpointUpload {
  uri: string;
  bytes: number;
  seconds: number;
}

/** What a saved checkpoint holds for this job; `discarded` says why one that exists is not resumed. */
export interface SavedState {
  completed: StageResult[];
  inProgress?: StageInProgress;
  trials?: SavedTrials;
  history?: StageHistory[];
  discarded?: string;
}

/** Hash of what decides the training result: a checkpoint of another recipe is never resumed. */
export function trainingSpecHash(spec: FineTuneJobSpec): string {
  const { task, dataset, stages, augmentation, batchSize, seed, trials } = spec;
  // A field added later enters the hash only when it trains otherwise than before it existed: a spec
  // that still trains as before resumes the checkpoints of the trainer before the upgrade, and one
  // that does not (a new default) trains from the start.
  const { batchNormStatistics, ...model } = spec.model;
  const { labelSmoothing, ...head } = spec.head;
  const decisive = {
    task,
    model: { ...model, ...(batchNormStatistics !== 'Pretrained' ? { batchNormStatistics } : {}) },
    dataset,
    head: { ...head, ...(labelSmoothing !== 0 ? { labelSmoothing } : {}) },
    // Auto hashes as what it does: Frozen (as before it existed) below 16 examples a batch and for a
    // graph model, Train otherwise.
    stages: stages.map((stage) => ({ ...stage, batchNormalization: batchNormalizationOf(stage, spec) })),
    augmentation,
    batchSize,
    seed,
    ...(trials ? { trials } : {}),
  };
  return createHash('sha256').update(JSON.stringify(decisive)).digest('hex');
}

/**
 * Checkpoints at stage boundaries (the weights after each completed stage and
 * the stage history), and every N epochs within a stage when asked, so a
 * restarted pod resumes after the last completed stage, or within a stage at
 * the last saved epoch (weights only there: the optimizer's moments start
 * afresh, as with Keras' weights-only checkpoints). A pod stopped by SIGTERM
 * saves its exact point, optimizer and early stopping included.
 */
export class CheckpointStore {
  private readonly dir: string;
  private readonly specHash: string;
  private readonly jobUid: string | undefined;
  /** Kept in every state written once the trials are decided. */
  private trials: SavedTrials | undefined;
  private readonly remote: Store | undefined;
  private readonly onUpload: ((upload: CheckpointUpload) => void) | undefined;
  /** The folders the remote state.json names now, by local folder. */
  private remoteFolders: Record<string, string> = {};
  /** The metrics so far, written with every save. */
  private history: (() => StageHistory[]) | undefined;

  /**
   * `jobUid`: the FineTuneJob's UID. A job deleted and re-created with the same name and recipe (or the
   * next run of a schedule writing to the same place) is a new job: it never resumes the old one's
   * checkpoint, which would export the old model without training.
   */
  constructor(
    dir: string,
    specHash: string,
    jobUid?: string,
    remote?: { store: Store; onUpload?: (upload: CheckpointUpload) => void },
  ) {
    this.dir = dir;
    this.specHash = specHash;
    this.jobUid = jobUid;
    this.remote = remote?.store;
    this.onUpload = remote?.onUpload;
  }

  /** What an earlier attempt of this job and recipe got done (nothing when none, another recipe or another job). */
  async state(): Promise<SavedState> {
    if (this.remote) await this.pull(this.remote);
    let state: CheckpointState;
    try {
      state = JSON.parse(await readFile(join(this.dir, 'state.json'), 'utf8')) as CheckpointState;
    } catch {
      return { completed: [] };
    }
    const where = `the checkpoint in ${this.dir}`;
    if (state.specHash !== this.specHash) {
      return {
        completed: [],
        discarded: `${where} was written for another training recipe; starting afresh and replacing it`,
      };
    }
    if (this.jobUid !== undefined && state.jobUid !== undefined && state.jobUid !== this.jobUid) {
      return {
        completed: [],
        discarded: `${where} belongs to another job (uid ${state.jobUid}: a deleted job of this name, or an earlier run of its schedule); starting afresh and replacing it`,
      };
    }
    this.trials = state.trials;
    return {
      completed: state.completed,
      ...(state.inProgress ? { inProgress: state.inProgress } : {}),
      ...(state.trials ? { trials: state.trials } : {}),
      ...(state.history ? { history: state.history } : {}),
    };
  }

  /** Every save from now on also keeps `history()`, the epochs' metrics so far (SavedState.history). */
  keepHistory(history: () => StageHistory[]): void {
    this.history = history;
  }

  /** Saves the weights after a stage, then (atomically) the state that points at them. */
  async saveStage(model: tf.LayersModel, completed: StageResult[]): Promise<void> {
    await this.save(model, `stage-${completed.length}-${completed.at(-1)!.name}`, { ...this.identity, completed });
  }

  /**
   * Records what the trials decided beside the last completed stage's weights (the frozen stages', which
   * the winner starts from); every later save keeps it.
   */
  async saveTrials(completed: StageResult[], trials: SavedTrials): Promise<void> {
    this.trials = trials;
    await this.writeState({ ...this.identity, completed });
  }

  /** Saves the weights within a stage (checkpoint.everyEpochs). */
  async saveEpoch(model: tf.LayersModel, completed: StageResult[], inProgress: StageInProgress): Promise<void> {
    await this.save(model, 'in-progress', { ...this.identity, completed, inProgress });
  }

  /**
   * Saves the exact point a stopped pod reached: the weights, the optimizer's
   * state and early stopping's (its best weights too), then the state file.
   */
  async saveInterrupted(
    model: tf.LayersModel,
    completed: StageResult[],
    inProgress: StageInProgress,
    extras: InterruptedExtras,
  ): Promise<void> {
    await saveTensors(
      join(this.dir, 'in-progress', 'optimizer.json'),
      Object.fromEntries(extras.optimizer.map((w) => [w.name, w.tensor])),
    );
    const best = extras.bestWeights ?? [];
    await saveTensors(
      join(this.dir, 'in-progress', 'best-weights.json'),
      Object.fromEntries(best.map((w, i) => [String(i), w])),
    );
    await this.save(model, 'in-progress', {
      ...this.identity,
      completed,
      inProgress: {
        ...inProgress,
        optimizer: true,
        earlyStopping: { ...extras.earlyStopping, bestWeights: best.length > 0 },
      },
    });
  }

  private get identity(): Pick<CheckpointState, 'specHash' | 'jobUid' | 'trials'> {
    return {
      specHash: this.specHash,
      ...(this.jobUid !== undefined ? { jobUid: this.jobUid } : {}),
      ...(this.trials ? { trials: this.trials } : {}),
    };
  }

  /** The optimizer's saved weights, in the order it gave them (for Optimizer.setWeights). */
  async optimizerWeights(): Promise<NamedTensor[]> {
    return Object.entries(await loadTensors(join(this.dir, 'in-progress', 'optimizer.json'))).map(([name, tensor]) => ({
      name,
      tensor,
    }));
  }

  /** Early stopping's saved best weights, in the model's getWeights() order. */
  async bestWeights(): Promise<tf.Tensor[]> {
    const saved = await loadTensors(join(this.dir, 'in-progress', 'best-weights.json'));
    return Object.keys(saved)
      .sort((a, b) => Number(a) - Number(b))
      .map((key) => saved[key]!);
  }

  /** Loads the weights of the saved point `state` describes into `model` (built the same way). */
  async restore(
    model: tf.LayersModel,
    state: { completed: StageResult[]; inProgress?: StageInProgress },
  ): Promise<void> {
    const folder = state.inProgress ? 'in-progress' : `stage-${state.completed.length}-${state.completed.at(-1)!.name}`;
    const path = join(this.dir, folder, 'weights.json');
    const saved = await loadTensors(path);
    try {
      for (const [key, variable] of weightsByKey(model)) {
        const value = saved[key];
        if (!value)
          throw new Error(
            `checkpoint ${path} has no weight ${key}: it was written by another model; delete the checkpoint to start afresh`,
          );
        variable.write(value);
      }
    } finally {
      tf.dispose(Object.values(saved));
    }
  }

  private async save(model: tf.LayersModel, folder: string, state: CheckpointState): Promise<void> {
    await saveTensors(
      join(this.dir, folder, 'weights.json'),
      Object.fromEntries([...weightsByKey(model)].map(([key, variable]) => [key, variable.read()])),
    );
    await this.writeState(state, folder);
  }

  private async writeState(saved: CheckpointState, folder?: string): Promise<void> {
    const state = this.history ? { ...saved, history: this.history() } : saved;
    await mkdir(this.dir, { recursive: true });
    await writeFile(join(this.dir, 'state.json.partial'), JSON.stringify(state, null, 2));
    await rename(join(this.dir, 'state.json.partial'), join(this.dir, 'state.json'));
    if (this.remote) await this.push(this.remote, state, folder);
  }

  /**
   * Commits a save to object storage. The folder just written goes to a new FOLDER@GENERATION, then
   * state.json, naming it, is written last: an upload cut short (SIGKILL, a lost node) leaves the
   * remote state.json naming the folders of the last save that completed. The folder it replaced is
   * deleted after.
   */
  private async push(remote: Store, state: CheckpointState, folder: string | undefined): Promise<void> {
    const started = performance.now();
    let bytes = 0;
    const folders = { ...this.remoteFolders };
    if (folder) {
      const generation = `${folder}@${Date.now().toString(36)}`;
      for (const file of await new FileStore(join(this.dir, folder)).list()) {
        await remote.at(`${generation}/${file.path}`).upload(join(this.dir, folder, file.path));
        bytes += file.size;
      }
      folders[folder] = generation;
    }
    const text = JSON.stringify({ ...state, folders } satisfies RemoteState, null, 2);
    await remote.at('state.json').write(text);
    bytes += text.length;
    await writeFile(join(this.dir, PULLED), text);
    const replaced = folder ? this.remoteFolders[folder] : undefined;
    this.remoteFolders = folders;
    if (replaced && replaced !== folders[folder!])
      await remote
        .at(replaced)
        .remove()
        .catch(() => undefined);
    this.onUpload?.({ uri: remote.uri, bytes, seconds: (performance.now() - started) / 1000 });
  }

  /**
   * Makes the local folder what the remote state.json says, when it says something else (a retry on
   * another node starts with an empty disk; one on the same node finds its own copy current).
   */
  private async pull(remote: Store): Promise<void> {
    if (!(await remote.at('state.json').stat())) return;
    const text = (await remote.at('state.json').read()).toString('utf8');
    const local = await readFile(join(this.dir, PULLED), 'utf8').catch(() => undefined);
    const { folders, ...state } = JSON.parse(text) as RemoteState;
    this.remoteFolders = folders ?? {};
    if (local === text) return;
    await rm(this.dir, { recursive: true, force: true });
    for (const [folder, generation] of Object.entries(this.remoteFolders)) {
      for (const file of await remote.at(generation).list())
        await remote.at(`${generation}/${file.path}`).download(join(this.dir, folder, file.path));
    }
    await this.writeLocalState(state);
    await writeFile(join(this.dir, PULLED), text);
  }

  private async writeLocalState(state: CheckpointState): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    await writeFile(join(this.dir, 'state.json'), JSON.stringify(state, null, 2));
  }
}

/** The remote state.json this local folder was last made from, or last wrote. */
const PULLED = 'remote-state.json';

/** Named tensors as a weights manifest and its binary file, in their order. */
async function saveTensors(path: string, tensors: Record<string, tf.Tensor>): Promise<void> {
  const { data, specs } = await tf.io.encodeWeights(tensors);
  await fileSystemModel(path).save({ weightSpecs: specs, weightData: data });
}

async function loadTensors(path: string): Promise<Record<string, tf.Tensor>> {
  const artifacts = await fileSystemModel(path).load();
  return tf.io.decodeWeights(artifacts.weightData!, artifacts.weightSpecs!);
}

/**
 * Weights only, keyed by layer and weight name: the order of a layer's
 * weights changes with their trainable flags, and a graph base is a custom
 * layer no model loader could rebuild, so neither order nor topology is used.
 */
function weightsByKey(model: tf.LayersModel): Map<string, tf.LayerVariable> {
  return new Map(
    model.layers.flatMap((layer) =>
      layer.weights.map((weight) => [`${layer.name}/${weight.originalName}`, weight] as const),
    ),
  );
}
