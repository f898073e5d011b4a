import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { CoordinationV1Api } from '@kubernetes/client-node';
import { buildOperatorBundle, OPERATOR_NODE_FLAGS } from '../../scripts/operator-bundle.ts';
import { freePort } from '../../src/local/control-plane/free-port.ts';
import { eventually, installCRDs, kubeConfig, testNamespace } from '../support/cluster.ts';
import { jobs } from './support/operator-harness.ts';

describe("operator: the bundle its image runs (dist/operator.mjs with the image's node flags)", () => {
  before(installCRDs);

  it('is what images/operator/Dockerfile copies and starts, with the same node flags', () => {
    const dockerfile = readFileSync(join(import.meta.dirname, '..', '..', 'images', 'operator', 'Dockerfile'), 'utf8');
    assert.match(dockerfile, /^RUN node scripts\/build-operator\.ts$/m);
    assert.match(dockerfile, /^COPY --from=build \/app\/dist\/operator\.mjs \.\/operator\.mjs$/m);
    const entrypoint = JSON.parse(/^ENTRYPOINT (.*)$/m.exec(dockerfile)?.[1] ?? '[]') as string[];
    assert.deepEqual(entrypoint, ['/nodejs/bin/node', ...OPERATOR_NODE_FLAGS, 'operator.mjs']);
  });

  it('parses its flags, leads, reconciles, serves probes and metrics, and releases its lease on SIGTERM', async (t) => {
    const ns = await testNamespace(t, 'op-image');
    const bundle = await buildOperatorBundle(join(mkdtempSync(join(tmpdir(), 'operator-bundle-')), 'operator.mjs'));
    const port = await freePort();
    let output = '';
    const operator = spawn(
      process.execPath,
      [
        ...OPERATOR_NODE_FLAGS,
        bundle,
        '--namespaces',
        ns,
        '--port',
        String(port),
        '--leader-elect',
        '--lease-namespace',
        ns,
        '--trainer-service-account',
        'default',
        '--trainer-image',
        'finetune/trainer:image-test',
      ],
      {
        env: { ...process.env, KUBECONFIG: process.env['FTJ_TEST_KUBECONFIG'] },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    operator.stdout.on('data', (d: Buffer) => {
      output += d.toString();
    });
    operator.stderr.on('data', (d: Buffer) => {
      output += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => operator.on('exit', resolve));
    t.after(() => operator.kill('SIGKILL'));

    await eventually(
      async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.ok === true,
      'the bundled operator to be ready',
      20_000,
    );
    const api = jobs(ns);
    await api.create('from-image');
    const [pod] = await api.waitForPods('from-image', 1);
    assert.equal(
      pod!.spec!.containers[0]!.image,
      'finetune/trainer:image-test',
      'the --trainer-image flag reached the pod',
    );
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    assert.match(metrics, /^leader_election_master_status\{name="finetune-operator"\} 1$/m);

    operator.kill('SIGTERM');
    assert.equal(await exited, 0, output);
    const lease = await kubeConfig()
      .makeApiClient(CoordinationV1Api)
      .readNamespacedLease({ name: 'finetune-operator', namespace: ns });
    assert.ok(!lease.spec!.holderIdentity, `the lease is released on SIGTERM (holder: ${lease.spec!.holderIdentity})`);
  });
});
