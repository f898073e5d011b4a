import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CoordinationV1Api, type KubeConfig, type KubernetesObject, type V1Pod } from '@kubernetes/client-node';
import { FINETUNEJOB, FINETUNESCHEDULE, FINGERPRINT_FOR_LABEL, JOB_NAME_LABEL } from '../../api/v1alpha1/index.ts';
import { EventRecorder } from '../controller/event-recorder.ts';
import { type CachedJob, FineTuneJobController, jobKeyOfPod } from '../controller/finetunejob-controller.ts';
import {
  type CachedSchedule,
  FineTuneScheduleController,
  scheduleKeyOf,
} from '../controller/finetuneschedule-controller.ts';
import { type ControllerName, OperatorMetrics } from '../metrics/operator-metrics.ts';
import type { ReconcileSettings } from '../reconcile/finetunejob-reconciler.ts';
import { stageEvents } from '../reconcile/stage-events.ts';
import { type LeaderElectionConfig, LeaderElector } from './leader-election.ts';
import { OPERATOR_LEASE_LABEL, scopeConflict, scopeMetadata } from './operator-scope.ts';
import { InformerSources } from './informer-sources.ts';
import { ResilientInformer } from './resilient-informer.ts';
import { WorkQueue } from './work-queue.ts';

/** How long a stopping operator waits for its queued events (the pod's grace period is 30 s by default). */
const EVENT_FLUSH_MS = 10_000;
/** Concurrent schedule reconciles: a schedule's reconcile is a few requests a day. */
const SCHEDULE_WORKERS = 2;
/** How often an operator checks that no other operator reconciles its namespaces (operator-scope.ts). */
const SCOPE_CHECK_MS = 10_000;

export interface OperatorConfig {
  kubeConfig: KubeConfig;
  /** Watched namespaces; empty: all. */
  namespaces: string[];
  workers: number;
  settings: ReconcileSettings;
  /** /metrics, /healthz and /readyz (0: any free port). */
  port: number;
  /** Omitted: no leader election (a single replica). */
  leaderElection?: LeaderElectionConfig;
  /** Every job is reconciled again this often (default 10 min). */
  resyncSeconds?: number;
  /** Provision the trainer ServiceAccount in each job's namespace, bound to this ClusterRole (the chart's finetune-trainer). */
  trainerClusterRole?: string;
  /** The time schedules are evaluated at; tests shift it to reach a scheduled time without waiting. */
  clock?: () => Date;
  log?: (line: string) => void;
}

const keyOf = (obj: { metadata?: { namespace?: string; name?: string } }) =>
  `${obj.metadata?.namespace}/${obj.metadata?.name}`;

/**
 * Runs the FineTuneJob and FineTuneSchedule controllers the controller-runtime
 * way: informers over FineTuneJobs, their pods and FineTuneSchedules feed one
 * work queue per controller; workers reconcile (never the same key twice at
 * once); only the elected leader reconciles; SIGTERM stops taking work,
 * finishes in-flight reconciles and releases the lease.
 */
export class OperatorManager {
  readonly metrics: OperatorMetrics;
  private readonly config: OperatorConfig;
  private readonly queue: WorkQueue;
  private readonly scheduleQueue: WorkQueue;
  private readonly jobInformers: ResilientInformer<CachedJob>[];
  private readonly podInformers: ResilientInformer<V1Pod>[];
  private readonly scheduleInformers: ResilientInformer<CachedSchedule>[];
  private readonly probeInformers: ResilientInformer<V1Pod>[];
  private readonly controller: FineTuneJobController;
  private readonly scheduleController: FineTuneScheduleController;
  private readonly events: EventRecorder;
  private readonly elector: LeaderElector | undefined;
  private readonly log: (line: string) => void;
  private server: Server | undefined;
  private workers: Promise<void>[] = [];
  private resync: NodeJS.Timeout | undefined;
  private scopeTimer: NodeJS.Timeout | undefined;
  /** Why this operator stands by: another operator reconciles some of its namespaces. */
  private standingBy: string | undefined;
  private running = false;

