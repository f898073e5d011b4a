import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Registry } from 'prom-client';
import type { TrainingReporter } from './reporter.ts';

/**
 * Prometheus metrics of a running trainer (finetune_trainer_*), per stage,
 * served on /metrics while it trains so a PodMonitor can scrape them.
 */
export function metricsReporter(
  registry = new Registry(),
): TrainingReporter & { registry: Registry; listen(port: number): Promise<Server> } {
  const gauge = (name: string, help: string, labelNames: string[] = ['stage']) =>
    new Gauge({ name, help, labelNames, registers: [registry] });
  const stageInfo = gauge(
    'finetune_trainer_stage',
    'The stage running now (1 for the current stage label, 0 for others).',
  );
  const epoch = gauge('finetune_trainer_epoch', 'Epochs completed in the stage.');
  const loss = gauge('finetune_trainer_loss', 'Training loss of the last epoch.');
  const valLoss = gauge('finetune_trainer_validation_loss', 'Validation loss of the last epoch.');
  const accuracy = gauge('finetune_trainer_accuracy', 'Training accuracy of the last epoch.');
  const valAccuracy = gauge('finetune_trainer_validation_accuracy', 'Validation accuracy of the last epoch.');
  const best = gauge('finetune_trainer_best_monitored_value', "Best value of the stage's monitored metric.", [
    'stage',
    'monitor',
  ]);
  const throughput = gauge('finetune_trainer_samples_per_second', 'Training throughput of the last epoch.');
  const progress = gauge('finetune_trainer_progress_ratio', 'Share of all planned epochs done (0-1).', []);
  const testAccuracy = gauge(
    'finetune_trainer_test_accuracy',
    'Accuracy of the exported model on the test set (spec.evaluation).',
    [],
  );
  const trialLoss = gauge(
    'finetune_trainer_trial_validation_loss',
    'Validation loss after each recipe trial (spec.trials).',
    ['trial'],
  );
  const trialAccuracy = gauge(
    'finetune_trainer_trial_validation_accuracy',
    'Validation accuracy after each recipe trial (spec.trials).',
    ['trial'],
  );
  const trialSelected = gauge('finetune_trainer_trial_selected', 'The recipe trial trained to the end (1), others 0.', [
    'trial',
  ]);
  const skipped = new Counter({
    name: 'finetune_trainer_skipped_files_total',
    help: 'Dataset files skipped as unreadable.',
    registers: [registry],
  });
  // A trial's stage is the stage running now, as much as one of the spec's.
  const running = (s: { name: string }) => {
    stageInfo.reset();
    stageInfo.set({ stage: s.name }, 1);
  };
  return {
    registry,
    stageStarted: running,
    epochEnded: (e) => {
      const labels = { stage: e.stage };
      epoch.set(labels, e.epoch);
      throughput.set(labels, e.samplesPerSecond);
      progress.set(e.percent / 100);
      const set = (g: Gauge, v: number | undefined) => {
        if (v !== undefined) g.set(labels, v);
      };
      set(loss, e.metrics.loss);
      set(valLoss, e.metrics.val_loss);
      set(accuracy, e.metrics.acc);
      set(valAccuracy, e.metrics.val_acc);
    },
    stageEnded: (r) => {
      if (r.bestValue !== undefined) best.set({ stage: r.name, monitor: r.monitor }, r.bestValue);
    },
    trialStageStarted: running,
    trialsUpdated: (trials) => {
      for (const trial of trials) {
        if (trial.valLoss !== undefined) trialLoss.set({ trial: trial.name }, trial.valLoss);
        if (trial.valAccuracy !== undefined) trialAccuracy.set({ trial: trial.name }, trial.valAccuracy);
        if (trials.some((t) => t.selected)) trialSelected.set({ trial: trial.name }, trial.selected ? 1 : 0);
      }
    },
    fileSkipped: () => skipped.inc(),
    evaluated: (e) => testAccuracy.set(e.accuracy),
    listen: (port) =>
      new Promise((resolve) => {
        const server = createServer((req, res) => {
          if (req.url !== '/metrics') {
            res.writeHead(404).end();
            return;
          }
          void registry
            .metrics()
            .then((body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body));
        });
        server.listen(port, () => resolve(server));
      }),
  };
}
