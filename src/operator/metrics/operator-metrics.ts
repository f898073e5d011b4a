import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { FineTuneJobStatus, FineTuneScheduleStatus } from '../../api/v1alpha1/index.ts';
import { RUN_OUTCOMES, type RunOutcome } from '../reconcile/schedule-reconciler.ts';
import type { WorkQueueMetrics } from '../runtime/work-queue.ts';

/** The controllers, as controller-runtime names them in its metrics' `controller` label. */
export type ControllerName = 'finetunejob' | 'finetuneschedule';
const JOBS: ControllerName = 'finetunejob';

interface Cached<Status> {
  metadata?: { name?: string; namespace?: string; creationTimestamp?: Date | string } | undefined;
  status?: Status | undefined;
}
type CachedJob = Cached<FineTuneJobStatus>;
type CachedSchedule = Cached<FineTuneScheduleStatus>;

const seconds = (time: Date | string | undefined) => (time ? new Date(time).getTime() / 1000 : undefined);

/**
 * The operator's Prometheus metrics: controller-runtime's names and labels
 * (so dashboards for Go operators work unchanged), process metrics, and the
 * FineTuneJob domain metrics. Job gauges are built at scrape time from the
 * informer cache: a deleted job's series disappears with it.
 */
export class OperatorMetrics {
  readonly registry = new Registry();
  private readonly reconcileTotal: Counter;
  private readonly reconcileErrors: Counter;
  private readonly reconcileTime: Histogram;
  private readonly activeWorkers: Gauge;
  private readonly restRequests: Counter;
  private readonly leader: Gauge;
  private readonly standby: Gauge;
  private readonly stageTransitions: Counter;
  private readonly stageDuration: Histogram;
  private readonly jobDuration: Histogram;
  private readonly retries: Counter;
  private readonly scheduleRuns: Counter;