  constructor(config: OperatorConfig) {
    this.config = config;
    this.log = config.log ?? ((line) => process.stdout.write(`${new Date().toISOString()} ${line}\n`));
    const kc = config.kubeConfig;
    this.metrics = new OperatorMetrics(() => this.jobInformers.flatMap((i) => i.list()), {
      workers: { finetunejob: config.workers, finetuneschedule: SCHEDULE_WORKERS },
      schedules: () => this.scheduleInformers.flatMap((i) => i.list()),
    });
    this.queue = new WorkQueue({ metrics: this.metrics.workQueue('finetunejob') });
    this.scheduleQueue = new WorkQueue({ metrics: this.metrics.workQueue('finetuneschedule') });
    const sources = new InformerSources(kc, this.log);
    const scopes = config.namespaces.length ? config.namespaces : [undefined];
    this.jobInformers = scopes.map((ns) =>
      sources.customObjects<CachedJob>(
        FINETUNEJOB.kind,
        FINETUNEJOB.plural,
        ns,
        { add: this.jobChanged, update: this.jobUpdated, delete: this.jobChanged },
        scheduleKeyOf,
      ),
    );
    this.scheduleInformers = scopes.map((ns) =>
      sources.customObjects<CachedSchedule>(FINETUNESCHEDULE.kind, FINETUNESCHEDULE.plural, ns, {
        add: this.scheduleChanged,
        update: this.scheduleChanged,
        delete: this.scheduleChanged,
      }),
    );
    // A reconcile reads its job's pods: indexed by job, not filtered out of every pod in the namespace.
    this.podInformers = scopes.map((ns) =>
      sources.labelledPods(
        JOB_NAME_LABEL,
        ns,
        { add: this.podAdded, update: this.podChanged, delete: this.podChanged },
        jobKeyOfPod,
      ),
    );
    // Fingerprint probes of schedules with skipIfUnchanged: a separate label, so trainer pods' caches never hold them.
    this.probeInformers = scopes.map((ns) =>
      sources.labelledPods(
        FINGERPRINT_FOR_LABEL,
        ns,
        { add: this.probeChanged, update: this.probeChanged, delete: this.probeChanged },
        scheduleKeyOf,
      ),
    );
    const identity = config.leaderElection?.identity ?? 'finetune-operator';
    this.events = new EventRecorder(kc, identity, (code) => this.metrics.request('POST', code), this.log);
    this.controller = this.jobController(kc);
    this.scheduleController = this.newScheduleController(kc);
    this.elector = config.leaderElection
      ? new LeaderElector(kc, { ...config.leaderElection, ...scopeMetadata(config.namespaces) })
      : undefined;
  }

  /** The job controller over the job and trainer-pod caches. */
  private jobController(kc: KubeConfig): FineTuneJobController {
    const caches = {
      job: (namespace: string, name: string) => this.jobInformers.map((i) => i.get(name, namespace)).find(Boolean),
      pods: (namespace: string, job: string) => this.podInformers.flatMap((i) => i.byIndex(`${namespace}/${job}`)),
    };
    const { settings, trainerClusterRole } = this.config;
    return new FineTuneJobController(kc, caches, settings, this.events, this.metrics, trainerClusterRole);
  }

  /** The schedule controller over the schedule, run (jobs by schedule) and probe caches. */
  private newScheduleController(kc: KubeConfig): FineTuneScheduleController {
    const byIndex = <T extends KubernetesObject>(informers: ResilientInformer<T>[], key: string) =>
      informers.flatMap((i) => i.byIndex(key));
    const caches = {
      schedule: (namespace: string, name: string) =>
        this.scheduleInformers.map((i) => i.get(name, namespace)).find(Boolean),
      runs: (namespace: string, schedule: string) => byIndex(this.jobInformers, `${namespace}/${schedule}`),
      probes: (namespace: string, schedule: string) => byIndex(this.probeInformers, `${namespace}/${schedule}`),
    };
    const { settings, clock } = this.config;
    return new FineTuneScheduleController(kc, caches, settings, this.events, this.metrics, clock);
  }

