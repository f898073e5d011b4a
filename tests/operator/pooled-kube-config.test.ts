import assert from 'node:assert/strict';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { describe, it } from 'node:test';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { PooledKubeConfig } from '../../src/operator/runtime/pooled-kube-config.ts';
import { kubeConfig, testNamespace } from '../support/cluster.ts';

/** This process's established TCP connections to `port` (its socket inodes matched in /proc/net/tcp*). */
function connectionsTo(port: number): number {
  const inodes = new Set(
    readdirSync('/proc/self/fd')
      .map((fd) => {
        try {
          return /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`))?.[1];
        } catch {
          return undefined;
        }
      })
      .filter(Boolean),
  );
  const portHex = port.toString(16).toUpperCase().padStart(4, '0');
  return ['/proc/net/tcp', '/proc/net/tcp6']
    .flatMap((file) => readFileSync(file, 'utf8').split('\n').slice(1))
    .map((line) => line.trim().split(/\s+/))
    .filter((cols) => cols[2]?.endsWith(`:${portHex}`) && cols[3] === '01' && inodes.has(cols[9]!)).length;
}

async function createConfigMaps(kc: KubeConfig, namespace: string, prefix: string): Promise<number> {
  const core = kc.makeApiClient(CoreV1Api);
  const names = Array.from({ length: 120 }, (_, i) => `${prefix}-${i}`);
  let next = 0;
  await Promise.all(
    Array.from({ length: 10 }, async () => {
      while (next < names.length)
        await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: names[next++]! } } });
    }),
  );
  return connectionsTo(Number(new URL(kc.getCurrentCluster()!.server).port));
}

describe('PooledKubeConfig', () => {
  it('sends every request over one connection pool (client-node alone opens a connection per request)', async (t) => {
    const namespace = await testNamespace(t, 'pool');
    const pooled = kubeConfig();
    assert.ok(pooled instanceof PooledKubeConfig);
    const pooledConnections = await createConfigMaps(pooled, namespace, 'pooled');
    assert.ok(pooledConnections <= 12, `120 requests, 10 at a time, used ${pooledConnections} connections`);

    const plain = new KubeConfig();
    plain.loadFromString(JSON.stringify({ ...JSON.parse(pooled.exportConfig()) }));
    const plainConnections = await createConfigMaps(plain, namespace, 'plain');
    t.diagnostic(`connections for 120 requests: pooled ${pooledConnections}, plain ${plainConnections}`);
    // If client-node starts pooling by itself, this fails: PooledKubeConfig can then go.
    assert.ok(
      plainConnections >= pooledConnections + 60,
      `plain client-node: ${plainConnections} connections (pooled: ${pooledConnections})`,
    );
  });
});
