import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FineTuneJobSpec, PromotionMetric, TrialStatus } from '../../api/v1alpha1/index.ts';
import { trainingSpecHash } from '../checkpoints/checkpoint-store.ts';
import type { Preprocessing } from '../data/preprocessing.ts';
import type { StageResult } from '../report/reporter.ts';
import { fileSystemModel } from './file-io-handler.ts';
import type { FineTuneModel } from './fine-tune-model.ts';

/** Where a fine-tuned graph base is written, beside the head. */
export const FINE_TUNED_GRAPH_BASE = join('base', 'model.json');

/** A text classifier's vocabulary, copied beside it so that serving needs nothing but the folder. */
export const EXPORTED_VOCABULARY = 'vocabulary.txt';

/**
 * Writes the fine-tuned model and metadata.json (docs/recipe.md §7). A layers base
 * exports one layers model. A graph base exports the head as a layers model
 * and, when a stage unfroze the base, the graph with its fine-tuned weights
 * as a graph model in base/: each loads with the stock tfjs loaders.
 */
export async function exportModel(
  model: FineTuneModel,
  dir: string,
  meta: {
    spec: FineTuneJobSpec;
    preprocessing: Preprocessing;
    classNames: string[];
    stages: StageResult[];
    jobName: string | undefined;
    /** Whether a stage that ran unfroze the base (not so when trials chose head only). */
    baseTrained: boolean;
    /** A text model's vocabulary file (a local copy). */
    vocabularyFile?: string;
    trials?: { metric: PromotionMetric; selected: string; results: TrialStatus[] };
  },
): Promise<void> {
  const { spec } = meta;
  await mkdir(dir, { recursive: true });
  const { base } = model;
  const fineTunedGraph = base.format === 'Graph' && meta.baseTrained;
  if (base.format === 'Graph') {
    await model.head.save(fileSystemModel(join(dir, 'model.json')));
    if (fineTunedGraph)
      await fileSystemModel(join(dir, FINE_TUNED_GRAPH_BASE)).save(await base.graph.exportArtifacts());
  } else {
    await model.full.save(fileSystemModel(join(dir, 'model.json')));
  }
  if (meta.vocabularyFile) await copyFile(meta.vocabularyFile, join(dir, EXPORTED_VOCABULARY));
  const metadata = {
    job: meta.jobName,
    task: spec.task,
    classNames: meta.classNames,
    preprocessing: meta.preprocessing,
    ...(meta.vocabularyFile ? { vocabularyFile: EXPORTED_VOCABULARY } : {}),
    baseModel: {
      uri: spec.model.uri ?? `pvc://${spec.model.pvc!.claimName}/${spec.model.pvc!.path}`,
      format: spec.model.format,
      license: spec.model.license,
      provenance: spec.model.provenance,
      // Serving a graph base runs the graph up to cutLayer, then the exported head.
      ...(base.format === 'Graph' ? { exportedModelIsHeadOnly: true, cutLayer: spec.model.cutLayer } : {}),
      ...(fineTunedGraph ? { fineTunedGraph: FINE_TUNED_GRAPH_BASE } : {}),
    },
    specHash: trainingSpecHash(spec),
    stages: meta.stages,
    ...(meta.trials ? { trials: meta.trials } : {}),
    exportedAt: new Date().toISOString(),
  };
  await writeFile(join(dir, 'metadata.json'), JSON.stringify(metadata, null, 2));
}
