import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { FINETUNEJOB, type FineTuneJobStatus, GROUP, VERSION } from '../../api/v1alpha1/index.ts';
import { OperatorManager } from '../../operator/runtime/operator-manager.ts';
import { PooledKubeConfig } from '../../operator/runtime/pooled-kube-config.ts';
import { ControlPlane, installCRDs, runKubectl } from '../control-plane/index.ts';
import { ensureDebianPackages } from '../debian-packages.ts';
import { NodeAgent } from '../node-agent/node-agent.ts';
import { createLocalClaims, prepareQuickstartVolumes, QUICKSTART_CLAIMS } from '../quickstart/quickstart-volumes.ts';

export interface DevOptions { root: string; manifest: string; gpus: number; exitWhenDone: boolean; print: (line: string) => void }

/** The dev control plane's kubeconfig, for `ftj status` and `ftj logs`. */
export const devKubeconfig = (root: string) => join(root, 'control-plane', 'kubeconfig');

/**
 * `ftj dev`: a whole local cluster in one process: the control plane, the
 * CRDs, the operator, a node agent with GPUs; then the manifest is applied
 * and its jobs' phases, stages and epochs are streamed until Ctrl-C (or,
 * with exitWhenDone, until they finish).
 */
export async function runDevEnvironment(options: DevOptions): Promise<number> {
  const { root, print } = options;
  // The quickstart's dataset is a Debian package: installed here on a new machine, before anything starts.
  await ensureDebianPackages();
  const pvcRoot = join(root, 'pvc');
  rmSync(join(root, 'control-plane'), { recursive: true, force: true });
  mkdirSync(join(root, 'control-plane'), { recursive: true });
  const controlPlane = new ControlPlane({ dir: join(root, 'control-plane'), log: print });
  let agent: NodeAgent | undefined;
  let operator: OperatorManager | undefined;
  const shutdown = async () => {
    await agent?.stop().catch(() => undefined);
    await operator?.stop().catch(() => undefined);
    await controlPlane.stop();
  };
  let interrupted = false;
  const onSignal = () => { interrupted = true; };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    await controlPlane.start();
    const { kubectl } = controlPlane.binaries;
    await installCRDs(kubectl, controlPlane.kubeconfigPath);
    const kc = new PooledKubeConfig();
    kc.loadFromFile(controlPlane.kubeconfigPath);
    await prepareQuickstartVolumes(pvcRoot, print);
    await createLocalClaims(kc, 'default', pvcRoot, QUICKSTART_CLAIMS);
    agent = new NodeAgent({ kubeConfig: kc, kubeconfigPath: controlPlane.kubeconfigPath, nodeName: 'local-node', capacity: { gpus: options.gpus }, root, log: () => undefined });
    await agent.start();
    operator = new OperatorManager({
      kubeConfig: kc, namespaces: [], workers: 2, port: 0, log: () => undefined,
      settings: { trainerImage: 'finetune/trainer:local', trainerServiceAccount: 'default', retryBaseSeconds: 5 },
    });
    await operator.start();
    print(`\nLocal cluster ready. In another shell:\n  export KUBECONFIG=${controlPlane.kubeconfigPath}\n  ${kubectl} get ftj -w\n  npx ftj status <name>   npx ftj logs <name>\n`);

    const applied = await runKubectl(kubectl, controlPlane.kubeconfigPath, ['apply', '-n', 'default', '-f', options.manifest]);
    if (applied.code !== 0) throw new Error(`kubectl apply -f ${options.manifest} failed: ${applied.stderr}`);
    print(applied.stdout.trim());
    const names = applied.stdout.split('\n').map((l) => /^finetunejob\.finetune\.dev\/(\S+)/.exec(l)?.[1]).filter((n): n is string => !!n);
    return await stream(kc, names, options, () => interrupted);
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    print('stopping the local cluster');
    await shutdown();
  }
}

/** Prints phase, stage and epoch changes of the jobs as they happen; returns 0 when all succeeded. */
async function stream(kc: KubeConfig, names: string[], options: DevOptions, interrupted: () => boolean): Promise<number> {
  const api = kc.makeApiClient(CustomObjectsApi);
  const seen = new Map<string, string>();
  const time = () => new Date().toISOString().slice(11, 19);
  for (;;) {
    const statuses = await Promise.all(names.map(async (name) => {
      const job = await api.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: 'default', plural: FINETUNEJOB.plural, name }).catch(() => undefined) as { status?: FineTuneJobStatus } | undefined;
      return [name, job?.status] as const;
    }));
    for (const [name, status] of statuses) {
      const m = status?.metrics;
      // The stage's own epoch count (metrics still hold the previous stage's last epoch as a stage starts).
      const progress = status?.progress;
      const line = [
        `phase ${status?.phase ?? 'Pending'}`,
        status?.stage ? `stage ${status.stage}` : '',
        progress?.epoch ? `epoch ${progress.epoch}/${progress.totalEpochs ?? '?'} loss ${m?.loss?.toFixed(4) ?? '-'} val_acc ${m?.valAccuracy?.toFixed(4) ?? '-'}` : '',
      ].filter(Boolean).join(', ');
      if (seen.get(name) !== line) { options.print(`${time()} ${name}: ${line}`); seen.set(name, line); }
      if (status?.phase === 'Succeeded' && !seen.has(`${name}/done`)) {
        seen.set(`${name}/done`, 'done');
        for (const stage of status.stages ?? []) options.print(`         stage ${stage.name}: ${stage.epochsRun} epochs, best ${stage.monitor} ${stage.bestValue?.toFixed(4)} at epoch ${stage.bestEpoch} (${stage.endReason})`);
        options.print(`         model written to ${status.outputURI}`);
      }
    }
    const done = statuses.every(([, s]) => s?.phase === 'Succeeded' || s?.phase === 'Failed');
    if (interrupted() || (options.exitWhenDone && done)) return statuses.every(([, s]) => s?.phase === 'Succeeded') ? 0 : 1;
    await new Promise((r) => setTimeout(r, 500));
  }
}
