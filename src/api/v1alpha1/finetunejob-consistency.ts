import type { z } from 'zod';
import type { FineTuneJobSpecFields } from './finetunejob-spec.ts';
import { exactlyOneLocation } from './location.ts';
import { MAX_FINE_TUNE_LEARNING_RATE } from './stage.ts';

type Spec = z.output<typeof FineTuneJobSpecFields>;

/**
 * Cross-field rules a structural schema cannot express. Every message names
 * the field (by the issue path) and says how to fix it. Rules that need the
 * model itself (does layer X exist?) are checked by the trainer at load time.
 */
export function checkSpecConsistency(spec: Spec, ctx: z.RefinementCtx): void {
  const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: 'custom', path, message });

  exactlyOneLocation(spec.model, ['model'], ctx);
  exactlyOneLocation(spec.dataset, ['dataset'], ctx);
  exactlyOneLocation(spec.output, ['output'], ctx);
  if (spec.checkpoint.uri !== undefined && spec.checkpoint.pvc !== undefined) {
    issue(['checkpoint'], 'set at most one of uri or pvc (neither: checkpoints go under output)');
  }
  if (spec.model.input.tokenizer) exactlyOneLocation(spec.model.input.tokenizer, ['model', 'input', 'tokenizer'], ctx);

  checkModel(spec, issue);
  checkDataset(spec, issue);
  checkStages(spec, issue);
  checkTrials(spec, issue);
}

type Issue = (path: (string | number)[], message: string) => void;

function checkModel({ model, task }: Spec, issue: Issue): void {
  const { input } = model;
  if (model.cutLayer !== undefined && model.outputKind !== 'Classifier') {
    issue(
      ['model', 'cutLayer'],
      'cutLayer applies only to outputKind Classifier: remove it or set outputKind: Classifier',
    );
  }
  if (model.batchNormStatistics === 'Adapt' && model.format === 'Graph') {
    issue(
      ['model', 'batchNormStatistics'],
      "Adapt applies only to format Layers (a Graph model's batch norms always use the statistics they were " +
        'converted with): remove it',
    );
  }
  if (input.valueRange.min >= input.valueRange.max) {
    issue(
      ['model', 'input', 'valueRange'],
      `min (${input.valueRange.min}) must be below max (${input.valueRange.max})`,
    );
  }
  if (task.type === 'ImageClassification') {
    if (input.shape.length !== 3 || ![1, 3].includes(input.shape[2] ?? 0)) {
      issue(
        ['model', 'input', 'shape'],
        `image models take [height, width, channels] with 1 or 3 channels, got [${input.shape.join(', ')}]`,
      );
    }
    if (input.tokenizer)
      issue(['model', 'input', 'tokenizer'], 'a tokenizer applies only to TextClassification: remove it');
    const channels = input.shape[2] ?? 0;
    for (const key of ['mean', 'std'] as const) {
      const values = input[key];
      if (values && values.length !== channels && values.length !== 1) {
        const wanted =
          channels === 1
            ? '1 value (the image has one channel)'
            : `1 value (all channels) or ${channels} (one per channel)`;
        issue(['model', 'input', key], `needs ${wanted}, got ${values.length}`);
      }
    }
  } else {
    if (!input.tokenizer)
      issue(
        ['model', 'input', 'tokenizer'],
        "TextClassification needs the model's vocabulary: set tokenizer.uri or tokenizer.pvc",
      );
    if (input.shape.length !== 1)
      issue(['model', 'input', 'shape'], `text models take [sequenceLength], got [${input.shape.join(', ')}]`);
    if (input.dtype !== 'int32') issue(['model', 'input', 'dtype'], 'text models take token ids: set dtype: int32');
  }
}

const FORMATS_BY_TASK = {
  ImageClassification: ['ImageFolder', 'IDX', 'CSV', 'JSONL'],
  TextClassification: ['CSV', 'JSONL'],
} as const;

