import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { metricsReporter } from '../../src/trainer/report/metrics-reporter.ts';

describe('trainer Prometheus metrics', () => {
  it('serves the current stage, epoch metrics, throughput and progress on /metrics', async (t) => {
    const reporter = metricsReporter();
    const server = await reporter.listen(0);
    t.after(() => server.close());
    reporter.stageStarted!({
      name: 'head',
      index: 0,
      total: 2,
      epochs: 5,
      learningRate: 1e-3,
      trainableBaseLayers: 0,
      unfrozen: 'base frozen',
      cachedFeatures: true,
    });
    reporter.stageStarted!({
      name: 'fine-tune',
      index: 1,
      total: 2,
      epochs: 3,
      learningRate: 1e-5,
      trainableBaseLayers: 12,
      unfrozen: 'all 12 base layers unfrozen (12 with weights)',
      cachedFeatures: false,
    });
    reporter.epochEnded!({
      stage: 'fine-tune',
      epoch: 2,
      epochs: 3,
      metrics: { loss: 0.5, val_acc: 0.875 },
      samplesPerSecond: 123,
      percent: 87.5,
      eta: new Date(),
    });
    reporter.fileSkipped!('/data/broken.jpg', 'bad');

    const response = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`);
    const body = await response.text();
    assert.match(body, /^finetune_trainer_stage\{stage="fine-tune"\} 1$/m);
    assert.doesNotMatch(body, /finetune_trainer_stage\{stage="head"\}/, 'only the current stage is 1');
    assert.match(body, /^finetune_trainer_epoch\{stage="fine-tune"\} 2$/m);
    assert.match(body, /^finetune_trainer_validation_accuracy\{stage="fine-tune"\} 0\.875$/m);
    assert.match(body, /^finetune_trainer_samples_per_second\{stage="fine-tune"\} 123$/m);
    assert.match(body, /^finetune_trainer_progress_ratio 0\.875$/m);
    assert.match(body, /^finetune_trainer_skipped_files_total 1$/m);
    assert.doesNotMatch(body, /finetune_trainer_validation_loss\{/, 'a metric that was not reported has no series');
  });

  it("serves each trial's validation figures and, once decided, which was selected", async () => {
    const reporter = metricsReporter();
    const trial = { settings: '', state: 'Done' as const, epochs: 3 };
    reporter.trialsUpdated!([
      { ...trial, name: 'head-only', valLoss: 0.7, valAccuracy: 0.6 },
      { ...trial, name: 'fast', state: 'Running' },
    ]);
    let body = await reporter.registry.metrics();
    assert.match(body, /^finetune_trainer_trial_validation_loss\{trial="head-only"\} 0\.7$/m);
    assert.doesNotMatch(
      body,
      /finetune_trainer_trial_validation_loss\{trial="fast"\}/,
      'a running trial has no figure yet',
    );
    assert.doesNotMatch(body, /finetune_trainer_trial_selected\{/, 'nothing is selected before the trials end');
    reporter.trialsUpdated!([
      { ...trial, name: 'head-only', valLoss: 0.7, valAccuracy: 0.6 },
      { ...trial, name: 'fast', valLoss: 0.5, valAccuracy: 0.8, selected: true },
    ]);
    body = await reporter.registry.metrics();
    assert.match(body, /^finetune_trainer_trial_validation_accuracy\{trial="fast"\} 0\.8$/m);
    assert.match(body, /^finetune_trainer_trial_selected\{trial="fast"\} 1$/m);
    assert.match(body, /^finetune_trainer_trial_selected\{trial="head-only"\} 0$/m);
  });
});
