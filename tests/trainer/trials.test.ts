import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { type FineTuneJobSpecInput, type TrialStatus, validateFineTuneJobSpec } from '../../src/api/v1alpha1/index.ts';
import { InterruptedError, Interruption } from '../../src/trainer/interruption.ts';
import type { StageResult, StageStart, TrainingReporter } from '../../src/trainer/report/reporter.ts';
import { runStagedTraining } from '../../src/trainer/staged-training.ts';
import { planStages } from '../../src/trainer/stages/stage-plan.ts';
import { candidateStages, trialStage } from '../../src/trainer/stages/trials.ts';
import { minimalSpec, specErrors } from '../api/spec-fixtures.ts';
import { pretrainedBase, specFor, useWasm, workspace } from './support/workspace.ts';

const BACKEND = { name: 'wasm', source: 'test', gpu: false };

/** Everything a run reports about its trials and stages. */
function recorder() {
  const seen = {
    trials: [] as TrialStatus[][],
    trialStages: [] as StageStart[],
    stages: [] as StageStart[],
    ended: [] as StageResult[],
  };
  const reporter: TrainingReporter = {
    trialsUpdated: (trials) => seen.trials.push(structuredClone(trials)),
    trialStageStarted: (stage) => seen.trialStages.push(stage),
    stageStarted: (stage) => seen.stages.push(stage),
    stageEnded: (result) => seen.ended.push(result),
  };
  return { seen, reporter };
}

const STAGES: FineTuneJobSpecInput['stages'] = [
  { name: 'head', epochs: 3 },
  { name: 'fine-tune', epochs: 4, unfreeze: { policy: 'All' }, earlyStopping: { patience: 10 } },
];