function checkDataset({ dataset, task, augmentation, model }: Spec, issue: Issue): void {
  const allowed: readonly string[] = FORMATS_BY_TASK[task.type];
  if (!allowed.includes(dataset.format)) {
    issue(['dataset', 'format'], `${dataset.format} cannot feed ${task.type}: use one of ${allowed.join(', ')}`);
  }
  if ((dataset.format === 'IDX') !== (dataset.idx !== undefined)) {
    issue(
      ['dataset', 'idx'],
      dataset.format === 'IDX'
        ? 'format IDX needs idx.images and idx.labels'
        : `idx applies only to format IDX, not ${dataset.format}: remove it`,
    );
  }
  checkDatasetFields({ dataset, task, model }, issue);
  if (dataset.classNames && dataset.classNames.length !== task.numClasses) {
    issue(
      ['dataset', 'classNames'],
      `lists ${dataset.classNames.length} classes but task.numClasses is ${task.numClasses}: make them agree`,
    );
  }
  if (dataset.classNames && new Set(dataset.classNames).size !== dataset.classNames.length) {
    issue(['dataset', 'classNames'], 'class names must be unique');
  }
  const { validation } = dataset;
  const separate = validation.uri !== undefined || validation.pvc !== undefined;
  if (validation.uri !== undefined && validation.pvc !== undefined)
    issue(['dataset', 'validation'], 'set at most one of uri or pvc');
  if (separate && validation.split !== undefined) {
    issue(['dataset', 'validation', 'split'], 'set either split or a separate validation location (uri/pvc), not both');
  }
  const augmenting =
    augmentation.horizontalFlip || augmentation.zoom > 0 || augmentation.brightness > 0 || augmentation.contrast > 0;
  if (augmenting && task.type !== 'ImageClassification') {
    issue(['augmentation'], 'augmentation applies only to ImageClassification: remove it');
  }
}

/**
 * dataset.fields, against the format and the task: each field is read by one format and task only,
 * and a field nobody reads would let a pod start and then fail on something unrelated.
 */
function checkDatasetFields({ dataset, task, model }: Pick<Spec, 'dataset' | 'task' | 'model'>, issue: Issue): void {
  const { text, features, label } = dataset.fields;
  const path = (field: string) => ['dataset', 'fields', field];
  if (dataset.format !== 'CSV' && dataset.format !== 'JSONL') {
    const set = [
      ...(text !== undefined ? ['text'] : []),
      ...(features !== undefined ? ['features'] : []),
      ...(label !== 'label' ? ['label'] : []),
    ];
    for (const field of set)
      issue(path(field), `fields.${field} applies only to formats CSV and JSONL, not ${dataset.format}: remove it`);
    return;
  }
  if (task.type === 'TextClassification') {
    if (!text) issue(path('text'), 'TextClassification from CSV/JSONL needs fields.text: the column holding the text');
    if (features)
      issue(
        path('features'),
        'fields.features applies only to ImageClassification (pixel columns); TextClassification reads ' +
          'fields.text: remove it',
      );
    return;
  }
  if (text)
    issue(
      path('text'),
      'fields.text applies only to TextClassification; image data from CSV/JSONL reads fields.features: remove it',
    );
  if (!features) {
    issue(path('features'), 'image data from CSV/JSONL needs fields.features: the columns holding pixel values');
    return;
  }
  const values = model.input.shape.reduce((product, size) => product * size, 1);
  if (model.input.shape.length === 3 && features.length !== values) {
    issue(
      path('features'),
      `lists ${features.length} columns, but model.input.shape [${model.input.shape.join(', ')}] takes ${values} ` +
        'values (height × width × channels, one column each): make them agree',
    );
  }
}

function checkStages({ stages }: Spec, issue: Issue): void {
  const seen = new Set<string>();
  stages.forEach((stage, i) => {
    if (seen.has(stage.name))
      issue(['stages', i, 'name'], `duplicate stage name "${stage.name}": stage names must be unique`);
    seen.add(stage.name);
    checkUnfreeze(stage.unfreeze, ['stages', i, 'unfreeze'], issue);
    if (stage.epochs !== undefined && stage.optimizer.warmupEpochs >= stage.epochs) {
      issue(
        ['stages', i, 'optimizer', 'warmupEpochs'],
        `warm-up (${stage.optimizer.warmupEpochs}) must be shorter than the stage's ${stage.epochs} epochs`,
      );
    }
  });

  const first = stages[0];
  if (first && first.unfreeze.policy !== 'None') {
    issue(
      ['stages', 0, 'unfreeze', 'policy'],
      "the first stage trains the new head on a frozen base: set policy None (a random head's large gradients " +
        'would wreck unfrozen pretrained weights)',
    );
  }

  const headRate = stages.find((s) => s.unfreeze.policy === 'None')?.optimizer.learningRate;
  stages.forEach((stage, i) => {
    if (stage.unfreeze.policy === 'None' || stage.optimizer.allowHighLearningRate) return;
    checkFineTuneRate(stage.optimizer.learningRate, headRate, ['stages', i, 'optimizer', 'learningRate'], issue);
  });
}

