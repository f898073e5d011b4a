// `npm run bench:operator`: the operator (a separate process, as in a cluster)
// on the local control plane. Prints figures; asserts nothing.
// (a) time until 1,000 FineTuneJobs have their 1,000 pods, vs a bare client
//     creating 1,000 pods on the same API server (goal ratio <= 1.5): for 1,000
//     jobs that exist when the operator starts (the operator's own cost), and
//     end to end, 1,000 jobs applied at once while it runs (their applies included)
// (b) API writes made by a full resync of 1,000 settled jobs (goal 0)
// (c) reconcile p50/p99 (from controller_runtime_reconcile_time_seconds)
// (d) operator RSS with 1,000 and 10,000 jobs in its cache (goal < 200 MB)
import { spawn } from 'node:child_process';
import { CoreV1Api, CustomObjectsApi, KubeConfig, Watch } from '@kubernetes/client-node';
import { API_VERSION, FINETUNEJOB, GROUP, validateFineTuneJobSpec, VERSION } from '../src/api/v1alpha1/index.ts';
import { freePort } from '../src/local/control-plane/free-port.ts';
import { ControlPlane, installCRDs, registerNode } from '../src/local/control-plane/index.ts';
import { buildTrainerPod } from '../src/operator/reconcile/trainer-pod.ts';
import { PooledKubeConfig } from '../src/operator/runtime/pooled-kube-config.ts';
import { buildOperatorBundle, OPERATOR_NODE_FLAGS } from '../scripts/operator-bundle.ts';
import { minimalSpec } from '../tests/api/spec-fixtures.ts';

const show = (label: string, value: string) => console.log(`${label.padEnd(62)} ${value}`);
const EXISTING_ROUNDS = 5;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs `task` over `items` with at most `limit` in flight. */
async function pool<T>(items: T[], limit: number, task: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) await task(items[next++]!);
    }),
  );
}