  /** A job's changes concern the job, and the schedule that runs it (a run finished, appeared, went away). */
  private readonly jobChanged = (job: CachedJob): void => {
    this.queue.add(keyOf(job));
    const schedule = scheduleKeyOf(job);
    if (schedule) {
      this.scheduleController.observedRun(schedule, job.metadata!.name!);
      this.scheduleQueue.add(schedule);
    }
  };
  private readonly jobUpdated = (job: CachedJob, old: CachedJob): void => {
    this.observeUpdate(job, old);
    this.jobChanged(job);
  };
  private readonly scheduleChanged = (schedule: CachedSchedule): void => this.scheduleQueue.add(keyOf(schedule));
  /** A pod's changes concern its job; a new one meets the job's create expectation. */
  private readonly podAdded = (pod: V1Pod): void => {
    this.controller.observedPod(pod);
    this.podChanged(pod);
  };
  private readonly podChanged = (pod: V1Pod): void => {
    const key = jobKeyOfPod(pod);
    if (key) this.queue.add(key);
  };
  private readonly probeChanged = (pod: V1Pod): void => {
    const key = scheduleKeyOf(pod);
    if (key) this.scheduleQueue.add(key);
  };

  get address(): AddressInfo | undefined {
    return this.server?.address() as AddressInfo | undefined;
  }
  get isLeader(): boolean {
    return this.elector ? this.elector.isLeader : this.running;
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => void this.serve(req.url ?? '', res));
    await new Promise<void>((resolve) => this.server!.listen(this.config.port, resolve));
    if (!this.elector) {
      await this.startControllers();
      return;
    }
    this.metrics.leading(this.config.leaderElection!.name, false);
    this.elector.run({
      onStart: () => {
        this.metrics.leading(this.config.leaderElection!.name, true);
        this.log('elected leader');
        this.checkScope();
      },
      onStop: () => {
        this.metrics.leading(this.config.leaderElection!.name, false);
        this.log('lost leadership; stopping');
        void this.stop();
      },
    });
  }

  /** Stops taking work, lets in-flight reconciles finish, releases the lease, writes the queued events. */
  async stop(): Promise<void> {
    clearInterval(this.resync);
    clearTimeout(this.scopeTimer);
    this.queue.shutDown();
    this.scheduleQueue.shutDown();
    await Promise.all(this.workers);
    // Events are not state: the lease goes at once, and the events get a bounded time within the pod's grace period.
    const eventsWritten = Promise.race([
      this.events.flush(),
      new Promise((resolve) => setTimeout(resolve, EVENT_FLUSH_MS).unref()),
    ]);
    await Promise.all(this.informers.map((i) => i.stop().catch(() => undefined)));
    await this.elector?.release();
    await eventsWritten;
    this.running = false;
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** Metrics and events of what the trainer reported (stage transitions); only the leader watches, so each is recorded once. */
  private observeUpdate(job: CachedJob, old: CachedJob | undefined): void {
    this.metrics.observeJob(job, old);
    const { name, namespace, uid } = job.metadata as { name: string; namespace: string; uid?: string };
    for (const event of stageEvents(old?.status, job.status))
      this.events.record({ name, namespace, ...(uid ? { uid } : {}) }, event);
  }

  /**
   * The leader reconciles only while no operator that came first reconciles any of its namespaces
   * (operator-scope.ts); checked before it starts and then every SCOPE_CHECK_MS. One that finds such an
   * operator after it started stops, as on a lost lease: its pod restarts and stands by.
   */
  private checkScope(): void {
    const check = async () => {
      if (!this.elector?.isLeader || this.queue.isShuttingDown) return;
      const conflict = await this.findScopeConflict();
      if (conflict && this.running) {
        this.log(`stopping: ${conflict}`);
        void this.stop();
        return;
      }
      if (conflict !== this.standingBy)
        this.log(conflict ? `standing by: ${conflict}` : 'no other operator reconciles these namespaces');
      this.standingBy = conflict;
      this.metrics.standingBy(!!conflict);
      if (!conflict && !this.running) void this.startControllers();
      this.scopeTimer = setTimeout(() => void check(), SCOPE_CHECK_MS);
      this.scopeTimer.unref();
    };
    void check();
  }

  private async findScopeConflict(): Promise<string | undefined> {
    const lease = this.config.leaderElection!;
    try {
      const leases = await this.config.kubeConfig
        .makeApiClient(CoordinationV1Api)
        .listLeaseForAllNamespaces({ labelSelector: OPERATOR_LEASE_LABEL });
      return scopeConflict(lease, this.config.namespaces, leases.items, new Date());
    } catch (err) {
      // A check that cannot run (an older chart's RBAC) does not stop the operator; it says so.
      this.log(
        `could not list operator Leases to check for another operator (${String(err).split('\n')[0]}); reconciling anyway`,
      );
      return undefined;
    }
  }

  private get informers(): ResilientInformer<CachedJob | V1Pod | CachedSchedule>[] {
    return [
      ...this.jobInformers,
      ...this.podInformers,
      ...this.scheduleInformers,
      ...this.probeInformers,
    ] as ResilientInformer<CachedJob | V1Pod | CachedSchedule>[];
  }

  private async startControllers(): Promise<void> {
    await Promise.all(this.informers.map((i) => i.start()));
    if (this.queue.isShuttingDown) return; // stopped (e.g. leadership lost) while the caches filled
    this.running = true;
    const enqueueAll = () => {
      for (const job of this.jobInformers.flatMap((i) => i.list())) this.queue.add(keyOf(job));
      for (const schedule of this.scheduleInformers.flatMap((i) => i.list())) this.scheduleQueue.add(keyOf(schedule));
    };
    enqueueAll();
    this.resync = setInterval(enqueueAll, (this.config.resyncSeconds ?? 600) * 1000);
    this.resync.unref();
    this.workers = [
      ...Array.from({ length: this.config.workers }, () =>
        this.work(this.queue, 'finetunejob', (key) => this.controller.reconcile(key)),
      ),
      ...Array.from({ length: SCHEDULE_WORKERS }, () =>
        this.work(this.scheduleQueue, 'finetuneschedule', (key) => this.scheduleController.reconcile(key)),
      ),
    ];
    this.log(
      `reconciling FineTuneJobs and FineTuneSchedules in ${this.config.namespaces.join(', ') || 'all namespaces'} with ${this.config.workers} workers`,
    );
  }

  private async work(
    queue: WorkQueue,
    controller: ControllerName,
    reconcile: (key: string) => Promise<number | undefined>,
  ): Promise<void> {
    for (let key = await queue.get(); key !== undefined; key = await queue.get()) {
      this.metrics.workers(1, controller);
      const started = process.hrtime.bigint();
      try {
        const requeueMs = await reconcile(key);
        queue.forget(key);
        if (requeueMs !== undefined) queue.addAfter(key, requeueMs);
        this.metrics.reconciled(
          requeueMs === undefined ? 'success' : 'requeue_after',
          Number(process.hrtime.bigint() - started) / 1e9,
          controller,
        );
      } catch (err) {
        this.metrics.reconciled('error', Number(process.hrtime.bigint() - started) / 1e9, controller);
        this.log(
          `reconcile ${controller} ${key} failed: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}; retrying with backoff`,
        );
        queue.addRateLimited(key);
      } finally {
        this.metrics.workers(-1, controller);
        queue.done(key);
      }
    }
  }

  private async serve(url: string, res: import('node:http').ServerResponse): Promise<void> {
    if (url === '/metrics') {
      res
        .writeHead(200, { 'content-type': this.metrics.registry.contentType })
        .end(await this.metrics.registry.metrics());
    } else if (url === '/healthz') {
      res.writeHead(200).end('ok');
    } else if (url === '/readyz') {
      if (this.standingBy) {
        res.writeHead(503).end(`standing by: ${this.standingBy}`);
        return;
      }
      const ready =
        !this.elector || this.elector.isLeader ? this.running && this.informers.every((i) => i.hasSynced) : true;
      res.writeHead(ready ? 200 : 503).end(ready ? 'ok' : 'informers not synced');
    } else {
      res.writeHead(404).end();
    }
  }
}