function checkUnfreeze(
  { policy, layers, fromLayer }: Spec['stages'][number]['unfreeze'],
  path: (string | number)[],
  issue: Issue,
): void {
  if (policy === 'TopLayers' && layers === undefined)
    issue([...path, 'layers'], 'policy TopLayers needs layers: how many top layers to unfreeze');
  if (policy !== 'TopLayers' && layers !== undefined)
    issue([...path, 'layers'], `layers applies only to policy TopLayers, not ${policy}: remove it`);
  if (policy === 'FromLayer' && fromLayer === undefined)
    issue([...path, 'fromLayer'], 'policy FromLayer needs fromLayer: the name of the lowest layer to unfreeze');
  if (policy !== 'FromLayer' && fromLayer !== undefined)
    issue([...path, 'fromLayer'], `fromLayer applies only to policy FromLayer, not ${policy}: remove it`);
}

function checkFineTuneRate(rate: number, headRate: number | undefined, path: (string | number)[], issue: Issue): void {
  if (rate > MAX_FINE_TUNE_LEARNING_RATE) {
    issue(
      path,
      `${rate} is above ${MAX_FINE_TUNE_LEARNING_RATE}, the highest safe rate for unfrozen layers: lower it (default 1e-4) or set optimizer.allowHighLearningRate: true`,
    );
  } else if (headRate !== undefined && rate > headRate) {
    issue(
      path,
      `${rate} is above the head stage's rate ${headRate}: fine-tune rates must be smaller (or set optimizer.allowHighLearningRate: true)`,
    );
  }
}

/** spec.trials: each candidate must describe a change the stages can take. */
function checkTrials({ trials, stages }: Spec, issue: Issue): void {
  if (!trials) return;
  const unfrozen = stages.filter((stage) => stage.unfreeze.policy !== 'None');
  if (unfrozen.length === 0) {
    issue(
      ['trials'],
      'trials compare ways of fine-tuning after the head stage, and no stage unfreezes the base: add one (e.g. ' +
        '{ name: fine-tune, unfreeze: { policy: All } }) or remove trials',
    );
    return;
  }
  const headRate = stages.find((s) => s.unfreeze.policy === 'None')?.optimizer.learningRate;
  const seen = new Set<string>();
  trials.candidates.forEach((candidate, i) => {
    const path = ['trials', 'candidates', i];
    if (seen.has(candidate.name))
      issue([...path, 'name'], `duplicate candidate name "${candidate.name}": candidate names must be unique`);
    seen.add(candidate.name);
    if (candidate.headOnly) {
      const set = (['learningRate', 'unfreeze', 'batchNormalization'] as const).filter(
        (key) => candidate[key] !== undefined,
      );
      if (set.length)
        issue(
          [...path, set[0]!],
          `a headOnly candidate runs no unfrozen stage: remove ${set.join(', ')} or set headOnly: false`,
        );
      return;
    }
    if (candidate.learningRate !== undefined && unfrozen.some((stage) => !stage.optimizer.allowHighLearningRate)) {
      checkFineTuneRate(candidate.learningRate, headRate, [...path, 'learningRate'], issue);
    }
    if (candidate.unfreeze) {
      if (candidate.unfreeze.policy === 'None')
        issue(
          [...path, 'unfreeze', 'policy'],
          'a candidate that unfreezes nothing is head only: set headOnly: true instead',
        );
      else if (unfrozen.length > 1)
        issue(
          [...path, 'unfreeze'],
          `${unfrozen.length} stages unfreeze the base, so which one this replaces is ambiguous: remove unfreeze (vary learningRate instead) or keep one unfrozen stage`,
        );
      checkUnfreeze(candidate.unfreeze, [...path, 'unfreeze'], issue);
    }
  });
}
