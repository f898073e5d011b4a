import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FineTuneJobSpec, StageHistory } from '../../api/v1alpha1/index.ts';
import { renderTrainingReport } from '../../report/training-report.ts';
import type { EvaluationReport } from '../model/evaluate-test-set.ts';
import { learningRateAt } from '../stages/learning-rate-schedule.ts';
import type { PlannedStage } from '../stages/stage-plan.ts';
import { withEpoch } from './history.ts';
import type { EpochEnd, StageResult, TrainingReporter } from './reporter.ts';

/** The report beside the model. */
export const REPORT_FILE = 'report.html';

/** Every epoch's metrics, for the report (unthinned: a file, not a status); a resumed attempt starts from the checkpoint's. */
export class HistoryRecorder implements TrainingReporter {
  history: StageHistory[] = [];

  epochEnded = (epoch: EpochEnd): void => {
    this.history = withEpoch(this.history, epoch);
  };
}

/**
 * Writes report.html into the output folder: the curves of the stages (those of earlier attempts from the
 * checkpoint; one written before checkpoints kept them has its curves in the job's status, kubectl ftj
 * report), the learning rate at each step,
 * the evaluation (evaluation.json, when written) and the provenance.
 */
export async function writeReportFile(
  outputDir: string,
  inputs: {
    spec: FineTuneJobSpec;
    job: string | undefined;
    stages: StageResult[];
    plan: PlannedStage[];
    history: StageHistory[];
    stepsPerEpoch: number;
  },
): Promise<void> {
  const { spec, stages, plan } = inputs;
  const evaluation = await readFile(join(outputDir, 'evaluation.json'), 'utf8').then(
    (text) => JSON.parse(text) as EvaluationReport,
    () => undefined,
  );
  const ran = new Set(stages.map((s) => s.name));
  const history = inputs.history.filter((h) => ran.has(h.stage));
  const missing = stages.filter((s) => !history.some((h) => h.stage === s.name)).map((s) => s.name);
  const location = (l: { uri?: string; pvc?: { claimName: string; path: string } }) =>
    l.uri ?? `pvc://${l.pvc?.claimName}/${l.pvc?.path}`;
  const html = renderTrainingReport({
    job: inputs.job ?? '(no job: ftj run)',
    generatedAt: new Date().toISOString(),
    provenance: {
      baseModel: location(spec.model),
      license: spec.model.license,
      dataset: location(spec.dataset),
      spec,
    },
    stages,
    history,
    learningRates: stages.flatMap((result) => {
      const stage = plan.find((p) => p.name === result.name);
      if (!stage) return [];
      const { learningRate: rate, warmupEpochs, decay } = stage.optimizer;
      const settings = { rate, warmupEpochs, decay, epochs: stage.epochs, stepsPerEpoch: inputs.stepsPerEpoch };
      const steps = result.epochsRun * inputs.stepsPerEpoch;
      return [
        { stage: result.name, values: Array.from({ length: steps }, (_, step) => learningRateAt(step, settings)) },
      ];
    }),
    ...(evaluation
      ? {
          evaluation: {
            ...evaluation,
            ...(evaluation.scratch ? { scratchAccuracy: evaluation.scratch.accuracy } : {}),
          },
        }
      : {}),
    notes: missing.length
      ? [
          `Stages ${missing.join(', ')} ran in an earlier attempt whose checkpoint kept no curves: they are in the job's status (kubectl ftj describe).`,
        ]
      : [],
  });
  await writeFile(join(outputDir, REPORT_FILE), html);
}
