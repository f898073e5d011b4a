import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { batchNormalizationOf, type FineTuneJobSpec, type Trials } from '../api/v1alpha1/index.ts';
import {
  CheckpointStore,
  type SavedState,
  type SavedTrials,
  type StageInProgress,
  trainingSpecHash,
} from './checkpoints/checkpoint-store.ts';
import { ExampleReader } from './data/batches.ts';
import { datasetFingerprint } from './data/fingerprint.ts';
import { loadDataset } from './data/load-dataset.ts';
import { preprocessingOf } from './data/preprocessing.ts';
import { PermanentError } from './errors.ts';
import { InterruptedError, Interruption } from './interruption.ts';
import { adaptBatchNormStatistics } from './model/adapt-batch-norm.ts';
import { buildFineTuneModel } from './model/fine-tune-model.ts';
import { exportModel } from './model/export-model.ts';
import { checkGraphGradients } from './model/graph-gradient-check.ts';
import { loadBaseModel } from './model/load-base-model.ts';
import { evaluateTestSet } from './model/evaluate-test-set.ts';
import { evaluateOnValidation, promoteIfBetter } from './model/promotion.ts';
import { HistoryRecorder, writeReportFile } from './report/report-file.ts';
import { combineReporters, type StageResult, type TrainingReporter } from './report/reporter.ts';
import { reestimationBatches, runStage, type StageContext } from './stages/run-stage.ts';
import { type PlannedStage, planStages } from './stages/stage-plan.ts';
import { candidateStages, runTrials, trialStage, type TrialsOutcome } from './stages/trials.ts';
import { applyUnfreezePolicy, keepFrozenBatchNormInInference } from './stages/unfreeze-policy.ts';
import { localCopy, publishFolder } from './storage/local-copy.ts';
import { openStore, type Store } from './storage/store.ts';

export interface TrainingOptions {
  reporters: TrainingReporter[];
  /** Root of PVC mounts (default /mnt/pvc). */
  pvcRoot?: string;
  /** Where remote models and data are cached, and remote outputs and checkpoints staged. */
  cacheDir: string;
  /** The spec's name and namespace, for the exported metadata. */
  jobName?: string;
  /** The FineTuneJob's UID: checkpoints of another job (deleted, then re-created) are not resumed. */
  jobUid?: string;
  backend: { name: string; source: string; gpu: boolean };
  /** Train a frozen-base head on base features computed once (default true; off only to measure it). */
  featureCache?: boolean;
  /** Set by SIGTERM: training stops at the end of its batch, saves that point and throws InterruptedError. */
  interruption?: Interruption;
}

/** `outputPath`: the exported model's folder (for an output in object storage, the local copy that was uploaded). */
export interface TrainingOutcome {
  outputPath: string;
  outputURI: string;
  stages: StageResult[];
  skippedFiles: string[];
}

/** Where a remote location is staged on this machine: one folder per URI under the cache. */
const stagingDir = (cacheDir: string, kind: string, store: Store) =>
  store.localPath ?? join(cacheDir, kind, createHash('sha256').update(store.uri).digest('hex').slice(0, 16));

/**
 * Runs docs/recipe.md for one spec: load and check the base and the data, run the
 * stages in order (resuming after the last completed one), checkpoint at each
 * stage boundary, and export the model with its metadata.
 */
