#!/usr/bin/env node
// kubectl ftj: everyday commands for FineTuneJobs and FineTuneSchedules on any cluster, as a kubectl
// plugin (an executable named kubectl-ftj on PATH: bin/kubectl-ftj from a checkout, or the bundle
// dist/kubectl-ftj.mjs that `npm pack` builds). It honours kubectl's --kubeconfig, --context,
// -n/--namespace and -A, and the context's namespace.
import { copyFileSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import {
  ApiException,
  CoreV1Api,
  type CoreV1Event,
  CustomObjectsApi,
  type KubeConfig,
  Log,
  Watch,
} from '@kubernetes/client-node';
import { Command, Option } from 'commander';
import {
  ATTEMPT_LABEL,
  FINETUNEJOB,
  type FineTuneJobStatus,
  FINETUNESCHEDULE,
  type FineTuneScheduleStatus,
  GROUP,
  JOB_NAME_LABEL,
  manualRun,
  nameLabelValue,
  TRAINER_CONTAINER,
  VERSION,
} from '../api/v1alpha1/index.ts';
import { apiStatus } from '../operator/controller/api-requests.ts';
import { renderTrainingReport } from '../report/training-report.ts';
import { lineChart } from './chart.ts';
import { age, table } from './format.ts';
import { CliError, type KubeFlags, kubeContext } from './kube-context.ts';
import { predictFiles, withLocalPredictor } from './predict.ts';

type Meta = {
  name: string;
  namespace: string;
  uid: string;
  creationTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
};
type Job = { metadata: Meta; spec: Record<string, unknown>; status?: FineTuneJobStatus };
type Schedule = {
  metadata: Meta;
  spec: { schedule: string; suspend?: boolean; timeZone?: string };
  status?: FineTuneScheduleStatus;
};

const program = new Command('kubectl ftj')
  .description(
    'FineTuneJobs and FineTuneSchedules: list, inspect, follow logs, suspend, resume, retry, trigger, predict.',
  )
  .option('--kubeconfig <file>', 'kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)')
  .option('--context <name>', 'kubeconfig context (default: the current one)')
  .option('-n, --namespace <ns>', "namespace (default: the context's, else default)")
  .addOption(new Option('-A, --all-namespaces', 'every namespace (get)'))
  .showHelpAfterError();

type Cluster = { custom: CustomObjectsApi; core: CoreV1Api; kc: KubeConfig; namespace: string | undefined };
let connected: Cluster | undefined;

/** The API clients and namespace for this command line (the kubeconfig is read once). */
function cluster(): Cluster {
  if (!connected) {
    const { kc, namespace } = kubeContext(program.opts<KubeFlags>());
    connected = { custom: kc.makeApiClient(CustomObjectsApi), core: kc.makeApiClient(CoreV1Api), kc, namespace };
  }
  return connected;
}

const jobsRef = { group: GROUP, version: VERSION, plural: FINETUNEJOB.plural as string };
const schedulesRef = { group: GROUP, version: VERSION, plural: FINETUNESCHEDULE.plural };
const namespaced = (namespace: string | undefined) => namespace ?? 'default';

async function getJob(name: string): Promise<Job> {
  const { custom, namespace } = cluster();
  return (await custom.getNamespacedCustomObject({ ...jobsRef, namespace: namespaced(namespace), name })) as Job;
}

/** Runs a command; a failure is one line on stderr and exit code 1 (kubectl's "Error from server (Reason): ..."). */
const action =
  <A extends unknown[]>(run: (...args: A) => Promise<void>) =>
  async (...args: A) => {
    try {
      await run(...args);
    } catch (err) {
      process.stderr.write(`${describeError(err)}\n`);
      process.exitCode = 1;
    }
  };

function describeError(err: unknown): string {
  if (err instanceof CliError) return `error: ${err.message}`;
  if (err instanceof ApiException) {
    const status = apiStatus(err);
    const detail = status.message ?? (typeof err.body === 'string' ? err.body : JSON.stringify(err.body)).slice(0, 300);
    return `Error from server (${status.reason ?? `HTTP ${err.code}`}): ${detail.split('\n')[0]}`;
  }
  const cause = (err as { cause?: { code?: string } }).cause?.code;
  const message = err instanceof Error ? err.message.split('\n')[0] : String(err);
  return `error: ${message}${cause ? ` (${cause}): is the cluster reachable, and the kubeconfig the right one?` : ''}`;
}

/** report.html in a job's output, when the output is a folder on this machine (local mode, a mounted volume). */
function reportBesideModel(outputURI: string): string | undefined {
  if (outputURI.startsWith('file://')) return join(fileURLToPath(outputURI), 'report.html');
  return outputURI.startsWith('/') ? join(outputURI, 'report.html') : undefined;
}

/** The report drawn from what the job's status holds: curves, stages and the test-set summary. */
function reportFromStatus(job: Job): string {
  const spec = job.spec as { model?: { uri?: string; license?: string }; dataset?: { uri?: string; pvc?: unknown } };
  const status = job.status!;
  return renderTrainingReport({
    job: `${job.metadata.namespace}/${job.metadata.name}`,
    generatedAt: new Date().toISOString(),
    provenance: {
      baseModel: spec.model?.uri ?? JSON.stringify(spec.model),
      ...(spec.model?.license ? { license: spec.model.license } : {}),
      dataset: spec.dataset?.uri ?? JSON.stringify(spec.dataset?.pvc ?? spec.dataset),
      spec: job.spec,
    },
    stages: (status.stages ?? []).map((s) => ({
      name: s.name,
      epochsRun: s.epochsRun,
      ...(s.bestEpoch !== undefined ? { bestEpoch: s.bestEpoch } : {}),
      ...(s.monitor !== undefined ? { monitor: s.monitor } : {}),
      ...(s.bestValue !== undefined ? { bestValue: s.bestValue } : {}),
      ...(s.endReason !== undefined ? { endReason: s.endReason } : {}),
    })),
    history: status.history ?? [],
    ...(status.evaluation ? { evaluation: status.evaluation } : {}),
    notes: [
      "Drawn from the job's status by kubectl ftj report: no learning rate per step, and the per-class " +
        'figures are in evaluation.json beside the model. The report.html there has both.',
    ],
  });
}

const percent = (status: FineTuneJobStatus | undefined) =>
  status?.progress?.percent === undefined ? '' : `${Math.round(status.progress.percent)}%`;

const SCHEDULE_KINDS = ['schedules', 'schedule', 'ftsched', FINETUNESCHEDULE.plural, FINETUNESCHEDULE.singular];
const JOB_KINDS = ['jobs', 'job', 'ftj', FINETUNEJOB.plural, FINETUNEJOB.singular];

/** Why a job is where it is: the reason of its first True condition, as kubectl's Reason column shows it. */
const reasonOf = (status: FineTuneJobStatus | undefined) =>
  status?.conditions?.find((c) => c.status === 'True')?.reason ?? '';

type ListRef = { group: string; version: string; plural: string };
type Listed<T> = { items: T[]; metadata?: { resourceVersion?: string } };

/** The objects of the namespace (all of them with -A), sorted by namespace and name as kubectl lists them. */
async function listSorted<T extends { metadata: Meta }>(ref: ListRef): Promise<Listed<T>> {
  const { custom, namespace } = cluster();
  const listed = (
    namespace === undefined
      ? await custom.listClusterCustomObject(ref)
      : await custom.listNamespacedCustomObject({ ...ref, namespace })
  ) as Listed<T>;
  const key = (item: T) => `${item.metadata.namespace}/${item.metadata.name}`;
  return { ...listed, items: listed.items.sort((a, b) => key(a).localeCompare(key(b))) };
}

program
  .command('get')
  .description(
    'list FineTuneJobs (or, with "schedules", FineTuneSchedules): phase, stage, progress, validation accuracy, reason, age; ' +
      'get NAME (or get jobs NAME) shows one',
  )
  .argument('[what]', '"jobs" (default), "schedules", or a FineTuneJob\'s name', 'jobs')
  .argument('[name]', 'only this one')
  .option(
    '-w, --watch',
    'jobs: keep watching, with a progress bar, epoch, ETA and samples/s per running job (plain lines when not a terminal)',
  )
  .action(
    action(async (what: string, name: string | undefined, options: { watch?: boolean }) => {
      const isSchedules = SCHEDULE_KINDS.includes(what);
      // kubectl users type `get NAME`: a word that is no kind is a job's name.
      if (!isSchedules && !JOB_KINDS.includes(what)) {
        if (name !== undefined)
          throw new CliError(`unknown kind "${what}": use "jobs" or "schedules" (get jobs NAME, get schedules NAME)`);
        name = what;
      }
      if (options.watch) {
        if (isSchedules) throw new CliError('get -w watches jobs only; for schedules use kubectl get ftsched -w');
        await watchJobs(name);
        return;
      }
      const { namespace } = cluster();
      const all = namespace === undefined;
      const prefix = (meta: Meta) => (all ? [meta.namespace] : []);
      const headers = (columns: string[]) => [...(all ? ['namespace'] : []), ...columns];
      const only = <T extends { metadata: Meta }>(items: T[], kind: string) => {
        if (name === undefined) return items;
        const found = items.filter((item) => item.metadata.name === name);
        if (found.length === 0)
          throw new CliError(`${kind} "${name}" not found${all ? '' : ` in namespace ${namespaced(namespace)}`}`);
        return found;
      };
      let output: string;
      if (isSchedules) {
        const items = only((await listSorted<Schedule>(schedulesRef)).items, FINETUNESCHEDULE.singular);
        output = table(
          headers(['name', 'schedule', 'suspend', 'active', 'last schedule', 'next', 'last success', 'age']),
          items.map((s) => [
            ...prefix(s.metadata),
            s.metadata.name,
            s.spec.schedule,
            String(s.spec.suspend ?? false),
            String(s.status?.activeCount ?? 0),
            s.status?.lastScheduleTime ? age(s.status.lastScheduleTime) : '<none>',
            s.status?.nextScheduleTime ?? '<none>',
            s.status?.lastSuccessfulRun?.name ?? '<none>',
            age(s.metadata.creationTimestamp),
          ]),
        );
      } else {
        const items = only((await listSorted<Job>(jobsRef)).items, FINETUNEJOB.singular);
        output = table(
          headers(['name', 'phase', 'stage', 'progress', 'val-acc', 'attempts', 'reason', 'age']),
          items.map((j) => [
            ...prefix(j.metadata),
            j.metadata.name,
            j.status?.phase ?? 'Pending',
            j.status?.stage ?? '',
            percent(j.status),
            j.status?.metrics?.valAccuracy === undefined ? '' : j.status.metrics.valAccuracy.toFixed(4),
            String(j.status?.attempts ?? 0),
            reasonOf(j.status),
            age(j.metadata.creationTimestamp),
          ]),
        );
        if (items.length === 0) output = `No FineTuneJobs found${all ? '' : ` in ${namespace} namespace`}.`;
      }
      process.stdout.write(`${output}\n`);
    }),
  );

/** A progress bar of `width` cells: [########............]. */
function progressBar(percent: number, width = 20): string {
  const filled = Math.round((Math.min(100, Math.max(0, percent)) / 100) * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
}

/** One job's progress as a watcher shows it: phase, stage, bar, epoch, ETA, throughput. */
function progressLine(job: Job, bar: boolean): string[] {
  const { status } = job;
  const progress = status?.progress;
  const running = status?.phase === 'Running' && progress?.percent !== undefined;
  const eta = progress?.eta && running ? `ETA ${age(new Date(), new Date(progress.eta))}` : '';
  return [
    job.metadata.name,
    status?.phase ?? 'Pending',
    status?.stage ?? '',
    progress?.percent === undefined
      ? ''
      : `${bar ? `${progressBar(progress.percent)} ` : ''}${Math.round(progress.percent)}%`,
    progress?.epoch ? `epoch ${progress.epoch}/${progress.totalEpochs ?? '?'}` : '',
    eta,
    status?.metrics?.samplesPerSecond === undefined || !running
      ? ''
      : `${Math.round(status.metrics.samplesPerSecond)}/s`,
  ];
}

/**
 * get -w: the jobs as listed (sorted, and a refused read answered as kubectl answers it), then a watch
 * from that list on (no polling); on a terminal, the table redrawn in place with a progress bar per job;
 * otherwise (a pipe, a log) one line per change, as `kubectl get -w` prints.
 */
async function watchJobs(name?: string): Promise<void> {
  const { kc, namespace } = cluster();
  const path =
    namespace === undefined
      ? `/apis/${GROUP}/${VERSION}/${FINETUNEJOB.plural}`
      : `/apis/${GROUP}/${VERSION}/namespaces/${namespace}/${FINETUNEJOB.plural}`;
  const jobs = new Map<string, Job>();
  const printed = new Map<string, string>();
  const terminal = process.stdout.isTTY === true;
  let drawnLines = 0;
  let pending: NodeJS.Timeout | undefined;
  const redraw = () => {
    pending = undefined;
    const rows = [...jobs.values()]
      .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))
      .map((job) => [...progressLine(job, true), reasonOf(job.status)]);
    const text = table(['name', 'phase', 'stage', 'progress', 'epoch', 'eta', 'samples/s', 'reason'], rows);
    process.stdout.write(`${drawnLines ? `\x1b[${drawnLines}A\x1b[J` : ''}${text}\n`);
    drawnLines = text.split('\n').length;
  };
  const changed = (key: string, job: Job | undefined) => {
    if (job) jobs.set(key, job);
    else jobs.delete(key);
    if (terminal) {
      pending ??= setTimeout(redraw, 100);
      return;
    }
    const line = job
      ? [...progressLine(job, false), reasonOf(job.status)].filter(Boolean).join('  ')
      : `${key} deleted`;
    if (printed.get(key) !== line) {
      process.stdout.write(`${new Date().toISOString().slice(11, 19)}  ${line}\n`);
      printed.set(key, line);
    }
  };
  const wanted = (job: Job) => name === undefined || job.metadata.name === name;
  const listed = await listSorted<Job>(jobsRef);
  for (const job of listed.items.filter(wanted)) changed(`${job.metadata.namespace}/${job.metadata.name}`, job);
  await new Promise<void>((resolve, reject) => {
    const query = {
      resourceVersion: listed.metadata?.resourceVersion,
      ...(name === undefined ? {} : { fieldSelector: `metadata.name=${name}` }),
    };
    void new Watch(kc)
      .watch(
        path,
        query,
        (type, object: Job) => {
          const key = `${object.metadata.namespace}/${object.metadata.name}`;
          changed(key, type === 'DELETED' ? undefined : object);
        },
        (err: unknown) => (err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve()),
      )
      .catch(reject);
  });
}

program
  .command('describe')
  .description('a FineTuneJob: its recipe, stage timeline, curves, conditions, pod, output and events')
  .argument('<name>', 'FineTuneJob name')
  .option(
    '-w, --watch',
    'keep it up to date from a watch, with a progress bar while it runs (plain progress lines when not a terminal)',
  )
  .action(
    action(async (name: string, options: { watch?: boolean }) => {
      const job = await getJob(name);
      process.stdout.write(await describeText(job));
      if (!options.watch) return;
      const { kc } = cluster();
      const terminal = process.stdout.isTTY === true;
      let last = '';
      await new Promise<void>((resolve, reject) => {
        void new Watch(kc)
          .watch(
            `/apis/${GROUP}/${VERSION}/namespaces/${job.metadata.namespace}/${FINETUNEJOB.plural}`,
            { fieldSelector: `metadata.name=${name}` },
            (type, object: Job) => {
              if (type === 'DELETED') {
                process.stdout.write(`${name} deleted\n`);
                resolve();
                return;
              }
              if (terminal) {
                void describeText(object).then((text) => {
                  const [name_, phase, stage, bar, epoch, eta, speed] = progressLine(object, true);
                  process.stdout.write(
                    `\x1b[H\x1b[J${[name_, phase, stage, bar, epoch, eta, speed].filter(Boolean).join('  ')}\n\n${text}`,
                  );
                });
                return;
              }
              const line = progressLine(object, false).filter(Boolean).join('  ');
              if (line !== last) {
                process.stdout.write(`${new Date().toISOString().slice(11, 19)}  ${line}\n`);
                last = line;
              }
            },
            (err: unknown) => (err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve()),
          )
          .catch(reject);
      });
    }),
  );

/** When an event last happened, as kubectl sorts them: its series' last time, else lastTimestamp, else eventTime (microseconds). */
const eventTime = (e: CoreV1Event) => new Date(e.series?.lastObservedTime ?? e.lastTimestamp ?? e.eventTime ?? 0);
const eventCount = (e: CoreV1Event) => e.series?.count ?? e.count ?? 1;

/** What describe prints for a job. */
async function describeText(job: Job): Promise<string> {
  const { core } = cluster();
  const { status, spec, metadata } = job;
  const lines: string[] = [];
  const field = (label: string, value: unknown) => {
    if (value !== undefined && value !== '') lines.push(`${`${label}:`.padEnd(14)}${String(value)}`);
  };
  field('Name', metadata.name);
  field('Namespace', metadata.namespace);
  field('Phase', status?.phase ?? 'Pending');
  field('Stage', status?.stage);
  field('Progress', percent(status));
  field('Attempts', status?.attempts);
  field('Pod', status?.podName);
  const model = spec['model'] as { uri?: string; pvc?: { claimName: string; path?: string } } | undefined;
  field('Model', model?.uri ?? (model?.pvc ? `pvc://${model.pvc.claimName}/${model.pvc.path ?? ''}` : undefined));
  field('Output', status?.outputURI);
  if (status?.evaluation) {
    const e = status.evaluation;
    const control =
      e.scratchAccuracy === undefined
        ? ''
        : `; from scratch ${e.scratchAccuracy} (transfer ${e.transferGain! >= 0 ? '+' : ''}${e.transferGain})`;
    field(
      'Test set',
      `accuracy ${e.accuracy} on ${e.examples} examples (macro precision ${e.macroPrecision}, recall ${e.macroRecall})${control}${e.report ? `; ${e.report}` : ''}`,
    );
  }
  if (status?.promotion)
    field('Promotion', `${status.promotion.promoted ? 'promoted' : 'not promoted'}: ${status.promotion.message}`);
  lines.push('Stages:');
  const stages = status?.stages ?? [];
  lines.push(
    stages.length
      ? table(
          ['name', 'state', 'epochs', 'best', 'started', 'ended', 'reason'],
          stages.map((s) => [
            s.name,
            s.state,
            String(s.epochsRun),
            s.bestValue === undefined ? '' : `${s.monitor} ${s.bestValue} @${s.bestEpoch}`,
            s.startTime ?? '',
            s.endTime ?? '',
            s.endReason ?? '',
          ]),
        ).replace(/^/gm, '  ')
      : '  <none>',
  );
  if (status?.trials?.length) {
    lines.push('Trials:');
    lines.push(
      table(
        ['name', 'settings', 'state', 'epochs', 'val_loss', 'val_acc', 'reason', 'selected'],
        status.trials.map((t) => [
          t.name,
          t.settings,
          t.state,
          String(t.epochs),
          t.valLoss === undefined ? '' : String(t.valLoss),
          t.valAccuracy === undefined ? '' : String(t.valAccuracy),
          t.endReason ?? '',
          t.selected ? 'yes' : '',
        ]),
      ).replace(/^/gm, '  '),
    );
  }
  for (const history of status?.history ?? []) {
    const points = (values: (number | null)[] | undefined) =>
      history.epoch.map((e, i): [number, number | null] => [e, values?.[i] ?? null]);
    lines.push(`Curves of stage ${history.stage}:`);
    lines.push(
      lineChart(
        [
          { label: 'loss', symbol: '*', points: points(history.loss) },
          { label: 'val_loss', symbol: 'o', points: points(history.valLoss) },
        ],
        { xLabel: 'epoch' },
      ).replace(/^/gm, '  '),
    );
    if (history.valAccuracy?.some((v) => v !== null)) {
      lines.push(
        lineChart(
          [
            { label: 'acc', symbol: '*', points: points(history.accuracy) },
            { label: 'val_acc', symbol: 'o', points: points(history.valAccuracy) },
          ],
          { xLabel: 'epoch' },
        ).replace(/^/gm, '  '),
      );
    }
  }
  const m = status?.metrics;
  if (m)
    lines.push(
      `Metrics:      epoch ${m.epoch ?? '-'}  loss ${m.loss ?? '-'}  acc ${m.accuracy ?? '-'}  val_loss ${m.valLoss ?? '-'}  val_acc ${m.valAccuracy ?? '-'}  ${m.samplesPerSecond ?? '-'} samples/s`,
    );
  lines.push('Conditions:');
  lines.push(
    table(
      ['type', 'status', 'reason', 'message'],
      (status?.conditions ?? []).map((c) => [c.type, c.status, c.reason, c.message]),
    ).replace(/^/gm, '  '),
  );
  const events = (
    await core.listNamespacedEvent({
      namespace: metadata.namespace,
      fieldSelector: `involvedObject.uid=${metadata.uid}`,
    })
  ).items.sort((a, b) => eventTime(a).getTime() - eventTime(b).getTime());
  lines.push('Events:');
  lines.push(
    events.length
      ? table(
          ['type', 'reason', 'age', 'message'],
          events.map((e) => [
            e.type ?? '',
            e.reason ?? '',
            `${age(eventTime(e))}${eventCount(e) > 1 ? ` (x${eventCount(e)})` : ''}`,
            e.message ?? '',
          ]),
        ).replace(/^/gm, '  ')
      : '  <none>',
  );
  return `${lines.join('\n')}\n`;
}

program
  .command('logs')
  .description("the trainer log of a FineTuneJob's current attempt (or --attempt N), from any cluster")
  .argument('<name>', 'FineTuneJob name')
  .option('-f, --follow', 'stream the log as it is written')
  .option('--attempt <n>', 'the attempt (trainer pod) to show; default: the current one')
  .action(
    action(async (name: string, options: { follow?: boolean; attempt?: string }) => {
      const job = await getJob(name);
      const { core, kc } = cluster();
      let pod = job.status?.podName;
      if (options.attempt !== undefined) {
        const selector = `${JOB_NAME_LABEL}=${nameLabelValue(job.metadata.name)},${ATTEMPT_LABEL}=${options.attempt}`;
        const pods = (
          await core.listNamespacedPod({ namespace: job.metadata.namespace, labelSelector: selector })
        ).items.filter((p) => p.metadata?.ownerReferences?.some((o) => o.uid === job.metadata.uid));
        pod = pods[0]?.metadata?.name;
        if (!pod)
          throw new CliError(
            `FineTuneJob "${name}" has no pod of attempt ${options.attempt} (it has had ${job.status?.attempts ?? 0})`,
          );
      }
      if (!pod)
        throw new CliError(`FineTuneJob "${name}" has no trainer pod yet (phase ${job.status?.phase ?? 'Pending'})`);
      const stream = async (podName: string) => {
        const out = new PassThrough();
        out.pipe(process.stdout, { end: false });
        const finished = new Promise<void>((resolve) => out.on('end', resolve));
        await new Log(kc).log(job.metadata.namespace, podName, TRAINER_CONTAINER, out, { follow: !!options.follow });
        await finished;
      };
      await stream(pod);
      if (!options.follow || options.attempt !== undefined) return;
      // Following a job, not a pod: when an attempt ends and the job goes on, the next attempt's log follows.
      for (let shown = pod; ;) {
        const next = await nextAttempt(name, shown);
        if (!next) return;
        process.stdout.write(`--- attempt ${next.attempt}: ${next.pod} ---\n`);
        await stream(next.pod);
        shown = next.pod;
      }
    }),
  );

/** The pod of the job's next attempt once it runs, or undefined once the job is finished. */
async function nextAttempt(name: string, after: string): Promise<{ pod: string; attempt: number } | undefined> {
  for (;;) {
    const { status } = await getJob(name);
    if (status?.phase === 'Succeeded' || status?.phase === 'Failed') return undefined;
    if (status?.podName && status.podName !== after && status.phase === 'Running')
      return { pod: status.podName, attempt: status.attempts ?? 0 };
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

for (const [command, suspend] of [
  ['suspend', true],
  ['resume', false],
] as const) {
  program
    .command(command)
    .description(
      suspend
        ? 'suspend a FineTuneJob: its trainer saves where it is and stops; resume continues there'
        : 'resume a suspended FineTuneJob',
    )
    .argument('<name>', 'FineTuneJob name')
    .action(
      action(async (name: string) => {
        const { custom, namespace } = cluster();
        await custom.patchNamespacedCustomObject({
          ...jobsRef,
          namespace: namespaced(namespace),
          name,
          body: [{ op: 'add', path: '/spec/suspend', value: suspend }],
        });
        process.stdout.write(`finetunejob.${GROUP}/${name} ${suspend ? 'suspended' : 'resumed'}\n`);
      }),
    );
}

program
  .command('retry')
  .description('run a failed FineTuneJob again: delete it and create it anew with the same name, labels and spec')
  .argument('<name>', 'FineTuneJob name')
  .action(
    action(async (name: string) => {
      const job = await getJob(name);
      if (job.status?.phase !== 'Failed')
        throw new CliError(`FineTuneJob "${name}" is ${job.status?.phase ?? 'Pending'}: only a Failed job is retried`);
      const { custom } = cluster();
      const ref = { ...jobsRef, namespace: job.metadata.namespace };
      await custom.deleteNamespacedCustomObject({ ...ref, name, propagationPolicy: 'Foreground' });
      // The new object must not be created before the old one is gone (same name).
      for (
        let wait = 100;
        await custom.getNamespacedCustomObject({ ...ref, name }).then(
          () => true,
          () => false,
        );
        wait = Math.min(wait * 2, 2000)
      ) {
        await new Promise((resolve) => setTimeout(resolve, wait));
      }
      const annotations = Object.fromEntries(
        Object.entries(job.metadata.annotations ?? {}).filter(
          ([key]) => key !== 'kubectl.kubernetes.io/last-applied-configuration',
        ),
      );
      await custom.createNamespacedCustomObject({
        ...ref,
        body: {
          apiVersion: `${GROUP}/${VERSION}`,
          kind: FINETUNEJOB.kind,
          metadata: { name, ...(job.metadata.labels ? { labels: job.metadata.labels } : {}), annotations },
          spec: job.spec,
        },
      });
      process.stdout.write(`finetunejob.${GROUP}/${name} re-created: a new job, trained from the start\n`);
    }),
  );

program
  .command('predict')
  .description(
    "classify images (or texts) with a FineTuneJob's model: sent to a predictor (--url), else run on this machine from " +
      "the job's output",
  )
  .argument('<name>', 'FineTuneJob name')
  .argument('<files...>', "image files (PNG, JPEG), or text files for a text classifier (a file's text is one example)")
  .option(
    '--url <url>',
    "a predictor's address: ftj dev's, kubectl port-forward's (http://127.0.0.1:8080) or an InferenceService's",
  )
  .option('--model-name <name>', 'the model name the predictor serves (default: the job name)')
  .option('--top <k>', 'classes shown for each file', '3')
  .action(
    action(async (name: string, files: string[], options: { url?: string; modelName?: string; top: string }) => {
      const topK = Number(options.top);
      if (!Number.isInteger(topK) || topK < 1)
        throw new CliError(`--top: expected a whole number from 1, got "${options.top}"`);
      const model = options.modelName ?? name;
      const show = (url: string) => predictFiles(url, model, files, topK);
      let predictions;
      if (options.url) predictions = await show(options.url);
      else {
        const job = await getJob(name);
        if (job.status?.phase !== 'Succeeded' || !job.status.outputURI)
          throw new CliError(
            `FineTuneJob "${name}" is ${job.status?.phase ?? 'Pending'}: it has no model to run until it has Succeeded`,
          );
        predictions = await withLocalPredictor(job.status.outputURI, model, show);
      }
      const rows = predictions.map((p) =>
        p.top
          ? [p.file, p.top.map((c) => `${c.name} ${(c.probability * 100).toFixed(1)}%`).join(', ')]
          : [p.file, `error: ${p.error}`],
      );
      process.stdout.write(`${table(['FILE', 'TOP CLASSES'], rows)}\n`);
      if (predictions.some((p) => p.error)) process.exitCode = 1;
    }),
  );

program
  .command('report')
  .description(
    "save a FineTuneJob's training report (report.html: curves, learning rate, evaluation, provenance) to open in " +
      'a browser',
  )
  .argument('<name>', 'FineTuneJob name')
  .option('-o, --output <file>', 'where to save it (default: NAME-report.html)')
  .action(
    action(async (name: string, options: { output?: string }) => {
      const job = await getJob(name);
      const file = options.output ?? `${name}-report.html`;
      const beside = job.status?.outputURI ? reportBesideModel(job.status.outputURI) : undefined;
      if (beside && existsSync(beside)) {
        copyFileSync(beside, file);
        process.stdout.write(`${file}: the report the trainer wrote beside the model (${beside})\n`);
        return;
      }
      if (!job.status?.history?.length)
        throw new CliError(`FineTuneJob "${name}" has no epoch reported yet (phase ${job.status?.phase ?? 'Pending'})`);
      writeFileSync(file, reportFromStatus(job));
      process.stdout.write(
        `${file}: drawn from the job's status${job.status.outputURI ? ` (${job.status.outputURI}/report.html is out of reach here)` : ''}\n`,
      );
    }),
  );

program
  .command('schedules')
  .description('FineTuneSchedule commands')
  .command('trigger')
  .description('start a run of a FineTuneSchedule now (like kubectl create job --from=cronjob/NAME)')
  .argument('<name>', 'FineTuneSchedule name')
  .option('--run-name <name>', 'name of the run (default: NAME-manual-<unix time>)')
  .action(
    action(async (name: string, options: { runName?: string }) => {
      const { custom, namespace } = cluster();
      const schedule = (await custom.getNamespacedCustomObject({
        ...schedulesRef,
        namespace: namespaced(namespace),
        name,
      })) as Schedule;
      const now = new Date();
      const runName = options.runName ?? `${name}-manual-${Math.floor(now.getTime() / 1000)}`;
      let run;
      try {
        run = manualRun(schedule, runName, now);
      } catch (err) {
        throw new CliError((err as Error).message);
      }
      await custom.createNamespacedCustomObject({ ...jobsRef, namespace: namespaced(namespace), body: run });
      process.stdout.write(`finetunejob.${GROUP}/${runName} created\n`);
    }),
  );

await program.parseAsync();
