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
  job: JobRef,
  warn: (message: string) => void,
): TrainingReporter & { flush(): Promise<void> } {
  return new JobStatusReporter(kc, job, warn);
}

type Reporter = Required<TrainingReporter>;
type JobRef = { namespace: string; name: string; uid?: string };

class JobStatusReporter implements TrainingReporter {
  private readonly api: CustomObjectsApi;
  private readonly job: JobRef;
  private readonly warn: (message: string) => void;
  private readonly where: { group: string; version: string; namespace: string; plural: string; name: string };
  private readonly status: TrainerStatus & { stages: StageStatus[]; skippedFiles: string[] } = {
    stages: [],
    skippedFiles: [],
  };
  /** The writes in order, each after the one before. */
  private chain = Promise.resolve();
  private resumedAt: StageInProgress | undefined;
  private checkedAt = 0;
  /** The job's name belongs to another job now: no more writes. */
  private foreign = false;

  constructor(kc: KubeConfig, job: JobRef, warn: (message: string) => void) {
    this.api = kc.makeApiClient(CustomObjectsApi);
    this.job = job;
    this.warn = warn;
    this.where = {
      group: GROUP,
      version: VERSION,
      namespace: job.namespace,
      plural: FINETUNEJOB.plural,
      name: job.name,
    };
  }

  resumed: Reporter['resumed'] = (done, inProgress) => {
    for (const result of done) this.upsert(completedStage(result));
    this.resumedAt = inProgress;
    // The curves of the stages an earlier attempt trained: kept, as the status has them.
    this.chain = this.chain.then(async () => {
      const current = (await this.api.getNamespacedCustomObject(this.where).catch(() => undefined)) as
        { status?: { history?: StageHistory[] } } | undefined;
      const earlier = (current?.status?.history ?? []).filter(
        (h) => !(this.status.history ?? []).some((n) => n.stage === h.stage),
      );
      this.status.history = [...earlier, ...(this.status.history ?? [])];
    });
    this.apply();
  };
  stageStarted: Reporter['stageStarted'] = (stage) => {
    this.status.stage = stage.name;
    // A stage taken up where an earlier attempt stopped says so, with the epochs it already has.
    const from = this.resumedAt?.stage === stage.name ? this.resumedAt : undefined;
    const message = from
      ? `resumed at epoch ${from.epoch + 1}${from.batch !== undefined ? `, batch ${from.batch + 1}` : ''} from the checkpoint`
      : undefined;
    this.upsert({
      name: stage.name,
      state: 'Running',
      startTime: new Date().toISOString(),
      epochsRun: from?.epoch ?? 0,
      ...(message ? { message } : {}),
    });
    this.status.progress = { epoch: from?.epoch ?? 0, totalEpochs: stage.epochs };
    this.apply();
  };
  epochEnded: Reporter['epochEnded'] = (e) => {
    const current = this.status.stages.find((s) => s.name === e.stage);
    if (current) this.upsert({ ...current, epochsRun: e.epoch });
    this.status.history = withEpoch(this.status.history ?? [], e, readable);
    this.status.progress = {
      percent: Math.round(e.percent * 10) / 10,
      epoch: e.epoch,
      totalEpochs: e.epochs,
      eta: e.eta.toISOString(),
    };
    this.status.metrics = {
      epoch: e.epoch,
      samplesPerSecond: Math.round(e.samplesPerSecond * 10) / 10,
      updateTime: new Date().toISOString(),
      ...(e.metrics.loss !== undefined ? { loss: readable(e.metrics.loss) } : {}),
      ...(e.metrics.acc !== undefined ? { accuracy: readable(e.metrics.acc) } : {}),
      ...(e.metrics.val_loss !== undefined ? { valLoss: readable(e.metrics.val_loss) } : {}),
      ...(e.metrics.val_acc !== undefined ? { valAccuracy: readable(e.metrics.val_acc) } : {}),
    };
    this.apply();
  };
  stageEnded: Reporter['stageEnded'] = (result) => {
    this.upsert(completedStage(result));
    this.apply();
  };
  trialStageStarted: Reporter['trialStageStarted'] = (stage) => {
    this.status.stage = stage.name;
    this.status.progress = { ...this.status.progress, epoch: 0, totalEpochs: stage.epochs };
    this.apply();
  };
  trialsUpdated: Reporter['trialsUpdated'] = (trials) => {
    this.status.trials = trials.map((trial) => ({
      ...trial,
      ...(trial.valLoss !== undefined ? { valLoss: readable(trial.valLoss) } : {}),
      ...(trial.valAccuracy !== undefined ? { valAccuracy: readable(trial.valAccuracy) } : {}),
    }));
    this.apply();
  };
  fileSkipped: Reporter['fileSkipped'] = (file) => {
    if (this.status.skippedFiles.length < MAX_SKIPPED_LISTED) {
      this.status.skippedFiles = [...this.status.skippedFiles, file];
      this.apply();
    }
  };
  exporting: Reporter['exporting'] = () => {
    this.status.stage = 'export';
    this.apply();
  };
  datasetFingerprinted: Reporter['datasetFingerprinted'] = (fingerprint) => {
    this.status.datasetFingerprint = fingerprint;
    this.apply();
  };
  // Written with the export's last apply.
  evaluated: Reporter['evaluated'] = (evaluation) => {
    const { scratchAccuracy, transferGain } = evaluation;
    this.status.evaluation = {
      ...evaluation,
      accuracy: readable(evaluation.accuracy),
      macroPrecision: readable(evaluation.macroPrecision),
      macroRecall: readable(evaluation.macroRecall),
      ...(scratchAccuracy !== undefined ? { scratchAccuracy: readable(scratchAccuracy) } : {}),
      ...(transferGain !== undefined ? { transferGain: readable(transferGain) } : {}),
    };
  };
  promotionDecided: Reporter['promotionDecided'] = (decision) => {
    this.status.promotion = decision;
  };
  exported: Reporter['exported'] = (info) => {
    // Done: no stage runs any more (omitting the field from the apply removes it).
    delete this.status.stage;
    this.status.outputURI = info.path;
    this.status.progress = { ...this.status.progress, percent: 100 };
    this.apply(true);
  };
  interrupted: Reporter['interrupted'] = (error) => {
    const running = this.status.stages.find((s) => s.state === 'Running');
    if (running) {
      const epochsRun = error.position ? error.position.epoch : running.epochsRun;
      this.upsert({
        ...running,
        state: 'Interrupted',
        epochsRun,
        endTime: new Date().toISOString(),
        endReason: 'Interrupted',
        message: `${error.message}; the next attempt resumes there`,
      });
    }
    this.apply(true);
  };
  failed: Reporter['failed'] = (error) => {
    const running = this.status.stages.find((s) => s.state === 'Running');
    if (running)
      this.upsert({
        ...running,
        state: 'Failed',
        endTime: new Date().toISOString(),
        endReason: 'Error',
        message: error.message.slice(0, 1000),
      });
    this.apply(true);
  };

