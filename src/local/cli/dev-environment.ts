import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
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
import { OperatorManager } from '../../operator/runtime/operator-manager.ts';
import { PooledKubeConfig } from '../../operator/runtime/pooled-kube-config.ts';
import { ControlPlane, installCRDs, runKubectl } from '../control-plane/index.ts';
import { ensureDebianPackages } from '../debian-packages.ts';
import { NodeAgent } from '../node-agent/node-agent.ts';
import { createLocalClaims, prepareQuickstartVolumes, QUICKSTART_CLAIMS } from '../quickstart/quickstart-volumes.ts';

export interface DevOptions {
  root: string;
  manifest: string;
  gpus: number;
  exitWhenDone: boolean;
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
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) {
      print(`${signal} again: killing the trainers and the control plane now`);
      agent?.killAll();
      controlPlane.kill();
      process.exit(130);
    }
    interrupted = true;
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
      : (name: string, outputURI: string) => servePredictor(kc, agent!, name, outputURI, print);
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
    print(`stopping ${pods.map((p) => p.pod).join(', ')} (SIGTERM: a trainer saves its checkpoint and exits)`);
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
  onSucceeded?: (name: string, outputURI: string) => void,
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
        options.print(`         model written to ${status.outputURI}`);
        if (status.outputURI) onSucceeded?.(name, status.outputURI);
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
 * the predictor process, on a free port it logs), then the URL and a curl command to call it.
 */
function servePredictor(
  kc: KubeConfig,
  agent: NodeAgent,
  name: string,
  outputURI: string,
  print: (line: string) => void,
): void {
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
  void (async () => {
    await kc.makeApiClient(CoreV1Api).createNamespacedPod({ namespace: 'default', body });
    for (let tries = 0; tries < 300; tries++) {
      const port = /listening on :(\d+)/.exec(agent.logs('default', pod))?.[1];
      if (port) {
        print(`         serving ${name} at http://127.0.0.1:${port}/v2/models/${name}/infer (pod ${pod}), e.g.:`);
        print(
          `         curl -s http://127.0.0.1:${port}/v2/models/${name}/infer -H 'content-type: application/json' \\`,
        );
        print(
          `           -d "{\\"inputs\\":[{\\"name\\":\\"image\\",\\"datatype\\":\\"BYTES\\",\\"shape\\":[1],\\"data\\":[\\"$(base64 -w0 IMAGE.png)\\"]}]}"`,
        );
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    print(`         the predictor of ${name} did not start: see ftj logs or kubectl logs ${pod}`);
  })().catch((err: unknown) => print(`         could not serve ${name}: ${String(err).split('\n')[0]}`));
}

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