const bundle = await buildOperatorBundle();
const controlPlane = await new ControlPlane({ log: () => undefined }).start();
try {
  await installCRDs(controlPlane.binaries.kubectl, controlPlane.kubeconfigPath);
  // The bench's own clients pool connections as the operator's do: the baseline is a good bare client.
  const kc = new PooledKubeConfig();
  kc.loadFromFile(controlPlane.kubeconfigPath);
  const core = kc.makeApiClient(CoreV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const indices = (n: number) => Array.from({ length: n }, (_, i) => i);
  for (const namespace of ['bare', 'bench', 'bench-10k'])
    await core.createNamespace({ body: { metadata: { name: namespace } } });
  // A node with room for every pod: each costs one bind, as in a cluster, instead of endless scheduling retries.
  const unregister = await registerNode(kc, 'bench-node', {
    cpu: '10000',
    memory: '10000Gi',
    gpus: 10000,
    pods: 10000,
  });
  await sleep(2000); // the default ServiceAccounts

  // Baseline: a bare client creates 1,000 pods: the very pods the operator creates (GPU limits, volumes, the
  // spec in the environment; without the owner reference, which the garbage collector would act on), and for
  // reference minimal pods, and client-node as it ships (a TLS connection per request).
  const validation = validateFineTuneJobSpec(minimalSpec());
  if (!validation.valid) throw new Error(validation.errors.join('; '));
  const trainerPod = (i: number) => {
    const pod = buildTrainerPod({ name: `job-${i}`, namespace: 'bare', uid: 'none' }, validation.spec, 1, {
      trainerImage: 'trainer:bench',
      trainerServiceAccount: 'default',
    });
    delete pod.metadata!.ownerReferences;
    return pod;
  };
  const minimalPod = (i: number) => ({
    metadata: { name: `pod-${i}` },
    spec: { containers: [{ name: 'c', image: 'x' }] },
  });
  // When the 1,000th pod is created, as a watch sees it (a list of 1,000 trainer pods takes a second itself).
  // The bare client's time is taken the same way, so both pay for the watch.
  const podsCreated = async (namespace: string) => {
    const seen = new Set<string>();
    let first = 0;
    let created!: () => void;
    const done = new Promise<void>((resolve) => {
      created = resolve;
    });
    const watch = await new Watch(kc).watch(
      `/api/v1/namespaces/${namespace}/pods`,
      {},
      (type, pod: { metadata?: { name?: string } }) => {
        if (type === 'ADDED') {
          first ||= Date.now();
          seen.add(pod.metadata!.name!);
        }
        if (seen.size === 1000) created();
      },
      () => undefined,
    );
    return { done: done.then(() => watch.abort()), firstAt: () => first };
  };
  const deletePods = async (namespace: string) => {
    await core.deleteCollectionNamespacedPod({ namespace, gracePeriodSeconds: 0 });
    while ((await core.listNamespacedPod({ namespace })).items.length > 0) await sleep(500);
  };
  const barePods = async (client: CoreV1Api, body = trainerPod) => {
    const created = await podsCreated('bare');
    const start = Date.now();
    await pool(indices(1000), 50, (i) => client.createNamespacedPod({ namespace: 'bare', body: body(i) }));
    await created.done;
    const seconds = (Date.now() - start) / 1000;
    await deletePods('bare');
    return seconds;
  };
  const unpooled = new KubeConfig();
  unpooled.loadFromFile(controlPlane.kubeconfigPath);
  const bareUnpooled = await barePods(unpooled.makeApiClient(CoreV1Api), minimalPod);
  const bareMinimal = await barePods(core, minimalPod);
  const jobBody = (name: string, spec: Record<string, unknown>) => ({
    apiVersion: API_VERSION,
    kind: FINETUNEJOB.kind,
    metadata: { name },
    spec,
  });
  const applyJobs = (namespace: string, count: number, spec: Record<string, unknown>) =>
    pool(indices(count), 50, (i) =>
      custom.createNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace,
        plural: FINETUNEJOB.plural,
        body: jobBody(`job-${i}`, spec),
      }),
    );
  // Started as its image starts it (see images/operator/Dockerfile): the bundle, its V8 flags.
  const series = (text: string, prefix: string) =>
    text
      .split('\n')
      .filter((l) => l.startsWith(prefix))
      .reduce((sum, l) => sum + Number(l.split(' ').at(-1)), 0);
  const startOperator = (namespaces: string[], port: number) =>
    spawn(
      process.execPath,
      [
        ...OPERATOR_NODE_FLAGS,
        bundle,
        '--namespaces',
        namespaces.join(','),
        '--port',
        String(port),
        '--resync-seconds',
        '30',
        '--trainer-service-account',
        'default',
      ],
      {
        env: { ...process.env, KUBECONFIG: controlPlane.kubeconfigPath },
        stdio: 'ignore',
      },
    );

  // (a) 1,000 existing jobs, from the operator's start (process start, cache sync, leadership) to 1,000 pods,
  // against the bare client measured just before and just after (their mean): several rounds, as the same
  // 1,000 bare creates vary by up to 50% from one minute to the next on a busy machine.
  const existing: { seconds: number; firstPod: number; cpu: number }[] = [];
  const bareRounds: number[] = [];
  for (let round = 1; round <= EXISTING_ROUNDS; round++) {
    bareRounds.push(await barePods(core));
    const namespace = `existing-${round}`;
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    await applyJobs(namespace, 1000, minimalSpec());
    await sleep(2000); // existing jobs: the API server is done with their creation (watch fan-out, the garbage collector's graph)
    const pods = await podsCreated(namespace);
    const start = Date.now();
    const metricsPort = await freePort();
    const operator = startOperator([namespace], metricsPort);
    const exited = new Promise((resolve) => operator.on('exit', resolve));
    try {
      await pods.done;
      const seconds = (Date.now() - start) / 1000;
      const cpu = series(
        await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text(),
        'process_cpu_seconds_total',
      );
      existing.push({ seconds, firstPod: (pods.firstAt() - start) / 1000, cpu });
    } finally {
      operator.kill('SIGTERM');
      await exited;
    }
    // Every round on the same footing: no pods or jobs left behind for the API server, etcd and the scheduler.
    await deletePods(namespace);
    await custom.deleteCollectionNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace,
      plural: FINETUNEJOB.plural,
    });
  }
  bareRounds.push(await barePods(core));
  const bareAround = existing.map((_, round) => (bareRounds[round]! + bareRounds[round + 1]!) / 2);

  const port = await freePort();
  const operator = startOperator(['bench', 'bench-10k'], port);
  const scrape = async () => (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const writes = async () => {
    const text = await scrape();
    return ['POST', 'PATCH', 'PUT', 'DELETE'].reduce(
      (sum, m) => sum + series(text, `rest_client_requests_total{method="${m}"`),
      0,
    );
  };
  while (
    !(await fetch(`http://127.0.0.1:${port}/readyz`).then(
      (r) => r.ok,
      () => false,
    ))
  )
    await sleep(200);

  const settle = async () => {
    let last = await writes();
    for (let quiet = 0; quiet < 3; last = await writes()) {
      await sleep(2000);
      quiet = (await writes()) === last ? quiet + 1 : 0;
    }
  };

  try {
    show('bare client-node (a connection per request): 1,000 minimal pods (s)', bareUnpooled.toFixed(2));
    show('bare client, pooled connections: 1,000 minimal pods (s)', bareMinimal.toFixed(2));
    const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
    const figures = (values: number[]) =>
      `${median(values).toFixed(2)} (${values.map((v) => v.toFixed(2)).join(', ')})`;
    show('bare client, pooled connections: the 1,000 trainer pods (s)', figures(bareRounds));
    show('operator started with 1,000 jobs: until 1,000 pods exist (s)', figures(existing.map((e) => e.seconds)));
    show(
      '  ratio to the bare runs before and after, median (goal <= 1.5)',
      figures(existing.map((e, round) => e.seconds / bareAround[round]!)),
    );
    show('  of which: process start to its first pod (s)', figures(existing.map((e) => e.firstPod)));
    show('  operator CPU by then, its start included (s)', figures(existing.map((e) => e.cpu)));
    const bare = median(bareRounds);
    await settle();

    // (a) end to end: 1,000 jobs applied at once while the operator runs.
    const writesBefore = await writes();
    const benchPods = await podsCreated('bench');
    const started = Date.now();
    await applyJobs('bench', 1000, minimalSpec());
    const appliedSeconds = (Date.now() - started) / 1000;
    await benchPods.done;
    const operatorSeconds = (Date.now() - started) / 1000;
    const writesByThen = (await writes()) - writesBefore;
    show('1,000 FineTuneJobs applied at once until 1,000 pods exist (s)', operatorSeconds.toFixed(2));
    show('  of which: the 1,000 applies themselves (s)', appliedSeconds.toFixed(2));
    show('  operator writes per job by then', (writesByThen / 1000).toFixed(2));
    show('  ratio end to end / bare', (operatorSeconds / bare).toFixed(2));

    // (b) settle, then count the writes of a full resync (every 30 s).
    await settle();
    const reconcilesBefore = series(await scrape(), 'controller_runtime_reconcile_total');
    const writesBeforeResync = await writes();
    while (series(await scrape(), 'controller_runtime_reconcile_total') < reconcilesBefore + 1000) await sleep(500);
    show('writes made by a full resync of 1,000 settled jobs (goal 0)', String((await writes()) - writesBeforeResync));

    // (c) reconcile latency from the histogram.
    const text = await scrape();
    const buckets = text
      .split('\n')
      .filter((l) => l.startsWith('controller_runtime_reconcile_time_seconds_bucket'))
      .map((l) => ({
        le: Number(/le="([^"]+)"/.exec(l)![1]!.replace('+Inf', 'Infinity')),
        count: Number(l.split(' ').at(-1)),
      }));
    const total = buckets.at(-1)!.count;
    const quantile = (q: number) => buckets.find((b) => b.count >= q * total)!.le;
    show('reconcile p50 (histogram bucket upper bound, s)', String(quantile(0.5)));
    show('reconcile p99 (histogram bucket upper bound, s)', String(quantile(0.99)));
    const memory = (metrics: string) =>
      `${(series(metrics, 'process_resident_memory_bytes') / 2 ** 20).toFixed(1)} (V8 heap used ${(series(metrics, 'nodejs_heap_size_used_bytes') / 2 ** 20).toFixed(1)})`;
    show('operator RSS with 1,000 jobs (and their pods) in cache (MB)', memory(text));

    // (d) 9,000 more jobs, suspended (no pods), then RSS.
    await applyJobs('bench-10k', 9000, { ...minimalSpec(), suspend: true });
    while (series(await scrape(), 'finetune_jobs{') < 10000) await sleep(1000);
    await sleep(5000);
    show('operator RSS with 10,000 jobs in cache (MB, goal < 200)', memory(await scrape()));
  } finally {
    operator.kill('SIGTERM');
    await unregister();
  }
} finally {
  await controlPlane.stop();
}