  flush = (): Promise<void> => this.chain;

  private upsert(entry: StageStatus): void {
    this.status.stages = [...this.status.stages.filter((s) => s.name !== entry.name), entry];
  }

  /** Whether the job of this name is still the one this trainer runs for (`always`: check now). */
  private async stillOurs(always: boolean): Promise<boolean> {
    if (this.foreign) return false;
    if (!this.job.uid || (!always && Date.now() - this.checkedAt < UID_CHECK_INTERVAL_MS)) return true;
    const current = (await this.api.getNamespacedCustomObject(this.where).catch(() => undefined)) as
      { metadata?: { uid?: string } } | undefined;
    if (current?.metadata?.uid && current.metadata.uid !== this.job.uid) {
      this.foreign = true;
      this.warn(
        `FineTuneJob ${this.job.namespace}/${this.job.name} is another job now (uid ${current.metadata.uid}, not ${this.job.uid}): this trainer's job was deleted; no more status writes`,
      );
      return false;
    }
    this.checkedAt = Date.now();
    return true;
  }

  /**
   * Each write carries the whole status, so a failed one is made good by the next. The last has no next:
   * it is retried with backoff (about half a minute, an API server restart), so an outage at the end of a
   * run does not lose the stage history of a job that then succeeds.
   */
  private apply(last = false): void {
    this.chain = this.chain
      .then(() => this.writeWithRetries(last))
      .then(
        () => undefined,
        (err: unknown) =>
          this.warn(
            `could not report status to FineTuneJob ${this.job.namespace}/${this.job.name}: ${String(err).split('\n')[0]}`,
          ),
      );
  }

  /** The last write is retried with doubling delays (0.5 s up to LAST_WRITE_RETRY_MS); others fail at once. */
  private async writeWithRetries(last: boolean): Promise<void> {
    for (let delay = 500; ; delay *= 2) {
      try {
        await this.write(last);
        return;
      } catch (err) {
        if (!last || delay > LAST_WRITE_RETRY_MS) throw err;
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }

  /** One server-side apply of the whole status as it is when the write goes out (earlier states it skips are older). */
  private async write(last: boolean): Promise<void> {
    if (!(await this.stillOurs(last))) return;
    const body = {
      apiVersion: API_VERSION,
      kind: FINETUNEJOB.kind,
      metadata: { name: this.job.name, namespace: this.job.namespace },
      status: structuredClone(this.status),
    };
    await this.api.patchNamespacedCustomObjectStatus(
      { ...this.where, body, fieldManager: TRAINER_FIELD_MANAGER, force: true },
      setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
    );
  }
}

function completedStage(result: StageResult): StageStatus {
  return {
    name: result.name,
    state: 'Succeeded',
    startTime: result.startTime,
    endTime: result.endTime,
    epochsRun: result.epochsRun,
    monitor: result.monitor,
    endReason: result.endReason,
    ...(result.bestEpoch !== undefined ? { bestEpoch: result.bestEpoch } : {}),
    ...(result.bestValue !== undefined ? { bestValue: readable(result.bestValue) } : {}),
  };
}