export async function runStagedTraining(spec: FineTuneJobSpec, options: TrainingOptions): Promise<TrainingOutcome> {
  const recorder = new HistoryRecorder();
  const report = combineReporters(...options.reporters, recorder);
  const { output, outputDir, checkpointStore } = trainingLocations(spec, options);

  const preprocessing = preprocessingOf(spec);
  const { data, base } = await checkedInputs(spec, options, report);
  const model = buildFineTuneModel(base, spec);
  const trained = model.full;
  report.started({
    backend: options.backend.name,
    source: options.backend.source,
    gpu: options.backend.gpu,
    train: data.train.length,
    validation: data.validation.length,
    classes: data.classNames,
  });

  const skippedFiles: string[] = [];
  const skip = (file: string, reason: string) => {
    skippedFiles.push(file);
    report.fileSkipped(file, reason);
  };
  for (const record of data.skipped) skip(record, 'not valid JSON');
  const reader = new ExampleReader(spec, preprocessing, skip);
  const interruption = options.interruption ?? new Interruption();
  const checkpoints = new CheckpointStore(
    stagingDir(options.cacheDir, 'checkpoints', checkpointStore),
    trainingSpecHash(spec),
    options.jobUid,
    checkpointStore.localPath === undefined
      ? { store: checkpointStore, onUpload: report.checkpointUploaded }
      : undefined,
  );
  const saved = await checkpoints.state();
  if (saved.discarded) report.checkpointDiscarded(saved.discarded);
  checkpoints.keepHistory(() => recorder.history);
  const stages = [...saved.completed];
  if (stages.length || saved.inProgress) {
    await checkpoints.restore(trained, saved);
    recorder.history = saved.history ?? [];
    report.resumed([...stages], saved.inProgress);
  } else if (spec.model.batchNormStatistics === 'Adapt') {
    report.batchNormAdapted(
      await adaptBatchNormStatistics(base, reestimationBatches({ reader, data, spec, interruption })),
    );
  }

  const { plan, trials } = await trainStages({
    spec,
    options,
    report,
    model,
    data,
    reader,
    preprocessing,
    interruption,
    checkpoints,
    saved,
    stages,
  });
  if (interruption.requested) throw new InterruptedError(interruption.reason);

  report.exporting();
  return publishModel({
    spec,
    options,
    report,
    recorder,
    model,
    base,
    data,
    reader,
    preprocessing,
    stages,
    plan,
    trials,
    output,
    outputDir,
    skippedFiles,
  });
}

/** What the stages are trained with. */
interface StageRun {
  spec: FineTuneJobSpec;
  options: TrainingOptions;
  report: Required<TrainingReporter>;
  model: ReturnType<typeof buildFineTuneModel>;
  data: Awaited<ReturnType<typeof loadDataset>>;
  reader: ExampleReader;
  preprocessing: ReturnType<typeof preprocessingOf>;
  interruption: Interruption;
  checkpoints: CheckpointStore;
  saved: SavedState;
  /** The stages completed so far (a resumed run's from its checkpoint); each one trained here is added. */
  stages: StageResult[];
}

/**
 * Plans the stages (with spec.trials, the winner's unfrozen stages once the trials have run) and trains
 * each one not completed yet, checkpointing after each; returns the plan trained and the trials' decision.
 */
