import { mkdirSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { ApiException, CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import {
  FINETUNEJOB,
  type FineTuneJobStatus,
  FINETUNESCHEDULE,
  type FineTuneScheduleStatus,
  GROUP,
  SCHEDULE_NAME_LABEL,
  VERSION,
} from '../../api/v1alpha1/index.ts';
import sharp from 'sharp';
import { OperatorManager } from '../../operator/runtime/operator-manager.ts';
import { PooledKubeConfig } from '../../operator/runtime/pooled-kube-config.ts';
import { ControlPlane, installCRDs, runKubectl } from '../control-plane/index.ts';
import { ensureDebianPackages } from '../debian-packages.ts';
import { NodeAgent } from '../node-agent/node-agent.ts';
import { predictFiles } from '../../cli/predict.ts';
import { FASHION_CLASS_NAMES, fashionSubset } from '../quickstart/fashion-mnist.ts';
import { createLocalClaims, prepareQuickstartVolumes, QUICKSTART_CLAIMS } from '../quickstart/quickstart-volumes.ts';

export interface DevOptions {
  root: string;
  manifest: string;
  gpus: number;
  exitWhenDone: boolean;
  /** The manifest is a quickstart.yaml: its served model is shown a few Fashion-MNIST test images. */
  quickstart?: boolean;
  print: (line: string) => void;
}

/** The dev control plane's kubeconfig, for `ftj status` and `ftj logs`. */
export const devKubeconfig = (root: string) => join(root, 'control-plane', 'kubeconfig');

/**
 * `ftj dev`: a whole local cluster in one process: the control plane, the
 * CRDs, the operator, a node agent with GPUs; then the manifest is applied
 * and its jobs' phases, stages and epochs are streamed until Ctrl-C (or,
 * with exitWhenDone, until they finish). A FineTuneSchedule's runs are
 * streamed as they are created; with exitWhenDone it waits for its first.
 */
export async function runDevEnvironment(options: DevOptions): Promise<number> {
  const { root, print } = options;
  const started = Date.now();
  // The quickstart's dataset is a Debian package: installed here on a new machine, before anything starts.
  await ensureDebianPackages();
  const pvcRoot = join(root, 'pvc');
  rmSync(join(root, 'control-plane'), { recursive: true, force: true });
  mkdirSync(join(root, 'control-plane'), { recursive: true });
  // This function stops the control plane itself, after the trainers, the agent and the operator.
  const controlPlane = new ControlPlane({ dir: join(root, 'control-plane'), log: print, handleSignals: false });
  let agent: NodeAgent | undefined;
  let operator: OperatorManager | undefined;
  // Ctrl-C (or SIGTERM) stops everything in order; a second one kills what is left at once.
  let interrupted = false;
  let firstSignal = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    // Ctrl-C under npm start reaches this process twice at once (from the terminal, and forwarded by npm):
    // only a press a moment later is a second one.
    if (interrupted && Date.now() - firstSignal < 500) return;
    if (interrupted) {
      print(`${signal} again: killing the trainers and the control plane now`);
      agent?.killAll();
      controlPlane.kill();
      process.exit(130);
    }
    interrupted = true;
    firstSignal = Date.now();
    print(`\n${signal}: stopping (Ctrl-C again to kill at once)`);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    await controlPlane.start();
    if (interrupted) return 130;
    const { kubectl } = controlPlane.binaries;
    await installCRDs(kubectl, controlPlane.kubeconfigPath);
    const kc = new PooledKubeConfig();
    kc.loadFromFile(controlPlane.kubeconfigPath);
    await prepareQuickstartVolumes(pvcRoot, print);
    if (interrupted) return 130;
    await createLocalClaims(kc, 'default', pvcRoot, QUICKSTART_CLAIMS);
    agent = new NodeAgent({
      kubeConfig: kc,
      kubeconfigPath: controlPlane.kubeconfigPath,
      nodeName: 'local-node',
      capacity: { gpus: options.gpus },
      root,
      log: () => undefined,
    });
    await agent.start();
    operator = new OperatorManager({
      kubeConfig: kc,
      namespaces: [],
      workers: 2,
      port: 0,
      log: () => undefined,
      settings: { trainerImage: 'finetune/trainer:local', trainerServiceAccount: 'default', retryBaseSeconds: 5 },
      // A chart installed into this cluster (helm install, run by the node agent) sees this operator and stands by.
      leaderElection: { namespace: 'default', name: 'finetune-operator', identity: `ftj-dev-${process.pid}` },
    });
    await operator.start();
    print(
      `\nLocal cluster ready. In another shell:\n  export KUBECONFIG=${controlPlane.kubeconfigPath}\n  ${kubectl} get ftj -w     (kubectl logs works too)\n  bin/kubectl-ftj describe <name>   bin/kubectl-ftj logs <name> -f\n`,
    );

    const applied = await runKubectl(kubectl, controlPlane.kubeconfigPath, [
      'apply',
      '-n',
      'default',
      '-f',
      options.manifest,
    ]);
    if (applied.code !== 0) throw new Error(`kubectl apply -f ${options.manifest} failed: ${applied.stderr}`);
    print(applied.stdout.trim());
    const appliedNames = (resource: string) =>
      applied.stdout
        .split('\n')
        .map((l) => new RegExp(`^${resource}\\.finetune\\.dev/(\\S+)`).exec(l)?.[1])
        .filter((n): n is string => !!n);
    // Each job that succeeds is served (not with --exit-when-done, which ends here): a predictor pod on the local node.
    const serve = options.exitWhenDone
      ? undefined
      : (name: string, outputURI: string) =>
          servePredictor(kc, agent!, name, outputURI, print).then((url) =>
            url ? whatNext({ ...options, kubeconfig: controlPlane.kubeconfigPath, started }, name, url) : undefined,
          );
    const code = await stream(
      kc,
      appliedNames(FINETUNEJOB.singular),
      appliedNames(FINETUNESCHEDULE.singular),
      options,
      () => interrupted,
      serve,
    );
    return interrupted ? 130 : code;
  } finally {
    await shutdown(print, controlPlane, agent, operator);
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
}

/**
 * Stops the local cluster in order, saying what it stops: the trainers first (SIGTERM, so each saves
 * its checkpoint, as on a node drain) with the node agent, then the operator, then the control plane.
 */
async function shutdown(
  print: (line: string) => void,
  controlPlane: ControlPlane,
  agent?: NodeAgent,
  operator?: OperatorManager,
): Promise<void> {
  const pods = agent?.runningPods ?? [];
  if (pods.length)
    print(
      `stopping ${pods.map((p) => p.pod).join(', ')} (SIGTERM: a trainer saves its checkpoint and exits, a predictor answers what it took)`,
    );
  await agent?.stop().catch((err: unknown) => print(`stopping the node agent failed: ${String(err)}`));
  print('stopped the node agent; stopping the operator');
  await operator?.stop().catch((err: unknown) => print(`stopping the operator failed: ${String(err)}`));
  print('stopping the control plane');
  await controlPlane.stop();
  print('the local cluster is stopped');
}

/**
 * Prints phase, stage and epoch changes of the jobs (and of the runs of the schedules) as they happen;
 * returns 0 when all succeeded. With exitWhenDone, a schedule is done once its first run is.
 */
async function stream(
  kc: KubeConfig,
  jobs: string[],
  schedules: string[],
  options: DevOptions,
  interrupted: () => boolean,
  onSucceeded?: (name: string, outputURI: string) => Promise<void>,
): Promise<number> {
  const api = kc.makeApiClient(CustomObjectsApi);
  const seen = new Map<string, string>();
  const runs = new Set<string>();
  const time = () => new Date().toISOString().slice(11, 19);
  const print = (key: string, line: string) => {
    if (seen.get(key) !== line) {
      options.print(`${time()} ${line}`);
      seen.set(key, line);
    }
  };
  const where = { group: GROUP, version: VERSION, namespace: 'default' };
  for (;;) {
    for (const schedule of schedules) {
      const object = (await api
        .getNamespacedCustomObject({ ...where, plural: FINETUNESCHEDULE.plural, name: schedule })
        .catch(() => undefined)) as { status?: FineTuneScheduleStatus } | undefined;
      const status = object?.status;
      print(
        `schedule/${schedule}`,
        `schedule ${schedule}: next run ${status?.nextScheduleTime ?? '-'}, ${status?.activeCount ?? 0} active, last success ${status?.lastSuccessfulRun?.name ?? '-'}`,
      );
      const listed = (await api
        .listNamespacedCustomObject({
          ...where,
          plural: FINETUNEJOB.plural,
          labelSelector: `${SCHEDULE_NAME_LABEL}=${schedule}`,
        })
        .catch(() => ({ items: [] }))) as { items: { metadata: { name: string } }[] };
      for (const run of listed.items) runs.add(run.metadata.name);
    }
    const statuses = await Promise.all(
      [...jobs, ...runs].map(async (name): Promise<Watched> => {
        const job = await api.getNamespacedCustomObject({ ...where, plural: FINETUNEJOB.plural, name }).then(
          (object) => object as { status?: FineTuneJobStatus },
          (err: unknown) => (err instanceof ApiException && err.code === 404 ? ('gone' as const) : undefined),
        );
        return { name, isRun: runs.has(name), gone: job === 'gone', status: job === 'gone' ? undefined : job?.status };
      }),
    );
    for (const job of statuses) {
      const { name, status } = job;
      print(name, progressLine(job));
      if (status?.phase === 'Succeeded' && !seen.has(`${name}/done`)) {
        seen.set(`${name}/done`, 'done');
        for (const stage of status.stages ?? [])
          options.print(
            `         stage ${stage.name}: ${stage.epochsRun} epochs, best ${stage.monitor} ${stage.bestValue?.toFixed(4)} at epoch ${stage.bestEpoch} (${stage.endReason})`,
          );
        const evaluation = status.evaluation;
        if (evaluation) {
          const scratch =
            evaluation.scratchAccuracy === undefined
              ? ''
              : `; from scratch ${pct(evaluation.scratchAccuracy)}: transfer ${evaluation.transferGain! >= 0 ? 'gained' : 'lost'} ${Math.abs(evaluation.transferGain! * 100).toFixed(1)} points`;
          options.print(
            `         test set (${evaluation.examples} held-out examples): accuracy ${pct(evaluation.accuracy)}${scratch}`,
          );
        }
        options.print(`         model written to ${status.outputURI}`);
        if (status.outputURI)
          void onSucceeded?.(name, status.outputURI).catch((err: unknown) =>
            options.print(`         ${String(err).split('\n')[0]}`),
          );
      }
    }
    const done = allFinished(statuses) && (schedules.length === 0 || runs.size > 0);
    if (interrupted() || (options.exitWhenDone && done))
      return statuses.every((job) => job.status?.phase === 'Succeeded' || (job.isRun && job.gone)) ? 0 : 1;
    await new Promise((r) => setTimeout(r, 500));
  }
}

/**
 * Serves a succeeded job's model: a pod of the predictor image on the local node (the node agent runs it as
 * the predictor process, on a free port it logs). Resolves to its URL, or undefined when it did not start.
 */
async function servePredictor(
  kc: KubeConfig,
  agent: NodeAgent,
  name: string,
  outputURI: string,
  print: (line: string) => void,
): Promise<string | undefined> {
  const pod = `${name}-predictor`.slice(0, 253);
  const body = {
    metadata: {
      name: pod,
      labels: { 'app.kubernetes.io/name': 'finetune-predictor', 'app.kubernetes.io/instance': name },
    },
    spec: {
      nodeName: 'local-node',
      restartPolicy: 'Always',
      containers: [
        { name: 'predictor', image: 'finetune/predictor:local', args: ['--model', outputURI, '--model-name', name] },
      ],
    },
  };
  await kc.makeApiClient(CoreV1Api).createNamespacedPod({ namespace: 'default', body });
  for (let tries = 0; tries < 300; tries++) {
    const port = /listening on :(\d+)/.exec(agent.logs('default', pod))?.[1];
    if (port) {
      const url = `http://127.0.0.1:${port}`;
      print(`         serving ${name} at ${url}/v2/models/${name}/infer (pod ${pod}), e.g.:`);
      print(`         curl -s ${url}/v2/models/${name}/infer -H 'content-type: application/json' \\`);
      print(
        `           -d "{\\"inputs\\":[{\\"name\\":\\"image\\",\\"datatype\\":\\"BYTES\\",\\"shape\\":[1],\\"data\\":[\\"$(base64 -w0 IMAGE.png)\\"]}]}"`,
      );
      return url;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  print(`         the predictor of ${name} did not start: see ftj logs or kubectl logs ${pod}`);
  return undefined;
}

/** Fashion-MNIST classes the quickstart's served model is shown one test image of. */
const SAMPLE_CLASSES = [0, 1, 5, 7, 8, 9];

/**
 * After the first job is served: for the quickstart, its served model classifies a few Fashion-MNIST test
 * images (files the user can send again); then the commands to look further, and the time since start.
 */
async function whatNext(
  options: DevOptions & { kubeconfig: string; started: number },
  name: string,
  url: string,
): Promise<void> {
  const { print } = options;
  const files: string[] = [];
  if (options.quickstart) {
    const samples = await fashionSubset(SAMPLE_CLASSES, 1, 0, 't10k');
    const dir = join(options.root, 'samples');
    mkdirSync(dir, { recursive: true });
    for (let i = 0; i < samples.count; i++) {
      const file = join(dir, `${FASHION_CLASS_NAMES[SAMPLE_CLASSES[samples.labels[i]!]!]}.png`);
      await sharp(Buffer.from(samples.images.subarray(i * 784, (i + 1) * 784)), {
        raw: { width: 28, height: 28, channels: 1 },
      })
        .png()
        .toFile(file);
      files.push(file);
    }
    print(`\nThe served model on Fashion-MNIST test images (each file is named after its true class):`);
    const predictions = await predictFiles(url, name, files, 2);
    for (const p of predictions)
      print(
        `  ${basename(p.file).padEnd(16)} ${p.top?.map((c) => `${c.name} ${(c.probability * 100).toFixed(0)}%`).join(', ') ?? `error: ${p.error}`}`,
      );
  }
  const minutes = (Date.now() - options.started) / 60_000;
  print(
    [
      `\n${name} trained, evaluated and served ${Math.floor(minutes)} min ${Math.round((minutes % 1) * 60)} s after start. Next, in another shell:`,
      `  export KUBECONFIG=${options.kubeconfig}`,
      `  bin/kubectl-ftj describe ${name}          # stages, learning curves, evaluation`,
      `  bin/kubectl-ftj predict ${name} ${files.length ? `${join(options.root, 'samples')}/*.png` : 'IMAGE.png'} --url ${url}`,
      `  ls ${join(options.root, 'pvc', 'models', name)}      # model.json, metadata.json, evaluation.json, report.html`,
      '  npm start -- -f my-job.yaml               # your own manifest (examples/ has more)',
      'Ctrl-C stops the local cluster.',
    ].join('\n'),
  );
}

const pct = (share: number) => `${(share * 100).toFixed(1)}%`;

/** The line `ftj dev` prints for a job: its phase, stage and epoch, or that it was deleted. */
export function progressLine({ name, status, gone, isRun }: Watched): string {
  if (gone) return `${name}: deleted${isRun ? " (a run pruned by its schedule's history limit)" : ''}`;
  const m = status?.metrics;
  // The stage's own epoch count (metrics still hold the previous stage's last epoch as a stage starts).
  const progress = status?.progress;
  return `${name}: ${[
    `phase ${status?.phase ?? 'Pending'}`,
    status?.stage ? `stage ${status.stage}` : '',
    progress?.epoch
      ? `epoch ${progress.epoch}/${progress.totalEpochs ?? '?'} loss ${m?.loss?.toFixed(4) ?? '-'} val_acc ${m?.valAccuracy?.toFixed(4) ?? '-'}`
      : '',
  ]
    .filter(Boolean)
    .join(', ')}`;
}

/** A job `ftj dev` follows: `gone` once deleted; `status` undefined also while the operator has not written one yet, or on a failed read. */
export interface Watched {
  name: string;
  isRun: boolean;
  gone: boolean;
  status: FineTuneJobStatus | undefined;
}

/**
 * Whether every followed job has finished. A run pruned by its schedule's
 * history limit is gone, and done; a run just created has no status yet, and
 * is not.
 */
export function allFinished(jobs: Watched[]): boolean {
  return jobs.every(
    (job) => job.status?.phase === 'Succeeded' || job.status?.phase === 'Failed' || (job.isRun && job.gone),
  );
}
