// The operator's entry point (the operator Deployment's command). `--help` lists
// the flags; each also reads an environment variable (FTJ_NAMESPACES, FTJ_WORKERS, ...).
import { hostname } from 'node:os';
import { Command, InvalidArgumentError, Option } from 'commander';
import { OperatorManager } from './runtime/operator-manager.ts';
import { PooledKubeConfig } from './runtime/pooled-kube-config.ts';

/** A whole number in [min, max]; anything else stops the operator at start, naming the flag. */
const integer =
  (min: number, max: number) =>
  (value: string): number => {
    const parsed = Number(value);
    if (value.trim() === '' || !Number.isInteger(parsed) || parsed < min || parsed > max) {
      throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}, got "${value}".`);
    }
    return parsed;
  };

const program = new Command('finetune-operator')
  .description('Reconciles FineTuneJobs into trainer pods. Flags override their environment variables.')
  .addOption(
    new Option('--namespaces <list>', 'comma-separated namespaces to watch; empty: all')
      .env('FTJ_NAMESPACES')
      .default(''),
  )
  .addOption(
    new Option('--workers <n>', 'concurrent reconciles').env('FTJ_WORKERS').default(50).argParser(integer(1, 1000)),
  )
  .addOption(
    new Option('--port <port>', '/metrics, /healthz and /readyz')
      .env('FTJ_PORT')
      .default(8080)
      .argParser(integer(0, 65535)),
  )
  .addOption(
    new Option('--trainer-image <image>', 'trainer image of jobs that name none')
      .env('FTJ_TRAINER_IMAGE')
      .default('ghcr.io/finetune-operator/trainer:0.1.0'),
  )
  .addOption(
    new Option('--trainer-service-account <name>', 'ServiceAccount of trainer pods')
      .env('FTJ_TRAINER_SERVICE_ACCOUNT')
      .default('finetune-trainer'),
  )
  .addOption(
    new Option(
      '--trainer-cluster-role <name>',
      "ClusterRole bound to the trainer ServiceAccount, which the operator creates in each job's namespace; empty: provision nothing (each namespace must have them)",
    )
      .env('FTJ_TRAINER_CLUSTER_ROLE')
      .default('finetune-trainer'),
  )
  .addOption(
    new Option(
      '--cuda-cache-host-path <dir>',
      "node directory (hostPath) for GPU trainers' CUDA JIT cache; empty: an emptyDir per pod",
    )
      .env('FTJ_CUDA_CACHE_HOST_PATH')
      .default(''),
  )
  .addOption(
    new Option('--retry-base-seconds <s>', 'first retry delay of a failed attempt (doubles, up to 6 min)')
      .env('FTJ_RETRY_BASE_SECONDS')
      .default(10)
      .argParser(integer(1, 360)),
  )
  .addOption(
    new Option('--resync-seconds <s>', 'every job is reconciled again this often')
      .env('FTJ_RESYNC_SECONDS')
      .default(600)
      .argParser(integer(10, 86_400)),
  )
  .addOption(
    new Option(
      '--leader-elect',
      'elect a leader on a Lease (for more than one replica); FTJ_LEADER_ELECT=true',
    ).default(process.env['FTJ_LEADER_ELECT'] === 'true'),
  )
  .addOption(
    new Option('--lease-namespace <ns>', 'namespace of the Lease').env('POD_NAMESPACE').default('finetune-system'),
  )
  .addOption(
    new Option(
      '--lease-duration-seconds <s>',
      'how long a Lease holds without renewal (a crashed leader is replaced after it)',
    )
      .env('FTJ_LEASE_DURATION_SECONDS')
      .default(15)
      .argParser(integer(2, 300)),
  )
  .addOption(
    new Option('--renew-deadline-seconds <s>', 'the leader stops leading when it could not renew for this long')
      .env('FTJ_RENEW_DEADLINE_SECONDS')
      .default(10)
      .argParser(integer(1, 300)),
  )
  .showHelpAfterError('(finetune-operator --help lists the flags)')
  .parse();

const options = program.opts<{
  namespaces: string;
  workers: number;
  port: number;
  trainerImage: string;
  trainerServiceAccount: string;
  trainerClusterRole: string;
  cudaCacheHostPath: string;
  retryBaseSeconds: number;
  resyncSeconds: number;
  leaderElect: boolean;
  leaseNamespace: string;
  leaseDurationSeconds: number;
  renewDeadlineSeconds: number;
}>();
if (options.renewDeadlineSeconds >= options.leaseDurationSeconds) {
  program.error(
    `error: --renew-deadline-seconds (${options.renewDeadlineSeconds}) must be shorter than --lease-duration-seconds (${options.leaseDurationSeconds})`,
  );
}

const kubeConfig = new PooledKubeConfig();
kubeConfig.loadFromDefault();
const identity = `${hostname()}_${process.pid}`;
const manager = new OperatorManager({
  kubeConfig,
  namespaces: options.namespaces
    .split(',')
    .map((n) => n.trim())
    .filter(Boolean),
  workers: options.workers,
  port: options.port,
  resyncSeconds: options.resyncSeconds,
  ...(options.trainerClusterRole ? { trainerClusterRole: options.trainerClusterRole } : {}),
  settings: {
    trainerImage: options.trainerImage,
    trainerServiceAccount: options.trainerServiceAccount,
    retryBaseSeconds: options.retryBaseSeconds,
    ...(options.cudaCacheHostPath ? { cudaCacheHostPath: options.cudaCacheHostPath } : {}),
  },
  ...(options.leaderElect
    ? {
        leaderElection: {
          namespace: options.leaseNamespace,
          name: 'finetune-operator',
          identity,
          leaseDurationSeconds: options.leaseDurationSeconds,
          renewDeadlineSeconds: options.renewDeadlineSeconds,
          retryPeriodSeconds: Math.max(0.5, options.renewDeadlineSeconds / 5),
        },
      }
    : {}),
});

let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    void manager.stop().then(() => process.exit(0));
  });
}
await manager.start();