  constructor(
    jobs: () => CachedJob[],
    options: { workers: Record<ControllerName, number>; schedules?: () => CachedSchedule[] },
  ) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.reconcileTotal = new Counter({
      name: 'controller_runtime_reconcile_total',
      help: 'Total number of reconciliations per controller.',
      labelNames: ['controller', 'result'],
      registers,
    });
    this.reconcileErrors = new Counter({
      name: 'controller_runtime_reconcile_errors_total',
      help: 'Total number of reconciliation errors per controller.',
      labelNames: ['controller'],
      registers,
    });
    this.reconcileTime = new Histogram({
      name: 'controller_runtime_reconcile_time_seconds',
      help: 'Length of time per reconciliation per controller.',
      labelNames: ['controller'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    this.activeWorkers = new Gauge({
      name: 'controller_runtime_active_workers',
      help: 'Number of currently used workers per controller.',
      labelNames: ['controller'],
      registers,
    });
    const maxReconciles = new Gauge({
      name: 'controller_runtime_max_concurrent_reconciles',
      help: 'Maximum number of concurrent reconciles per controller.',
      labelNames: ['controller'],
      registers,
    });
    for (const [controller, workers] of Object.entries(options.workers)) maxReconciles.set({ controller }, workers);
    this.restRequests = new Counter({
      name: 'rest_client_requests_total',
      help: 'Number of HTTP requests, partitioned by status code and method.',
      labelNames: ['code', 'method'],
      registers,
    });
    this.leader = new Gauge({
      name: 'leader_election_master_status',
      help: '1 when this replica is the leader.',
      labelNames: ['name'],
      registers,
    });
    this.standby = new Gauge({
      name: 'finetune_operator_standing_by',
      help: '1 while this leader stands by because another operator reconciles some of its namespaces (see its log and /readyz).',
      registers,
    });
    this.stageTransitions = new Counter({
      name: 'finetune_stage_transitions_total',
      help: 'Stage transitions reported by trainers, by the stage entered.',
      labelNames: ['stage'],
      registers,
    });
    this.stageDuration = new Histogram({
      name: 'finetune_stage_duration_seconds',
      help: 'Duration of completed stages.',
      labelNames: ['stage'],
      buckets: [10, 30, 60, 300, 900, 1800, 3600, 7200, 14400, 43200],
      registers,
    });
    this.jobDuration = new Histogram({
      name: 'finetune_job_duration_seconds',
      help: 'Duration of finished jobs, start to completion.',
      labelNames: ['result'],
      buckets: [60, 300, 900, 1800, 3600, 7200, 14400, 43200, 86400],
      registers,
    });
    this.retries = new Counter({
      name: 'finetune_job_retries_total',
      help: 'New trainer attempts after a failure, by reason.',
      labelNames: ['reason'],
      registers,
    });
    this.scheduleRuns = new Counter({
      name: 'finetune_schedule_runs_total',
      help: 'Runs of FineTuneSchedules: created, skipped (Forbid), missed (deadline), replaced, and finished as succeeded or failed.',
      labelNames: ['namespace', 'schedule', 'result'],
      registers,
    });
    const schedules = options.schedules ?? (() => []);
    const scheduleGauge = (name: string, help: string, value: (schedule: CachedSchedule) => number | undefined) =>
      new Gauge({
        name,
        help,
        labelNames: ['namespace', 'schedule'],
        registers,
        collect() {
          this.reset();
          for (const schedule of schedules()) {
            const v = value(schedule);
            if (v !== undefined)
              this.set({ namespace: schedule.metadata?.namespace ?? '', schedule: schedule.metadata?.name ?? '' }, v);
          }
        },
      });
    // Timestamps, not ages, as Prometheus recommends: an alert takes time() - x (retraining that silently stopped).
    scheduleGauge('finetune_schedule_created_timestamp_seconds', 'When the schedule was created (Unix seconds).', (s) =>
      seconds(s.metadata?.creationTimestamp),
    );
    scheduleGauge(
      'finetune_schedule_last_success_timestamp_seconds',
      'When a run of the schedule last succeeded (Unix seconds).',
      (s) => seconds(s.status?.lastSuccessfulTime),
    );
    scheduleGauge(
      'finetune_schedule_last_schedule_timestamp_seconds',
      "The scheduled time of the schedule's last run started (Unix seconds).",
      (s) => seconds(s.status?.lastScheduleTime),
    );
    scheduleGauge(
      'finetune_schedule_next_run_timestamp_seconds',
      "When the schedule's next run is due (Unix seconds); absent while suspended or invalid.",
      (s) => seconds(s.status?.nextScheduleTime),
    );
    scheduleGauge(
      'finetune_schedule_active_runs',
      'Runs of the schedule that have not finished.',
      (s) => s.status?.activeCount ?? 0,
    );
    new Gauge({
      name: 'finetune_schedule_promoted_value',
      help: "The promoted run's value of the promotion metric (spec.promotion), by schedule and metric.",
      labelNames: ['namespace', 'schedule', 'metric'],
      registers,
      collect() {
        this.reset();
        for (const schedule of schedules()) {
          const promoted = schedule.status?.promoted;
          if (promoted)
            this.set(
              {
                namespace: schedule.metadata?.namespace ?? '',
                schedule: schedule.metadata?.name ?? '',
                metric: promoted.metric,
              },
              promoted.value,
            );
        }
      },
    });
    new Gauge({
      name: 'finetune_jobs',
      help: 'FineTuneJobs by namespace and phase.',
      labelNames: ['namespace', 'phase'],
      registers,
      collect() {
        this.reset();
        for (const job of jobs())
          this.inc({ namespace: job.metadata?.namespace ?? '', phase: job.status?.phase ?? 'Pending' });
      },
    });
    new Gauge({
      name: 'finetune_jobs_by_stage',
      help: 'Running FineTuneJobs by namespace and stage.',
      labelNames: ['namespace', 'stage'],
      registers,
      collect() {
        this.reset();
        for (const job of jobs())
          if (job.status?.phase === 'Running' && job.status.stage)
            this.inc({ namespace: job.metadata?.namespace ?? '', stage: job.status.stage });
      },
    });
    new Gauge({
      name: 'finetune_job_info',
      help: 'One series per FineTuneJob with its phase and stage (gone when the job is).',
      labelNames: ['namespace', 'name', 'phase', 'stage'],
      registers,
      collect() {
        this.reset();
        for (const job of jobs())
          this.set(
            {
              namespace: job.metadata?.namespace ?? '',
              name: job.metadata?.name ?? '',
              phase: job.status?.phase ?? 'Pending',
              stage: job.status?.stage ?? '',
            },
            1,
          );
      },
    });
  }

  private queueMetrics:
    { depth: Gauge; adds: Counter; retries: Counter; queued: Histogram; worked: Histogram } | undefined;

  /** The metrics of one controller's work queue. */
  workQueue(controller: ControllerName = JOBS): WorkQueueMetrics {
    // Current controller-runtime labels its work queue metrics with both the controller and the queue's name.
    const labels = { controller, name: controller };
    const labelNames = ['controller', 'name'];
    const registers = [this.registry];
    const buckets = [1e-6, 1e-5, 1e-4, 1e-3, 0.01, 0.1, 1, 10, 100, 1000];
    this.queueMetrics ??= {
      depth: new Gauge({ name: 'workqueue_depth', help: 'Current depth of workqueue.', labelNames, registers }),
      adds: new Counter({
        name: 'workqueue_adds_total',
        help: 'Total number of adds handled by workqueue.',
        labelNames,
        registers,
      }),
      retries: new Counter({
        name: 'workqueue_retries_total',
        help: 'Total number of retries handled by workqueue.',
        labelNames,
        registers,
      }),
      queued: new Histogram({
        name: 'workqueue_queue_duration_seconds',
        help: 'How long an item stays in workqueue before being requested.',
        labelNames,
        buckets,
        registers,
      }),
      worked: new Histogram({
        name: 'workqueue_work_duration_seconds',
        help: 'How long processing an item from workqueue takes.',
        labelNames,
        buckets,
        registers,
      }),
    };
    const { depth, adds, retries, queued, worked } = this.queueMetrics;
    return {
      depth: (n) => depth.set(labels, n),
      added: () => adds.inc(labels),
      retried: () => retries.inc(labels),
      queued: (s) => queued.observe(labels, s),
      worked: (s) => worked.observe(labels, s),
    };
  }

  reconciled(result: 'success' | 'error' | 'requeue_after', seconds: number, controller: ControllerName = JOBS): void {
    this.reconcileTotal.inc({ controller, result });
    if (result === 'error') this.reconcileErrors.inc({ controller });
    this.reconcileTime.observe({ controller }, seconds);
  }

  workers(delta: number, controller: ControllerName = JOBS): void {
    this.activeWorkers.inc({ controller }, delta);
  }

  scheduleRun(namespace: string, schedule: string, result: RunOutcome): void {
    this.scheduleRuns.inc({ namespace, schedule, result });
  }

  /** Starts a schedule's run counters at 0, so rate() and increase() see its first run (a series starting at 1 shows none). */
  scheduleSeen(namespace: string, schedule: string): void {
    for (const result of RUN_OUTCOMES) this.scheduleRuns.inc({ namespace, schedule, result }, 0);
  }

  /** A deleted schedule's counters go with it. */
  scheduleGone(namespace: string, schedule: string): void {
    for (const result of RUN_OUTCOMES) this.scheduleRuns.remove({ namespace, schedule, result });
  }

  request(method: string, code: number): void {
    this.restRequests.inc({ method, code: String(code) });
  }

  leading(name: string, isLeader: boolean): void {
    this.leader.set({ name }, isLeader ? 1 : 0);
  }
  standingBy(standing: boolean): void {
    this.standby.set(standing ? 1 : 0);
  }

  retried(reason: string): void {
    this.retries.inc({ reason });
  }

  /** Stage transitions, stage durations and job durations, from consecutive versions of a job. */
  observeJob(job: CachedJob, old: CachedJob | undefined): void {
    const status = job.status;
    if (!status) return;
    if (status.stage && status.stage !== old?.status?.stage) this.stageTransitions.inc({ stage: status.stage });
    for (const stage of status.stages ?? []) {
      const before = old?.status?.stages?.find((s) => s.name === stage.name);
      if (stage.state === 'Succeeded' && before?.state !== 'Succeeded' && stage.startTime && stage.endTime) {
        this.stageDuration.observe(
          { stage: stage.name },
          (Date.parse(stage.endTime) - Date.parse(stage.startTime)) / 1000,
        );
      }
    }
    const finished = (s: FineTuneJobStatus | undefined) => s?.phase === 'Succeeded' || s?.phase === 'Failed';
    if (finished(status) && !finished(old?.status) && status.startTime && status.completionTime) {
      this.jobDuration.observe(
        { result: status.phase! },
        (Date.parse(status.completionTime) - Date.parse(status.startTime)) / 1000,
      );
    }
  }
}
