import type { TrainingReporter } from './reporter.ts';

const fixed = (v: number | undefined, digits = 4) => (v === undefined ? '-' : v.toFixed(digits));

/** Human-readable progress for the pod log (kubectl logs) and the CLI. */
export function consoleReporter(
  write: (line: string) => void = (line) => process.stdout.write(`${line}\n`),
): TrainingReporter {
  const now = () => new Date().toISOString();
  return {
    started: (i) =>
      write(
        `${now()} backend ${i.backend} (${i.source}${i.gpu ? ', GPU' : ''}); ${i.train} training and ${i.validation} validation examples; classes: ${i.classes.join(', ')}`,
      ),
    batchNormAdapted: (...a) => write(`${now()} ${batchNormAdaptedMessage(a)}`),
    resumed: (...r) => write(`${now()} ${resumedMessage(...r)}`),
    checkpointDiscarded: (reason) => write(`${now()} ${reason}`),
    checkpointUploaded: (u) =>
      write(`${now()} checkpoint committed to ${u.uri}: ${(u.bytes / 1e6).toFixed(1)} MB in ${u.seconds.toFixed(2)} s`),
    stageStarted: (s) =>
      write(
        `${now()} stage ${s.index + 1}/${s.total} "${s.name}": up to ${s.epochs} epochs, learning rate ${s.learningRate}, ${s.unfrozen}${s.cachedFeatures ? ', head on cached base features' : ''}`,
      ),
    epochEnded: (e) =>
      write(
        `${now()} [${e.stage}] epoch ${e.epoch}/${e.epochs} loss=${fixed(e.metrics.loss)} acc=${fixed(e.metrics.acc)} val_loss=${fixed(e.metrics.val_loss)} val_acc=${fixed(e.metrics.val_acc)} ${e.samplesPerSecond.toFixed(0)} samples/s ${e.percent.toFixed(0)}% ETA ${e.eta.toISOString()}`,
      ),
    stageEnded: (r) =>
      write(
        `${now()} stage "${r.name}" ended (${r.endReason}) after ${r.epochsRun} epochs; best ${r.monitor}=${fixed(r.bestValue)} at epoch ${r.bestEpoch ?? '-'}`,
      ),
    trialStageStarted: (s) =>
      write(
        `${now()} trial stage "${s.name}": up to ${s.epochs} epochs, learning rate ${s.learningRate}, ${s.unfrozen}`,
      ),
    trialsUpdated: (trials) => {
      const selected = trials.find((t) => t.selected);
      const last = trials.at(-1)!;
      if (selected)
        write(
          `${now()} trials: selected "${selected.name}" (${selected.settings}) of ${trials.map((t) => `${t.name} val_loss=${fixed(t.valLoss)} val_acc=${fixed(t.valAccuracy)}`).join('; ')}`,
        );
      else if (last.state === 'Running') write(`${now()} trial ${trials.length} "${last.name}": ${last.settings}`);
      else
        write(
          `${now()} trial "${last.name}" ended (${last.endReason}) after ${last.epochs} epochs: val_loss=${fixed(last.valLoss)} val_acc=${fixed(last.valAccuracy)}`,
        );
    },
    fileSkipped: (file, reason) => write(`${now()} WARNING skipped unreadable file ${file}: ${reason}`),
    evaluated: (e) =>
      write(
        `${now()} test set: accuracy ${e.accuracy.toFixed(4)} on ${e.examples} examples (macro precision ${e.macroPrecision.toFixed(4)}, recall ${e.macroRecall.toFixed(4)})${e.scratchAccuracy === undefined ? '' : `; from scratch ${e.scratchAccuracy.toFixed(4)}, transfer ${e.transferGain! >= 0 ? 'gained' : 'lost'} ${Math.abs(e.transferGain! * 100).toFixed(1)} points`}; report ${e.report}`,
      ),
    promotionDecided: (d) => write(`${now()} ${d.promoted ? 'promoted' : 'not promoted'} (${d.pointer}): ${d.message}`),
    exported: (i) => write(`${now()} exported the fine-tuned model to ${i.path}`),
    failed: (err) => write(`${now()} FAILED: ${err.message}`),
    interrupted: (err) => write(`${now()} INTERRUPTED: ${err.message}`),
  };
}

type Reported<K extends keyof TrainingReporter> = Parameters<NonNullable<TrainingReporter[K]>>;

function batchNormAdaptedMessage([a]: Reported<'batchNormAdapted'>): string {
  if (a.stage !== undefined)
    return (
      `stage "${a.stage}" (batchNormalization Train): the statistics of the ${a.layers} BatchNormalization ` +
      `layers it trains re-estimated on ${a.examples} training examples before its first epoch`
    );
  const adapted = a.layers
    ? `the statistics of ${a.layers} BatchNormalization layers re-estimated on ${a.examples} training examples`
    : 'the base has no BatchNormalization layer to adapt (or no readable example)';
  return `spec.model.batchNormStatistics Adapt: ${adapted}`;
}

function resumedMessage(...[done, inProgress]: Reported<'resumed'>): string {
  const names = done.map((s) => `"${s.name}"`).join(', ');
  const completed = done.length
    ? `stage${done.length > 1 ? 's' : ''} ${names} already completed, not run again`
    : 'no stage completed yet';
  if (!inProgress) return `resuming from checkpoint: ${completed}`;
  const where =
    inProgress.batch !== undefined
      ? `at epoch ${inProgress.epoch + 1}, batch ${inProgress.batch + 1}, where the last attempt was stopped ` +
        '(optimizer and early stopping state restored)'
      : `after epoch ${inProgress.epoch}`;
  return `resuming from checkpoint: ${completed}; stage "${inProgress.stage}" continues ${where}`;
}