async function trainStages(run: StageRun): Promise<{ plan: PlannedStage[]; trials: SavedTrials | undefined }> {
  const { spec, options, report, model, data, reader, preprocessing, interruption, checkpoints, saved, stages } = run;
  const trained = model.full;
  const specPlan = planStages(spec.stages, Math.ceil(data.train.length / spec.batchSize), spec);
  const tuning = spec.trials ? new TrialsPlan(spec.trials, specPlan) : undefined;
  let trials = saved.trials;
  if (trials) report.trialsUpdated(trials.results);
  let plan = tuning?.withWinner(trials) ?? specPlan;
  const trialEpochs = tuning?.epochs ?? 0;
  const plannedEpochs = plan.reduce((sum, s) => sum + s.epochs, 0) + trialEpochs;
  const epochsBefore = (index: number) =>
    plan.slice(0, index).reduce((sum, s) => sum + s.epochs, 0) +
    (tuning && index >= tuning.firstTuned ? trialEpochs : 0);
  const common = {
    spec,
    model,
    data,
    reader,
    preprocessing,
    plannedEpochs,
    featureCache: options.featureCache ?? true,
    interruption,
  };
  for (let index = 0; index < plan.length; index++) {
    if (index < stages.length) continue;
    if (interruption.requested) throw new InterruptedError(interruption.reason);
    if (tuning && index === tuning.firstTuned && !trials) {
      const outcome = await tuning.run({ ...common, epochsBefore: epochsBefore(index) - trialEpochs, report });
      trials = { results: outcome.results, selected: outcome.selected };
      plan = tuning.withWinner(trials);
      await checkpoints.saveTrials(stages, trials);
      for (const result of outcome.finished ?? []) {
        stages.push(result);
        report.stageEnded(result);
      }
      if (outcome.finished?.length) await checkpoints.saveStage(trained, stages);
      if (index < stages.length || index >= plan.length) continue;
    }
    const stage = plan[index]!;
    const inProgress = saved.inProgress?.stage === stage.name ? saved.inProgress : undefined;
    const result = await runStage(
      {
        ...common,
        epochsBefore: epochsBefore(index),
        onStart: report.stageStarted,
        onEpoch: report.epochEnded,
        onBatchNormAdapted: report.batchNormAdapted,
        initialEpoch: inProgress?.epoch ?? 0,
        ...(inProgress?.batch !== undefined ? { resume: await interruptedState(checkpoints, inProgress) } : {}),
        ...(spec.checkpoint.everyEpochs
          ? {
              checkpointEvery: {
                epochs: spec.checkpoint.everyEpochs,
                save: (epoch: number) => checkpoints.saveEpoch(trained, stages, { stage: stage.name, epoch }),
              },
            }
          : {}),
        saveInterrupted: (position, extras) => checkpoints.saveInterrupted(trained, stages, position, extras),
      },
      stage,
      index,
    );
    stages.push(result);
    report.stageEnded(result);
    await checkpoints.saveStage(trained, stages);
  }
  return { plan, trials };
}

/** Where outputs are staged (then uploaded, object storage, with model.json last) and checkpoints kept. */
function trainingLocations(spec: FineTuneJobSpec, options: TrainingOptions) {
  // Outputs are written here, then (object storage) uploaded with model.json last; checkpoints next to the output by default.
  const output = openStore(spec.output, options.pvcRoot);
  if (/^https?:/.test(output.uri))
    throw new PermanentError(
      `spec.output: ${output.uri}: http(s) locations are read-only; use s3://, a PVC or file://`,
    );
  const outputDir = stagingDir(options.cacheDir, 'outputs', output);
  const checkpointStore =
    spec.checkpoint.uri !== undefined || spec.checkpoint.pvc !== undefined
      ? openStore(spec.checkpoint, options.pvcRoot)
      : output.at('checkpoints');
  if (/^https?:/.test(checkpointStore.uri))
    throw new PermanentError(`spec.checkpoint: ${checkpointStore.uri}: http(s) locations are read-only`);

  return { output, outputDir, checkpointStore };
}

/** The data and the base, loaded together and checked against the spec (and a graph base's gradients). */
async function checkedInputs(spec: FineTuneJobSpec, options: TrainingOptions, report: Required<TrainingReporter>) {
  const [data, base] = await bothInputs(
    loadDataset(spec, options.pvcRoot, options.cacheDir),
    loadBaseModel(spec, options),
  );
  // For a schedule's skipIfUnchanged; a fingerprint that cannot be taken (a server without HEAD) never stops training.
  await datasetFingerprint(spec, options.pvcRoot).then(report.datasetFingerprinted, () => undefined);
  if (data.classNames.length !== spec.task.numClasses) {
    throw new PermanentError(
      `the dataset has ${data.classNames.length} classes (${data.classNames.join(', ')}) but spec.task.numClasses is ${spec.task.numClasses}`,
    );
  }
  if (base.format === 'Layers') keepFrozenBatchNormInInference(base.layers);
  if (base.format === 'Graph') {
    const variants = [
      spec.stages,
      ...(spec.trials?.candidates ?? []).map((candidate) => candidateStages(spec.stages, candidate)),
    ];
    // One forward and backward pass per distinct unfreeze setting (most candidates change only the rate).
    const checked = new Set<string>();
    for (const [index, stage] of variants.flatMap((stages) => [...stages.entries()])) {
      const unfreeze = JSON.stringify(stage.unfreeze);
      if (checked.has(unfreeze)) continue;
      checked.add(unfreeze);
      applyUnfreezePolicy(base.layers, { ...stage, batchNormalization: batchNormalizationOf(stage, spec) }, index);
      checkGraphGradients(base.graph, spec.model.input, { name: stage.name, index });
    }
  }
  return { data, base };
}

