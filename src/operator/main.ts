// The operator's entry point (the operator Deployment's command):
//   node src/operator/main.ts [--namespaces a,b] [--workers 50] [--port 8080]
//     [--trainer-image IMAGE] [--trainer-service-account NAME] [--leader-elect] [--lease-namespace NS]
//     [--resync-seconds 600] [--retry-base-seconds 10]
// Each flag also reads an environment variable (FTJ_NAMESPACES, FTJ_WORKERS, ...).
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { OperatorManager } from './runtime/operator-manager.ts';
import { PooledKubeConfig } from './runtime/pooled-kube-config.ts';

const env = process.env;
const { values } = parseArgs({
  options: {
    namespaces: { type: 'string', default: env['FTJ_NAMESPACES'] ?? '' },
    workers: { type: 'string', default: env['FTJ_WORKERS'] ?? '50' },
    port: { type: 'string', default: env['FTJ_PORT'] ?? '8080' },
    'trainer-image': { type: 'string', default: env['FTJ_TRAINER_IMAGE'] ?? 'ghcr.io/finetune-operator/trainer:0.1.0' },
    'trainer-service-account': { type: 'string', default: env['FTJ_TRAINER_SERVICE_ACCOUNT'] ?? 'finetune-trainer' },
    'retry-base-seconds': { type: 'string', default: env['FTJ_RETRY_BASE_SECONDS'] ?? '10' },
    'resync-seconds': { type: 'string', default: env['FTJ_RESYNC_SECONDS'] ?? '600' },
    'leader-elect': { type: 'boolean', default: env['FTJ_LEADER_ELECT'] === 'true' },
    'lease-namespace': { type: 'string', default: env['POD_NAMESPACE'] ?? 'finetune-system' },
  },
});

const kubeConfig = new PooledKubeConfig();
kubeConfig.loadFromDefault();
const identity = `${hostname()}_${process.pid}`;
const manager = new OperatorManager({
  kubeConfig,
  namespaces: values.namespaces!.split(',').map((n) => n.trim()).filter(Boolean),
  workers: Number(values.workers),
  port: Number(values.port),
  resyncSeconds: Number(values['resync-seconds']),
  settings: {
    trainerImage: values['trainer-image']!,
    trainerServiceAccount: values['trainer-service-account']!,
    retryBaseSeconds: Number(values['retry-base-seconds']),
  },
  ...(values['leader-elect'] ? { leaderElection: { namespace: values['lease-namespace']!, name: 'finetune-operator', identity } } : {}),
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
