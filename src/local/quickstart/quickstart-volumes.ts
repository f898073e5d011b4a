import { existsSync, mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { selectBackend } from '../../trainer/backend/select-backend.ts';
import { pretrainBase } from './fashion-base-model.ts';
import { FASHION_MNIST_DIR } from './fashion-mnist.ts';

/** The claims examples/quickstart.yaml uses, as folders under root/pvc (the node agent maps claims there). */
export const QUICKSTART_CLAIMS = ['models', 'datasets'];

/**
 * Fills the quickstart's volumes once: the base model (a small CNN pretrained
 * on five Fashion-MNIST classes, about a minute on 2 cores) and a link to
 * Debian's Fashion-MNIST.
 */
export async function prepareQuickstartVolumes(pvcRoot: string, log: (line: string) => void): Promise<void> {
  if (!existsSync(FASHION_MNIST_DIR)) {
    throw new Error(
      `${FASHION_MNIST_DIR} is missing: install Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist)`,
    );
  }
  const datasets = join(pvcRoot, 'datasets');
  mkdirSync(datasets, { recursive: true });
  if (!existsSync(join(datasets, 'fashion-mnist'))) symlinkSync(FASHION_MNIST_DIR, join(datasets, 'fashion-mnist'));
  const base = join(pvcRoot, 'models', 'fashion-mnist-base', 'model.json');
  if (!existsSync(base)) {
    const backend = await selectBackend({ requireGpu: false });
    log(
      `pretraining the quickstart base model (a CNN on Fashion-MNIST classes 0-4, on ${backend.name}; once, about a minute)`,
    );
    await pretrainBase(base, 500, 4);
  }
}

/**
 * A hostPath PersistentVolume per claim and the claim bound to it, so the real
 * scheduler places pods that mount them, as in a cluster.
 */
export async function createLocalClaims(
  kc: KubeConfig,
  namespace: string,
  pvcRoot: string,
  claims: string[],
): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  for (const claim of claims) {
    const volume = `local-${namespace}-${claim}`;
    await core
      .createPersistentVolume({
        body: {
          metadata: { name: volume },
          spec: {
            capacity: { storage: '100Gi' },
            accessModes: ['ReadWriteOnce'],
            storageClassName: 'local',
            hostPath: { path: join(pvcRoot, claim), type: 'DirectoryOrCreate' },
            claimRef: { namespace, name: claim },
          },
        },
      })
      .catch(() => undefined);
    await core
      .createNamespacedPersistentVolumeClaim({
        namespace,
        body: {
          metadata: { name: claim },
          spec: {
            accessModes: ['ReadWriteOnce'],
            storageClassName: 'local',
            volumeName: volume,
            resources: { requests: { storage: '100Gi' } },
          },
        },
      })
      .catch(() => undefined);
  }
}