/** What the last step needs of the run. */
interface Trained {
  spec: FineTuneJobSpec;
  options: TrainingOptions;
  report: Required<TrainingReporter>;
  recorder: HistoryRecorder;
  model: ReturnType<typeof buildFineTuneModel>;
  base: Awaited<ReturnType<typeof loadBaseModel>>;
  data: Awaited<ReturnType<typeof loadDataset>>;
  reader: ExampleReader;
  preprocessing: ReturnType<typeof preprocessingOf>;
  stages: StageResult[];
  plan: PlannedStage[];
  trials: SavedTrials | undefined;
  output: Store;
  outputDir: string;
  skippedFiles: string[];
}

/**
 * The last step: export the model (with its vocabulary, for text), evaluate it on the test set, write
 * report.html, publish the folder (object storage: model.json last) and, with a promotion gate, decide.
 */
async function publishModel(run: Trained): Promise<TrainingOutcome> {
  const { spec, options, report, recorder, model, base, data, reader, preprocessing, stages, plan, trials } = run;
  const { output, outputDir, skippedFiles } = run;
  await exportModel(model, outputDir, {
    spec,
    preprocessing,
    classNames: data.classNames,
    stages,
    jobName: options.jobName,
    baseTrained: plan.some((stage) => stage.unfreeze.policy !== 'None'),
    ...(spec.model.input.tokenizer
      ? { vocabularyFile: await localCopy(openStore(spec.model.input.tokenizer, options.pvcRoot), options.cacheDir) }
      : {}),
    ...(trials ? { trials: { metric: spec.trials!.metric, ...trials } } : {}),
  });
  if (data.test) {
    // The scratch control's budget is the recipe's epochs as trained (the winner's, without the trials).
    const recipeEpochs = plan.reduce((sum, s) => sum + s.epochs, 0);
    const evaluated = await evaluateTestSet(model, {
      spec,
      data: { ...data, test: data.test },
      reader,
      preprocessing,
      plannedEpochs: recipeEpochs,
      basePath: base.path,
      outputDir,
    });
    report.evaluated(output.localPath ? evaluated : { ...evaluated, report: output.at('evaluation.json').uri });
  }
  await writeReportFile(outputDir, {
    spec,
    job: options.jobName,
    stages,
    plan,
    history: recorder.history,
    stepsPerEpoch: Math.ceil(data.train.length / spec.batchSize),
  });
  // An output in object storage: every file, model.json last, so a reader that finds it finds its weights.
  await publishFolder(outputDir, output, ['model.json']);
  const outputURI = output.localPath ?? output.uri;
  if (spec.promotion) {
    const metrics = await evaluateOnValidation(model, data.validation, reader, spec.batchSize);
    report.promotionDecided(
      await promoteIfBetter(spec, { job: options.jobName, dir: outputURI }, metrics, options.pvcRoot),
    );
  }
  report.exported({ path: outputURI, stages });
  return { outputPath: outputDir, outputURI, stages, skippedFiles };
}

/**
 * spec.trials within the stage plan: decided when the frozen stages are done
 * (the first unfrozen stage is next); from then on the winner's stages
 * replace the spec's unfrozen ones.
 */
class TrialsPlan {
  readonly firstTuned: number;
  /** Epochs the trials may take at most: every candidate's unfrozen stages, shortened to trials. */
  readonly epochs: number;
  private readonly trials: Trials;
  private readonly specPlan: PlannedStage[];

