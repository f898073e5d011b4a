import { CustomObjectsApi, type KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import {
  API_VERSION,
  FINETUNEJOB,
  GROUP,
  type StageHistory,
  type StageStatus,
  TRAINER_FIELD_MANAGER,
  type TrainerStatus,
  VERSION,
} from '../../api/v1alpha1/index.ts';
import type { StageInProgress } from '../checkpoints/checkpoint-store.ts';
import { withEpoch } from './history.ts';
import type { StageResult, TrainingReporter } from './reporter.ts';

const MAX_SKIPPED_LISTED = 20;
/** How often a trainer checks that its job's name still belongs to its job. */
const UID_CHECK_INTERVAL_MS = 5_000;
/** The last status write is retried with doubling delays up to this one (0.5 + 1 + ... + 16 s: about half a minute). */
const LAST_WRITE_RETRY_MS = 16_000;

/** Four significant digits: what kubectl's columns and a person read (0.8723, not 0.87234567890123). */
const readable = (value: number) => Number(value.toPrecision(4));

/**
 * Reports progress to the FineTuneJob's status: server-side apply on the
 * status subresource as field manager "finetune-trainer", which owns
 * TRAINER_STATUS_FIELDS (src/api/v1alpha1/trainer-contract.ts) and nothing
 * else, so the operator's fields are never touched. Each transition is applied at
 * once (in order); stages completed by an earlier attempt come from the
 * checkpoint, so the history survives pod restarts.
 *
 * A trainer left running by a deleted job (--cascade=orphan) must not write
 * into a new job of the same name, and a server-side apply ignores a
 * metadata.uid that differs: with the job's UID known, the reporter reads
 * the job's UID before its writes (at most every few seconds, and always
 * before its last one, the interruption or failure) and stops writing for
 * good once it belongs to another job.
 */
export function jobStatusReporter(
  kc: KubeConfig,
  job: { namespace: string; name: string; uid?: string },
  warn: (message: string) => void,
): TrainingReporter & { flush(): Promise<void> } {
  const api = kc.makeApiClient(CustomObjectsApi);
  const status: TrainerStatus & { stages: StageStatus[]; skippedFiles: string[] } = { stages: [], skippedFiles: [] };
  let chain = Promise.resolve();
  let resumedAt: StageInProgress | undefined;
  const where = {
    group: GROUP,
    version: VERSION,
    namespace: job.namespace,
    plural: FINETUNEJOB.plural,
    name: job.name,
  };
  let checkedAt = 0;
  let foreign = false;
  /** Whether the job of this name is still the one this trainer runs for (`always`: check now). */
  const stillOurs = async (always: boolean): Promise<boolean> => {
    if (foreign) return false;
    if (!job.uid || (!always && Date.now() - checkedAt < UID_CHECK_INTERVAL_MS)) return true;
    const current = (await api.getNamespacedCustomObject(where).catch(() => undefined)) as
      { metadata?: { uid?: string } } | undefined;
    if (current?.metadata?.uid && current.metadata.uid !== job.uid) {
      foreign = true;
      warn(
        `FineTuneJob ${job.namespace}/${job.name} is another job now (uid ${current.metadata.uid}, not ${job.uid}): this trainer's job was deleted; no more status writes`,
      );
      return false;
    }
    checkedAt = Date.now();
    return true;
  };
  /**
   * Each write carries the whole status, so a failed one is made good by the next. The last has no next:
   * it is retried with backoff (about half a minute, an API server restart), so an outage at the end of a
   * run does not lose the stage history of a job that then succeeds.
   */
  const apply = (last = false) => {
    const write = async () => {
      if (!(await stillOurs(last))) return;
      // The state when the write goes out (earlier states it skips are older).
      const body = {
        apiVersion: API_VERSION,
        kind: FINETUNEJOB.kind,
        metadata: { name: job.name, namespace: job.namespace },
        status: structuredClone(status),
      };
      await api.patchNamespacedCustomObjectStatus(
        { ...where, body, fieldManager: TRAINER_FIELD_MANAGER, force: true },
        setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
      );
    };
    const retried = async () => {
      for (let delay = 500; ; delay *= 2) {
        try {
          await write();
          return;
        } catch (err) {
          if (!last || delay > LAST_WRITE_RETRY_MS) throw err;
          await new Promise((resolve) => setTimeout(resolve, delay));
        }
      }
    };
    chain = chain.then(retried).then(
      () => undefined,
      (err: unknown) =>
        warn(`could not report status to FineTuneJob ${job.namespace}/${job.name}: ${String(err).split('\n')[0]}`),
    );
  };
  const upsert = (entry: StageStatus) => {
    status.stages = [...status.stages.filter((s) => s.name !== entry.name), entry];
  };
  const completed = (result: StageResult): StageStatus => ({
    name: result.name,
    state: 'Succeeded',
    startTime: result.startTime,
    endTime: result.endTime,
    epochsRun: result.epochsRun,
    monitor: result.monitor,
    endReason: result.endReason,
    ...(result.bestEpoch !== undefined ? { bestEpoch: result.bestEpoch } : {}),
    ...(result.bestValue !== undefined ? { bestValue: readable(result.bestValue) } : {}),
  });
  return {
    resumed: (done, inProgress) => {
      for (const result of done) upsert(completed(result));
      resumedAt = inProgress;
      // The curves of the stages an earlier attempt trained: kept, as the status has them.
      chain = chain.then(async () => {
        const current = (await api.getNamespacedCustomObject(where).catch(() => undefined)) as
          { status?: { history?: StageHistory[] } } | undefined;
        const earlier = (current?.status?.history ?? []).filter(
          (h) => !(status.history ?? []).some((n) => n.stage === h.stage),
        );
        status.history = [...earlier, ...(status.history ?? [])];
      });
      apply();
    },
    stageStarted: (stage) => {
      status.stage = stage.name;
      // A stage taken up where an earlier attempt stopped says so, with the epochs it already has.
      const from = resumedAt?.stage === stage.name ? resumedAt : undefined;
      const message = from
        ? `resumed at epoch ${from.epoch + 1}${from.batch !== undefined ? `, batch ${from.batch + 1}` : ''} from the checkpoint`
        : undefined;
      upsert({
        name: stage.name,
        state: 'Running',
        startTime: new Date().toISOString(),
        epochsRun: from?.epoch ?? 0,
        ...(message ? { message } : {}),
      });
      status.progress = { epoch: from?.epoch ?? 0, totalEpochs: stage.epochs };
      apply();
    },
    epochEnded: (e) => {
      const current = status.stages.find((s) => s.name === e.stage);
      if (current) upsert({ ...current, epochsRun: e.epoch });
      status.history = withEpoch(status.history ?? [], e, readable);
      status.progress = {
        percent: Math.round(e.percent * 10) / 10,
        epoch: e.epoch,
        totalEpochs: e.epochs,
        eta: e.eta.toISOString(),
      };
      status.metrics = {
        epoch: e.epoch,
        samplesPerSecond: Math.round(e.samplesPerSecond * 10) / 10,
        updateTime: new Date().toISOString(),
        ...(e.metrics.loss !== undefined ? { loss: readable(e.metrics.loss) } : {}),
        ...(e.metrics.acc !== undefined ? { accuracy: readable(e.metrics.acc) } : {}),
        ...(e.metrics.val_loss !== undefined ? { valLoss: readable(e.metrics.val_loss) } : {}),
        ...(e.metrics.val_acc !== undefined ? { valAccuracy: readable(e.metrics.val_acc) } : {}),
      };
      apply();
    },
    stageEnded: (result) => {
      upsert(completed(result));
      apply();
    },
    trialStageStarted: (stage) => {
      status.stage = stage.name;
      status.progress = { ...status.progress, epoch: 0, totalEpochs: stage.epochs };
      apply();
    },
    trialsUpdated: (trials) => {
      status.trials = trials.map((trial) => ({
        ...trial,
        ...(trial.valLoss !== undefined ? { valLoss: readable(trial.valLoss) } : {}),
        ...(trial.valAccuracy !== undefined ? { valAccuracy: readable(trial.valAccuracy) } : {}),
      }));
      apply();
    },
    fileSkipped: (file) => {
      if (status.skippedFiles.length < MAX_SKIPPED_LISTED) {
        status.skippedFiles = [...status.skippedFiles, file];
        apply();
      }
    },
    exporting: () => {
      status.stage = 'export';
      apply();
    },
    datasetFingerprinted: (fingerprint) => {
      status.datasetFingerprint = fingerprint;
      apply();
    },
    // Written with the export's last apply.
    evaluated: (evaluation) => {
      const { scratchAccuracy, transferGain } = evaluation;
      status.evaluation = {
        ...evaluation,
        accuracy: readable(evaluation.accuracy),
        macroPrecision: readable(evaluation.macroPrecision),
        macroRecall: readable(evaluation.macroRecall),
        ...(scratchAccuracy !== undefined ? { scratchAccuracy: readable(scratchAccuracy) } : {}),
        ...(transferGain !== undefined ? { transferGain: readable(transferGain) } : {}),
      };
    },
    promotionDecided: (decision) => {
      status.promotion = decision;
    },
    exported: (info) => {
      // Done: no stage runs any more (omitting the field from the apply removes it).
      delete status.stage;
      status.outputURI = info.path;
      status.progress = { ...status.progress, percent: 100 };
      apply(true);
    },
    interrupted: (error) => {
      const running = status.stages.find((s) => s.state === 'Running');
      if (running) {
        const epochsRun = error.position ? error.position.epoch : running.epochsRun;
        upsert({
          ...running,
          state: 'Interrupted',
          epochsRun,
          endTime: new Date().toISOString(),
          endReason: 'Interrupted',
          message: `${error.message}; the next attempt resumes there`,
        });
      }
      apply(true);
    },
    failed: (error) => {
      const running = status.stages.find((s) => s.state === 'Running');
      if (running)
        upsert({
          ...running,
          state: 'Failed',
          endTime: new Date().toISOString(),
          endReason: 'Error',
          message: error.message.slice(0, 1000),
        });
      apply(true);
    },
    flush: () => chain,
  };
}
