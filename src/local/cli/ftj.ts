#!/usr/bin/env node
// ftj: the command line of local mode. Run it through npm (npx ftj ..., npm start),
// which puts the project's Node 22 first.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { Command } from 'commander';
import { CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { FINETUNEJOB, type FineTuneJobStatus, GROUP, TRAINER_CONTAINER, VERSION } from '../../api/v1alpha1/index.ts';
import { PooledKubeConfig } from '../../operator/runtime/pooled-kube-config.ts';
import { containerLogFile } from '../node-agent/node-agent.ts';
import { devKubeconfig, runDevEnvironment } from './dev-environment.ts';

const DEFAULT_ROOT = join(process.env['XDG_CACHE_HOME'] ?? join(homedir(), '.cache'), 'finetune-operator', 'dev');
const TRAINER = join(import.meta.dirname, '..', '..', 'trainer', 'main.ts');

function kubeConfig(root: string, path?: string): KubeConfig {
  const kc = new PooledKubeConfig();
  const file = path ?? process.env['KUBECONFIG'] ?? (existsSync(devKubeconfig(root)) ? devKubeconfig(root) : undefined);
  if (file) kc.loadFromFile(file);
  else kc.loadFromDefault();
  return kc;
}

async function readJob(
  options: { root: string; kubeconfig?: string; namespace: string },
  name: string,
): Promise<{ status?: FineTuneJobStatus }> {
  const api = kubeConfig(options.root, options.kubeconfig).makeApiClient(CustomObjectsApi);
  return (await api.getNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    namespace: options.namespace,
    plural: FINETUNEJOB.plural,
    name,
  })) as { status?: FineTuneJobStatus };
}

const QUICKSTART_MANIFEST = join(import.meta.dirname, '..', '..', '..', 'examples', 'quickstart.yaml');

const program = new Command('ftj').description(
  'Fine-tuning as a Kubernetes resource: local mode and everyday commands.',
);

program
  .command('dev')
  .description(
    'run a local cluster (control plane, operator, a GPU node agent), apply a manifest and stream its progress; Ctrl-C cleans up',
  )
  .option('-f, --file <manifest>', 'manifest to apply', QUICKSTART_MANIFEST)
  .option('--gpus <n>', 'nvidia.com/gpu capacity of the local node (the trainer runs on the CPU)', '1')
  .option('--root <dir>', 'state: volumes, logs, control plane', DEFAULT_ROOT)
  .option('--exit-when-done', 'exit once the applied jobs have finished (exit code 0 when all succeeded)')
  .action(async (o: { file: string; gpus: string; root: string; exitWhenDone?: boolean }) => {
    process.exitCode = await runDevEnvironment({
      root: o.root,
      manifest: resolve(o.file),
      quickstart: basename(o.file) === basename(QUICKSTART_MANIFEST),
      gpus: Number(o.gpus),
      exitWhenDone: !!o.exitWhenDone,
      print: (l) => console.log(l),
    });
  });

program
  .command('run')
  .description('run the trainer directly on a FineTuneJob manifest, without a cluster')
  .requiredOption('-f, --file <manifest>', 'FineTuneJob manifest')
  .option('--pvc-root <dir>', 'folder holding one sub-folder per PVC claim', '/mnt/pvc')
  .action((o: { file: string; pvcRoot: string }) => {
    const child = spawn(
      process.execPath,
      [TRAINER, '--spec', resolve(o.file), '--pvc-root', o.pvcRoot, '--metrics-port', '0'],
      { stdio: 'inherit', env: { ...process.env, FTJ_ALLOW_CPU: '1' } },
    );
    child.on('exit', (code) => {
      process.exitCode = code ?? 1;
    });
  });

const clusterOptions = (command: Command) =>
  command
    .option('-n, --namespace <ns>', 'namespace', 'default')
    .option('--kubeconfig <file>', 'kubeconfig (default: $KUBECONFIG, else the ftj dev cluster)')
    .option('--root <dir>', 'ftj dev state folder', DEFAULT_ROOT);

clusterOptions(
  program
    .command('status')
    .argument('<name>', 'FineTuneJob name')
    .description('phase, stage timeline, metrics and conditions of a FineTuneJob'),
).action(async (name: string, o: { namespace: string; kubeconfig?: string; root: string }) => {
  const { status } = await readJob(o, name);
  console.log(
    `${name} (${o.namespace}): ${status?.phase ?? 'Pending'}${status?.stage ? `, stage ${status.stage}` : ''}, attempt ${status?.attempts ?? 0}`,
  );
  for (const s of status?.stages ?? []) {
    console.log(
      `  ${s.name.padEnd(16)} ${s.state.padEnd(10)} ${s.startTime ?? '-'} → ${s.endTime ?? '-'}  ${s.epochsRun} epochs${s.bestValue !== undefined ? `, best ${s.monitor} ${s.bestValue.toFixed(4)} @${s.bestEpoch}` : ''}${s.endReason ? ` (${s.endReason})` : ''}`,
    );
  }
  const m = status?.metrics;
  if (m)
    console.log(
      `  metrics: epoch ${m.epoch} loss ${m.loss ?? '-'} acc ${m.accuracy ?? '-'} val_loss ${m.valLoss ?? '-'} val_acc ${m.valAccuracy ?? '-'} (${m.samplesPerSecond ?? '-'} samples/s)`,
    );
  for (const c of status?.conditions ?? [])
    console.log(`  ${c.type}=${c.status} (${c.reason})${c.message ? `: ${c.message}` : ''}`);
  if (status?.outputURI) console.log(`  output: ${status.outputURI}`);
});

clusterOptions(
  program
    .command('logs')
    .argument('<name>', 'FineTuneJob name')
    .description("trainer log of the job's current attempt (ftj dev); in a cluster use kubectl logs"),
).action(async (name: string, o: { namespace: string; kubeconfig?: string; root: string }) => {
  const { status } = await readJob(o, name);
  const podName = status?.podName ?? `${name}-trainer-1`;
  const core = kubeConfig(o.root, o.kubeconfig).makeApiClient(CoreV1Api);
  const uid = (await core.readNamespacedPod({ name: podName, namespace: o.namespace }).catch(() => undefined))?.metadata
    ?.uid;
  const file = uid && containerLogFile(o.root, o.namespace, uid, TRAINER_CONTAINER);
  if (!file || !existsSync(file)) {
    console.error(`no local log of pod ${podName} under ${o.root}: in a cluster, use kubectl logs ${podName}`);
    process.exitCode = 1;
    return;
  }
  process.stdout.write(readFileSync(file, 'utf8'));
});

await program.parseAsync();