  constructor(trials: Trials, specPlan: PlannedStage[]) {
    this.trials = trials;
    this.specPlan = specPlan;
    this.firstTuned = specPlan.findIndex((stage) => stage.unfreeze.policy !== 'None');
    this.epochs = trials.candidates.reduce(
      (sum, candidate) =>
        sum +
        candidateStages(this.tuning, candidate).reduce(
          (stageSum, stage) => stageSum + trialStage(stage, trials).epochs,
          0,
        ),
      0,
    );
  }

  private get tuning(): PlannedStage[] {
    return this.specPlan.slice(this.firstTuned);
  }

  withWinner(decided: SavedTrials | undefined): PlannedStage[] {
    if (!decided) return this.specPlan;
    const winner = this.trials.candidates.find((candidate) => candidate.name === decided.selected)!;
    return [...this.specPlan.slice(0, this.firstTuned), ...candidateStages(this.tuning, winner)];
  }

  /** Runs the trials, each stage reported under the trial's name; `epochsBefore`: the frozen stages' epochs. */
  run(
    ctx: Omit<StageContext, 'initialEpoch' | 'saveInterrupted' | 'onStart' | 'onEpoch' | 'onBatchNormAdapted'> & {
      report: Required<TrainingReporter>;
    },
  ): Promise<TrialsOutcome> {
    const { report, interruption } = ctx;
    let epochsDone = 0;
    return runTrials(this.trials, this.tuning, this.firstTuned, {
      model: ctx.model.full,
      runStage: async (stage, index, trialName) => {
        const result = await runStage(
          {
            ...ctx,
            epochsBefore: ctx.epochsBefore + epochsDone,
            initialEpoch: 0,
            onStart: report.trialStageStarted,
            onEpoch: report.epochEnded,
            onBatchNormAdapted: report.batchNormAdapted,
            // An interrupted trial is not resumed: the next attempt runs the trials again from the frozen stages' checkpoint.
            saveInterrupted: async () => undefined,
          },
          { ...stage, name: `${trialName}/${stage.name}` },
          index,
        ).catch((err: unknown) => {
          throw err instanceof InterruptedError ? new InterruptedError(interruption.reason) : err;
        });
        epochsDone += stage.epochs;
        return result;
      },
      evaluate: () => evaluateOnValidation(ctx.model, ctx.data.validation, ctx.reader, ctx.spec.batchSize),
      onUpdate: report.trialsUpdated,
    });
  }
}

/**
 * Waits for both inputs, even when one fails first, so every failure is
 * reported, whatever the order: permanent (a missing or invalid file) when
 * any is, since a retry cannot fix that one.
 */
async function bothInputs<D, M>(data: Promise<D>, model: Promise<M>): Promise<[D, M]> {
  const [dataResult, modelResult] = await Promise.allSettled([data, model]);
  if (dataResult.status === 'fulfilled' && modelResult.status === 'fulfilled')
    return [dataResult.value, modelResult.value];
  const errors = [dataResult, modelResult].flatMap((r) => (r.status === 'rejected' ? [r.reason as Error] : []));
  if (errors.length === 1) throw errors[0]!;
  const message = errors.map((e) => e.message).join('\n');
  throw errors.some((e) => e instanceof PermanentError) ? new PermanentError(message) : new Error(message);
}

/** What an interrupted attempt saved of the stage it stopped in, besides the weights. */
async function interruptedState(checkpoints: CheckpointStore, inProgress: StageInProgress) {
  return {
    batch: inProgress.batch!,
    ...(inProgress.optimizer ? { optimizer: await checkpoints.optimizerWeights() } : {}),
    ...(inProgress.earlyStopping ? { earlyStopping: inProgress.earlyStopping } : {}),
    ...(inProgress.earlyStopping?.bestWeights ? { bestWeights: await checkpoints.bestWeights() } : {}),
  };
}