describe('recipe trials (spec.trials)', () => {
  before(async () => {
    await useWasm();
    await pretrainedBase();
  });

  it('a candidate changes the unfrozen stages only, and a trial is a third of a stage (at least 3 epochs) or trials.epochs', () => {
    const valid = validateFineTuneJobSpec({
      ...minimalSpec(),
      stages: [
        { name: 'head', epochs: 30 },
        { name: 'top', epochs: 30, unfreeze: { policy: 'TopLayers', layers: 2 } },
        { name: 'all', epochs: 6, unfreeze: { policy: 'All' } },
      ],
    });
    assert.ok(valid.valid);
    const plan = planStages(valid.spec.stages, 10, valid.spec);
    const changed = candidateStages(plan, {
      name: 'slow',
      headOnly: false,
      learningRate: 1e-5,
      batchNormalization: 'Train',
    });
    assert.deepEqual(
      changed.map((s) => [s.name, s.optimizer.learningRate, s.batchNormalization]),
      [
        ['head', 1e-3, 'Frozen'],
        ['top', 1e-5, 'Train'],
        ['all', 1e-5, 'Train'],
      ],
    );
    assert.deepEqual(candidateStages(plan, { name: 'h', headOnly: true }), []);
    assert.deepEqual(
      changed.map((s) => trialStage(s, {}).epochs),
      [30, 10, 3],
    );
    assert.deepEqual(
      changed.map((s) => trialStage(s, { epochs: 2 }).epochs),
      [30, 2, 2],
    );
  });

  it('every trial starts from the same head, the best on the validation split wins (ties: the earlier), and it is trained to the end', async (t) => {
    const ws = await workspace(t);
    // Two identical candidates: the second scores exactly as the first only if it started from the same weights.
    const spec = specFor(ws, {
      stages: STAGES,
      trials: {
        epochs: 1,
        candidates: [
          { name: 'head-only', headOnly: true },
          { name: 'fast', learningRate: 1e-4 },
          { name: 'fast-again', learningRate: 1e-4 },
          { name: 'slow', learningRate: 1e-6 },
        ],
      },
    });
    const { seen, reporter } = recorder();
    const outcome = await runStagedTraining(spec, { reporters: [reporter], cacheDir: ws.dir, backend: BACKEND });

    const final = seen.trials.at(-1)!;
    assert.deepEqual(
      final.map((trial) => [trial.name, trial.state]),
      [
        ['head-only', 'Done'],
        ['fast', 'Done'],
        ['fast-again', 'Done'],
        ['slow', 'Done'],
      ],
    );
    const [headOnly, fast, fastAgain] = final;
    assert.deepEqual([headOnly!.epochs, headOnly!.endReason], [0, 'HeadOnly']);
    assert.equal(fastAgain!.valLoss, fast!.valLoss, 'the same candidate from the same start scores the same');
    assert.equal(fastAgain!.valAccuracy, fast!.valAccuracy);
    // Early stopping measures a trial against the head it starts from: a trial never scores worse than head only.
    assert.ok(
      final.every((trial) => trial.valLoss! <= headOnly!.valLoss!),
      JSON.stringify(final),
    );

    const lowest = Math.min(...final.map((trial) => trial.valLoss!));
    const winner = final.find((trial) => trial.valLoss === lowest)!;
    assert.deepEqual(
      final.filter((trial) => trial.selected).map((trial) => trial.name),
      [winner.name],
      'the first of the lowest validation losses',
    );
    assert.deepEqual(
      seen.trialStages.map((s) => [s.name, s.epochs]),
      [
        ['fast/fine-tune', 1],
        ['fast-again/fine-tune', 1],
        ['slow/fine-tune', 1],
      ],
    );

    // The winner then ran its stage to the end (a 1-epoch trial of a 4-epoch stage is not its whole run).
    const rates = { fast: 1e-4, 'fast-again': 1e-4, slow: 1e-6 } as Record<string, number>;
    if (winner.name === 'head-only') {
      assert.deepEqual(
        seen.stages.map((s) => s.name),
        ['head'],
      );
    } else {
      assert.deepEqual(
        seen.stages.map((s) => [s.name, s.learningRate]),
        [
          ['head', 1e-3],
          ['fine-tune', rates[winner.name]],
        ],
      );
    }
    const metadata = JSON.parse(await readFile(join(outcome.outputPath, 'metadata.json'), 'utf8')) as {
      trials: { selected: string; metric: string; results: TrialStatus[] };
    };
    assert.deepEqual([metadata.trials.selected, metadata.trials.metric], [winner.name, 'valLoss']);
    assert.deepEqual(metadata.trials.results, final);
  });

  it('keeps a winner whose trial was its whole run without training it again', async (t) => {
    const ws = await workspace(t);
    const spec = specFor(ws, {
      stages: STAGES,
      trials: {
        epochs: 4,
        metric: 'valAccuracy',
        candidates: [
          { name: 'fast', learningRate: 1e-4 },
          { name: 'slow', learningRate: 1e-5 },
        ],
      },
    });
    const { seen, reporter } = recorder();
    await runStagedTraining(spec, { reporters: [reporter], cacheDir: ws.dir, backend: BACKEND });
    const final = seen.trials.at(-1)!;
    assert.ok(
      final.every((trial) => trial.endReason === 'EpochsDone' || trial.endReason === 'EarlyStopped'),
      JSON.stringify(final),
    );
    const best = Math.max(...final.map((trial) => trial.valAccuracy!));
    assert.equal(final.find((trial) => trial.selected)!.name, final.find((trial) => trial.valAccuracy === best)!.name);
    assert.deepEqual(
      seen.stages.map((s) => s.name),
      ['head'],
      'the fine-tune stage is not run again',
    );
    assert.deepEqual(
      seen.ended.map((r) => r.name),
      ['head', 'fine-tune'],
      "the winner's trial is the fine-tune stage's result",
    );
  });

  it('an attempt interrupted after the trials resumes with the same winner, without trying again', async (t) => {
    const ws = await workspace(t);
    const spec = specFor(ws, {
      stages: STAGES,
      trials: {
        epochs: 1,
        candidates: [
          { name: 'fast', learningRate: 1e-4 },
          { name: 'slow', learningRate: 1e-6 },
        ],
      },
    });
    const interruption = new Interruption();
    const first = recorder();
    const stopInWinner: TrainingReporter = {
      stageStarted: (stage) => {
        if (stage.name === 'fine-tune') interruption.request('SIGTERM');
      },
    };
    await assert.rejects(
      runStagedTraining(spec, {
        reporters: [first.reporter, stopInWinner],
        cacheDir: ws.dir,
        backend: BACKEND,
        interruption,
      }),
      InterruptedError,
    );
    const decided = first.seen.trials.at(-1)!;
    assert.equal(decided.filter((trial) => trial.selected).length, 1);

    const second = recorder();
    await runStagedTraining(spec, { reporters: [second.reporter], cacheDir: ws.dir, backend: BACKEND });
    assert.deepEqual(second.seen.trialStages, [], 'no trial runs again');
    assert.deepEqual(second.seen.trials, [decided], 'the decided trials are reported as they were');
    const rate = decided.find((trial) => trial.selected)!.name === 'fast' ? 1e-4 : 1e-6;
    assert.deepEqual(
      second.seen.stages.map((s) => [s.name, s.learningRate]),
      [['fine-tune', rate]],
    );
  });

  it('refuses trials it cannot run, naming the field and the fix', () => {
    const base = minimalSpec();
    assert.match(
      specErrors({ ...base, stages: [{ name: 'head' }], trials: {} }).join('\n'),
      /spec\.trials: .*no stage unfreezes the base/,
    );
    assert.match(
      specErrors({
        ...base,
        trials: { candidates: [{ name: 'a', headOnly: true, learningRate: 1e-4 }, { name: 'b' }] },
      }).join('\n'),
      /spec\.trials\.candidates\[0\]\.learningRate: a headOnly candidate runs no unfrozen stage: remove learningRate/,
    );
    assert.match(
      specErrors({ ...base, trials: { candidates: [{ name: 'a', learningRate: 1e-3 }, { name: 'b' }] } }).join('\n'),
      /spec\.trials\.candidates\[0\]\.learningRate: 0\.001 is above 0\.0001/,
    );
    assert.match(
      specErrors({
        ...base,
        trials: { candidates: [{ name: 'a', unfreeze: { policy: 'None' } }, { name: 'b' }] },
      }).join('\n'),
      /spec\.trials\.candidates\[0\]\.unfreeze\.policy: .*set headOnly: true/,
    );
    assert.match(
      specErrors({
        ...base,
        trials: { candidates: [{ name: 'a', unfreeze: { policy: 'TopLayers' } }, { name: 'a' }] },
      }).join('\n'),
      /candidates\[0\]\.unfreeze\.layers: policy TopLayers needs layers[\s\S]*candidates\[1\]\.name: duplicate candidate name/,
    );
    const twoUnfrozen = [
      { name: 'head' },
      { name: 'top', unfreeze: { policy: 'TopLayers' as const, layers: 2 } },
      { name: 'all', unfreeze: { policy: 'All' as const } },
    ];
    assert.match(
      specErrors({
        ...base,
        stages: twoUnfrozen,
        trials: { candidates: [{ name: 'a', unfreeze: { policy: 'All' } }, { name: 'b' }] },
      }).join('\n'),
      /candidates\[0\]\.unfreeze: 2 stages unfreeze the base/,
    );
    const defaults = validateFineTuneJobSpec({ ...base, trials: {} });
    assert.ok(defaults.valid);
    assert.deepEqual(
      defaults.spec.trials!.candidates.map((c) => c.name),
      ['head-only', 'rate-1e-4', 'rate-1e-4-train-bn'],
    );
  });
});
