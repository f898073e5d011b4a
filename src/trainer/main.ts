// The trainer's entry point, the container command of the trainer pod (USAGE below lists the flags).
// The job comes from $FTJ_SPEC (set by the operator) or a manifest file. In a cluster ($FTJ_JOB_NAME and
// $FTJ_JOB_NAMESPACE set) progress also goes to the job's status. Its exit codes are TrainerExitCode's
// (src/api/v1alpha1/trainer-contract.ts), which the operator's retry decision reads.
import { readFile, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { parse } from 'yaml';
import {
  DEFAULT_TERMINATION_LOG,
  TERMINATION_LOG_ENV,
  TRAINER_ENV,
  TRAINER_METRICS_PORT,
  TrainerExitCode,
  validateFineTuneJobSpec,
} from '../api/v1alpha1/index.ts';
import { describeGpus, gpuLogLines } from './backend/gpu-report.ts';
import { selectBackend } from './backend/select-backend.ts';
import { datasetFingerprint } from './data/fingerprint.ts';
import { exitCodeFor, PermanentError } from './errors.ts';
import { InterruptedError, Interruption } from './interruption.ts';
import { consoleReporter } from './report/console-reporter.ts';
import { jobStatusReporter } from './report/job-status-reporter.ts';
import { metricsReporter } from './report/metrics-reporter.ts';
import type { TrainingReporter } from './report/reporter.ts';
import { runStagedTraining } from './staged-training.ts';

const USAGE = `Usage: node src/trainer/main.ts [--spec FILE] [--metrics-port PORT] [--pvc-root DIR] [--cache-dir DIR] [--fingerprint]

Runs one FineTuneJob's training (the trainer pod's command).
  --spec FILE          the FineTuneJob manifest or its spec (default: $FTJ_SPEC_PATH, else /etc/finetune/job.yaml)
  --metrics-port PORT  Prometheus metrics (default: $FTJ_METRICS_PORT, else ${TRAINER_METRICS_PORT})
  --pvc-root DIR       where pvc://CLAIM/path locations are mounted (default: $FTJ_PVC_ROOT)
  --cache-dir DIR      downloads and staged outputs (default: $FTJ_CACHE_DIR, else /tmp/finetune-cache)
  --fingerprint        only print the dataset's fingerprint (a schedule's skipIfUnchanged probe)
`;

let parsed;
try {
  parsed = parseArgs({
    options: {
      spec: { type: 'string', default: process.env['FTJ_SPEC_PATH'] ?? '/etc/finetune/job.yaml' },
      'metrics-port': { type: 'string', default: process.env['FTJ_METRICS_PORT'] ?? String(TRAINER_METRICS_PORT) },
      'pvc-root': { type: 'string', default: process.env['FTJ_PVC_ROOT'] },
      'cache-dir': { type: 'string', default: process.env['FTJ_CACHE_DIR'] ?? '/tmp/finetune-cache' },
      // A schedule's probe (skipIfUnchanged): the dataset's fingerprint as the termination message, nothing else.
      fingerprint: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
} catch (err) {
  // An unknown or malformed flag: one line and the usage, as for an invalid spec (exit code 2), no stack trace.
  process.stderr.write(`${(err as Error).message}\n\n${USAGE}`);
  process.exit(TrainerExitCode.Permanent);
}
if (parsed.values.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}
const { values } = parsed;

const console_ = consoleReporter();
const metrics = metricsReporter();
const reporters: TrainingReporter[] = [console_, metrics];
const jobName = process.env[TRAINER_ENV.jobName];
const jobNamespace = process.env[TRAINER_ENV.jobNamespace];
const jobUid = process.env[TRAINER_ENV.jobUid];
const jobStatus =
  jobName && jobNamespace
    ? jobStatusReporter(
        defaultKubeConfig(),
        { name: jobName, namespace: jobNamespace, ...(jobUid ? { uid: jobUid } : {}) },
        (m) => console.warn(m),
      )
    : undefined;
if (jobStatus) reporters.push(jobStatus);

function defaultKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromDefault();
  return kc;
}

// Preemption, eviction, a suspended job, a drain: stop at the end of the batch, save that point, exit Interrupted
// within the pod's termination grace period. A second signal changes nothing.
const interruption = new Interruption();
process.on('SIGTERM', () => interruption.request('SIGTERM'));

async function main(): Promise<number> {
  const { spec, name } = await readSpec(values.spec!);
  if (values.fingerprint) {
    const fingerprint = await datasetFingerprint(spec, values['pvc-root']);
    await writeFile(process.env[TERMINATION_LOG_ENV] ?? DEFAULT_TERMINATION_LOG, fingerprint);
    console.log(`${new Date().toISOString()} dataset fingerprint ${fingerprint}`);
    return TrainerExitCode.Success;
  }
  const backend = await selectBackend({
    requireGpu: spec.resources.gpus > 0,
    allowCpu: process.env['FTJ_ALLOW_CPU'] === '1',
  });
  // Which GPU, and whether libtensorflow has native kernels for it or CUDA compiles them at start (minutes to hours).
  if (backend.gpu)
    for (const line of gpuLogLines(await describeGpus())) console.log(`${new Date().toISOString()} ${line}`);
  const port = Number(values['metrics-port']);
  const server = port > 0 ? await metrics.listen(port) : undefined;
  try {
    await runStagedTraining(spec, {
      reporters,
      backend,
      cacheDir: values['cache-dir']!,
      jobName: name,
      interruption,
      ...(jobUid ? { jobUid } : {}),
      ...(values['pvc-root'] ? { pvcRoot: values['pvc-root'] } : {}),
    });
  } finally {
    server?.close();
  }
  return TrainerExitCode.Success;
}

async function readSpec(path: string) {
  const inline = process.env[TRAINER_ENV.spec];
  const source = inline ? `$${TRAINER_ENV.spec}` : path;
  let document: { metadata?: { name?: string; namespace?: string }; spec?: unknown } & Record<string, unknown>;
  try {
    document = parse(inline ?? (await readFile(path, 'utf8'))) as typeof document;
  } catch (err) {
    throw new PermanentError(`cannot read the job spec ${source}: ${(err as Error).message}`);
  }
  const result = validateFineTuneJobSpec(document.spec ?? document);
  if (!result.valid)
    throw new PermanentError(`invalid FineTuneJob spec in ${source}:\n  ${result.errors.join('\n  ')}`);
  const meta = document.metadata;
  return {
    spec: result.spec,
    name: meta?.name ? `${meta.namespace ? `${meta.namespace}/` : ''}${meta.name}` : undefined,
  };
}

process.exitCode = await main().catch((err: unknown) => {
  const error = err instanceof Error ? err : new Error(String(err));
  for (const reporter of reporters) {
    if (error instanceof InterruptedError) reporter.interrupted?.(error);
    else reporter.failed?.(error);
  }
  return exitCodeFor(error);
});
await jobStatus?.flush();
