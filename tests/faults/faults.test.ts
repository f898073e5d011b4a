// Faults injected into a real control plane of this file's own (so outages
// never reach other test files): the operator SIGKILLed at random moments,
// kube-apiserver and etcd killed and restarted, a watch answered 410 Gone,
// a leader SIGKILLed. Pods are driven by a simulated kubelet and trainer,
// as in the operator tests: what is under test is the operator.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CoreV1Api, type KubernetesListObject, type V1ConfigMap, type V1Pod, Watch } from '@kubernetes/client-node';
import { ControlPlane } from '../../src/local/control-plane/index.ts';
import { freePort } from '../../src/local/control-plane/free-port.ts';
import { updatePodStatus } from '../../src/local/node-agent/pod-status.ts';
import { ResilientInformer } from '../../src/operator/runtime/resilient-informer.ts';
import { jobStatusReporter } from '../../src/trainer/report/job-status-reporter.ts';
import { jobs, startOperator } from '../operator/support/operator-harness.ts';
import { eventually, installCRDs, kubeConfig, testNamespace } from '../support/cluster.ts';
import { ROOT } from '../support/paths.ts';

const OPERATOR = join(ROOT, 'src', 'operator', 'main.ts');
const controlPlane = new ControlPlane({
  log: () => undefined,
  // No watch cache, etcd compacted every second and watches that end after 2-4 s: a watch resumed from an
  // old resourceVersion is answered 410 Gone within seconds, as it is after hours in a real cluster.
  apiServerFlags: ['--watch-cache=false', '--etcd-compaction-interval=1s', '--min-request-timeout=2'],
});

type Api = ReturnType<typeof jobs>;

/**
 * The kill times' random numbers, seeded so a failure can be replayed: FTJ_FAULTS_SEED=<the seed the
 * test printed> npm test -- tests/faults/faults.test.ts. (mulberry32)
 */
const SEED = Number(process.env['FTJ_FAULTS_SEED'] ?? Math.floor(Math.random() * 2 ** 31));
let seedState = SEED;
function seededRandom(): number {
  seedState = (seedState + 0x6d2b79f5) | 0;
  let t = Math.imul(seedState ^ (seedState >>> 15), 1 | seedState);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
}

/**
 * The most pods of one job ever alive at once, counted from every pod event of a watch (re-listed and
 * re-watched whenever the API server ends it, as it does here every few seconds), so a duplicate that
 * lives for a moment between two polls is still counted.
 */
async function countLivePods(namespace: string, state: { maxLivePerJob: number; stopped: boolean }): Promise<void> {
  const kc = kubeConfig();
  const core = kc.makeApiClient(CoreV1Api);
  const live = new Map<string, string>(); // pod UID -> its job, while alive
  const see = (pod: V1Pod, deleted = false) => {
    const alive = !deleted && pod.status?.phase !== 'Succeeded' && pod.status?.phase !== 'Failed';
    if (alive) live.set(pod.metadata!.uid!, pod.metadata!.ownerReferences?.[0]?.name ?? '?');
    else live.delete(pod.metadata!.uid!);
    const perJob = new Map<string, number>();
    for (const job of live.values()) perJob.set(job, (perJob.get(job) ?? 0) + 1);
    state.maxLivePerJob = Math.max(state.maxLivePerJob, ...perJob.values());
  };
  while (!state.stopped) {
    try {
      const listed = await core.listNamespacedPod({ namespace });
      live.clear();
      for (const pod of listed.items) see(pod);
      await new Promise<void>((resolve) => {
        void new Watch(kc)
          .watch(
            `/api/v1/namespaces/${namespace}/pods`,
            { resourceVersion: listed.metadata!.resourceVersion! },
            (type: string, pod: V1Pod) => {
              if (type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED') see(pod, type === 'DELETED');
            },
            () => resolve(),
          )
          .then(
            (watch) => {
              const stopping = setInterval(() => {
                if (!state.stopped) return;
                clearInterval(stopping);
                watch.abort();
                resolve();
              }, 100);
            },
            () => resolve(),
          );
      });
    } catch {
      await new Promise((r) => setTimeout(r, 100)); // the API server restarting: list again
    }
  }
}

/**
 * Plays the kubelet and the trainer for every pod in `namespace`: Running,
 * `trainingMs` later a stage reported to the job's status, then Succeeded (or Failed with
 * exit code 3 where `fails` says so). Counts the most pods of one job that
 * were ever alive at once (countLivePods).
 */
function simulateNodes(namespace: string, fails: (pod: V1Pod) => boolean, trainingMs = 300) {
  const core = kubeConfig().makeApiClient(CoreV1Api);
  const handled = new Map<string, number>();
  const state = { maxLivePerJob: 0, stopped: false, errors: 0 };
  const counting = countLivePods(namespace, state);
  const step = async () => {
    const pods = (await core.listNamespacedPod({ namespace })).items;
    await Promise.all(
      pods.map(async (pod) => {
        const uid = pod.metadata!.uid!;
        const ref = { name: pod.metadata!.name!, namespace };
        if (pod.metadata!.deletionTimestamp) {
          await core.deleteNamespacedPod({ ...ref, gracePeriodSeconds: 0 }).catch(() => undefined);
          return;
        }
        const since = handled.get(uid);
        if (since === undefined && !pod.status?.phase?.match(/Succeeded|Failed/)) {
          handled.set(uid, Date.now());
          await updatePodStatus(core, ref, (s) => ({
            ...s,
            phase: 'Running',
            containerStatuses: [container({ running: { startedAt: new Date() } })],
          }));
        } else if (since !== undefined && since > 0 && Date.now() - since > trainingMs) {
          handled.set(uid, -1);
          const owner = pod.metadata!.ownerReferences![0]!;
          const trainer = jobStatusReporter(
            kubeConfig(),
            { namespace, name: owner.name, uid: owner.uid },
            () => undefined,
          );
          const now = new Date().toISOString();
          trainer.stageStarted!({
            name: 'head',
            index: 0,
            total: 1,
            epochs: 1,
            learningRate: 1e-3,
            trainableBaseLayers: 0,
            unfrozen: 'base frozen',
            cachedFeatures: true,
          });
          trainer.stageEnded!({
            name: 'head',
            epochsRun: 1,
            bestEpoch: 1,
            monitor: 'val_loss',
            bestValue: 0.5,
            endReason: 'EpochsDone',
            startTime: now,
            endTime: now,
          });
          // As the real trainer ends: its last write, which it retries through an API server outage.
          trainer.exported!({ path: `/out/${owner.name}`, stages: [] });
          await trainer.flush();
          const exitCode = fails(pod) ? 3 : 0;
          await updatePodStatus(core, ref, (s) => ({
            ...s,
            phase: exitCode ? 'Failed' : 'Succeeded',
            containerStatuses: [
              container({
                terminated: {
                  exitCode,
                  finishedAt: new Date(),
                  startedAt: new Date(),
                  reason: exitCode ? 'Error' : 'Completed',
                },
              }),
            ],
          }));
        }
      }),
    );
  };
  const loop = (async () => {
    while (!state.stopped) {
      await step().catch(() => {
        state.errors++;
      });
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  return {
    state,
    stop: async () => {
      state.stopped = true;
      await loop;
      await counting;
    },
  };
}

const container = (state: object) => ({
  name: 'trainer',
  ready: false,
  restartCount: 0,
  image: 'finetune/trainer:test',
  imageID: '',
  state,
});

/** The operator as its own process (main.ts, as the image runs it), so it can be SIGKILLed. */
function operatorProcess(namespace: string, args: string[] = []): ChildProcess {
  const child = spawn(
    process.execPath,
    [OPERATOR, `--namespaces=${namespace}`, '--retry-base-seconds=1', '--trainer-service-account=default', ...args],
    {
      env: { ...process.env, KUBECONFIG: controlPlane.kubeconfigPath },
      stdio: 'ignore',
    },
  );
  return child;
}

const kill = (child: ChildProcess) =>
  new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve();
      return;
    }
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });

/** Every job Succeeded with exactly the attempts it needed, one pod per attempt, its reported stage kept. */
async function checkOutcome(api: Api, names: string[], attemptsOf: (name: string) => number) {
  const outcome = { duplicates: 0, lost: 0, stuck: 0, historyLost: 0 };
  for (const name of names) {
    const job = await api.get(name);
    if (!job) {
      outcome.lost++;
      continue;
    }
    if (job.status?.phase !== 'Succeeded') {
      outcome.stuck++;
      continue;
    }
    const pods = await api.pods(name);
    outcome.duplicates +=
      Math.max(0, pods.length - attemptsOf(name)) + Math.max(0, (job.status.attempts ?? 0) - attemptsOf(name));
    if (!job.status.stages?.some((s) => s.name === 'head' && s.state === 'Succeeded')) outcome.historyLost++;
  }
  return outcome;
}

describe('faults injected into a real control plane', () => {
  before(async () => {
    await controlPlane.start();
    // This file's helpers (kubeConfig, kubectl, namespaces) now reach this control plane.
    process.env['FTJ_TEST_KUBECONFIG'] = controlPlane.kubeconfigPath;
    await installCRDs();
  });
  after(() => controlPlane.stop());

  it('the operator SIGKILLed at random moments during a 100-job run: every job ends once, no duplicate pod, nothing lost', async (t) => {
    const namespace = await testNamespace(t, 'fault-kill');
    const api = jobs(namespace);
    const names = Array.from({ length: 100 }, (_, i) => `job-${String(i).padStart(3, '0')}`);
    // Every tenth job fails its first attempt (exit 3), so retries happen across the kills too.
    const failsFirst = (name: string) => Number(name.slice(4)) % 10 === 0;
    const attemptsOf = (name: string) => (failsFirst(name) ? 2 : 1);
    // Each pod trains for 3 s and the jobs arrive over 10 s, so kills land at every moment of the run.
    const nodes = simulateNodes(
      namespace,
      (pod) => failsFirst(pod.metadata!.ownerReferences![0]!.name) && pod.metadata!.name!.endsWith('-1'),
      3_000,
    );
    t.after(() => nodes.stop());

    let operator = operatorProcess(namespace);
    t.after(() => kill(operator));
    const started = Date.now();
    const creating = (async () => {
      for (const [i, name] of names.entries()) {
        await api.create(name, { backoffLimit: 3 });
        if (i % 10 === 9) await new Promise((r) => setTimeout(r, 1000));
      }
    })();
    let kills = 0;
    const done = async () =>
      (await Promise.all(names.map(async (n) => (await api.get(n))?.status?.phase === 'Succeeded'))).every(Boolean);

    while (!(await done())) {
      assert.ok(Date.now() - started < 300_000, 'the run finished within 5 minutes');
      // 0.5-3 s: sometimes before the new process has started its informers, sometimes mid-burst of writes.
      await new Promise((r) => setTimeout(r, 500 + seededRandom() * 2500));
      if (await done()) break;
      await kill(operator);
      kills++;
      operator = operatorProcess(namespace);
    }
    await creating;
    await nodes.stop();
    const outcome = await checkOutcome(api, names, attemptsOf);
    const figures = {
      seed: SEED,
      kills,
      jobs: names.length,
      ...outcome,
      maxLivePodsPerJob: nodes.state.maxLivePerJob,
      seconds: Math.round((Date.now() - started) / 1000),
    };
    t.diagnostic(`operator SIGKILL run: ${JSON.stringify(figures)} (replay: FTJ_FAULTS_SEED=${SEED})`);
    const replay = `(replay: FTJ_FAULTS_SEED=${SEED})`;
    assert.ok(kills >= 5, `the operator was killed ${kills} times ${replay}`);
    assert.deepEqual(outcome, { duplicates: 0, lost: 0, stuck: 0, historyLost: 0 }, replay);
    assert.equal(nodes.state.maxLivePerJob, 1, `never two live pods for one job ${replay}`);
  });

  it('kube-apiserver and etcd killed and restarted mid-run: the informers reconnect and every job completes', async (t) => {
    const namespace = await testNamespace(t, 'fault-apiserver');
    const api = jobs(namespace);
    startOperator(t, namespace);
    const nodes = simulateNodes(namespace, () => false);
    t.after(() => nodes.stop());
    const before = Array.from({ length: 10 }, (_, i) => `before-${i}`);
    for (const name of before) await api.create(name);
    await api.waitFor('before-0', (j) => j.status?.attempts === 1, 'the first jobs under way');

    await controlPlane.restart(['etcd', 'kube-apiserver'], 2_000);
    const afterOutage = Array.from({ length: 10 }, (_, i) => `after-${i}`);
    for (const name of afterOutage) await api.create(name);
    for (const name of [...before, ...afterOutage]) {
      await api.waitFor(name, (j) => j.status?.phase === 'Succeeded', `${name} Succeeded after the outage`, 120_000);
    }
    await nodes.stop();
    assert.deepEqual(await checkOutcome(api, [...before, ...afterOutage], () => 1), {
      duplicates: 0,
      lost: 0,
      stuck: 0,
      historyLost: 0,
    });
  });

  it('a watch answered 410 Gone relists with a consistent read, never from the watch cache (resourceVersion "0")', async (t) => {
    const namespace = await testNamespace(t, 'fault-gone');
    const other = await testNamespace(t, 'fault-churn');
    const kc = kubeConfig();
    const core = kc.makeApiClient(CoreV1Api);
    const lists: (string | undefined)[] = [];
    const errors: unknown[] = [];
    const informer = new ResilientInformer<V1ConfigMap>(
      kc,
      `/api/v1/namespaces/${namespace}/configmaps`,
      (resourceVersion) => {
        lists.push(resourceVersion);
        return core.listNamespacedConfigMap({ namespace, resourceVersion }) as Promise<
          KubernetesListObject<V1ConfigMap>
        >;
      },
      {},
      { onError: (err) => errors.push(err) },
    );
    t.after(() => informer.stop());
    await informer.start();
    assert.deepEqual(lists, ['0'], 'the first list is served from the watch cache');

    // Writes elsewhere move etcd's revision on; compaction makes the informer's resourceVersion too old, and
    // its next watch (they end after 2-4 s here) is answered 410 Gone: client-node relists through our list.
    await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'seen-before' } } });
    const churn = setInterval(
      () =>
        void core
          .createNamespacedConfigMap({ namespace: other, body: { metadata: { generateName: 'churn-' } } })
          .catch(() => undefined),
      100,
    );
    t.after(() => clearInterval(churn));
    await eventually(() => lists.length >= 2, 'a relist after 410 Gone', 60_000);
    clearInterval(churn);
    assert.equal(
      lists[1],
      undefined,
      `the relist after 410 asked for resourceVersion ${JSON.stringify(lists[1])}: a consistent read is ""`,
    );
    assert.deepEqual(errors, [], 'no watch error: the 410 was handled as a relist');
    await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'seen-after' } } });
    await eventually(
      () => ['seen-before', 'seen-after'].every((n) => informer.get(n, namespace)),
      'the cache to hold both config maps',
    );
  });

  it('two replicas, the leader SIGKILLed: the other leads within the lease duration, and no job gets two pods', async (t) => {
    const namespace = await testNamespace(t, 'fault-leader');
    const api = jobs(namespace);
    const nodes = simulateNodes(namespace, () => false);
    t.after(() => nodes.stop());
    const lease = [
      '--leader-elect',
      `--lease-namespace=${namespace}`,
      '--lease-duration-seconds=4',
      '--renew-deadline-seconds=3',
    ];
    const ports = [await freePort(), await freePort()];
    const replicas = ports.map((port) => operatorProcess(namespace, [...lease, `--port=${port}`]));
    t.after(() => Promise.all(replicas.map(kill)));
    const leading = async (port: number) => {
      const metrics = await fetch(`http://127.0.0.1:${port}/metrics`).then(
        (r) => r.text(),
        () => '',
      );
      return /^leader_election_master_status\{name="finetune-operator"\} 1$/m.test(metrics);
    };
    let leader = -1;
    await eventually(
      async () => {
        const states = await Promise.all(ports.map(leading));
        leader = states.indexOf(true);
        return states.filter(Boolean).length === 1;
      },
      'exactly one leader',
      30_000,
    );
    for (let i = 0; i < 10; i++) await api.create(`first-${i}`);
    await api.waitFor('first-9', (j) => j.status?.phase === 'Succeeded', 'the first jobs done', 60_000);

    await kill(replicas[leader]!);
    const killedAt = Date.now();
    const follower = 1 - leader;
    for (let i = 0; i < 10; i++) await api.create(`second-${i}`);
    await eventually(() => leading(ports[follower]!), 'the other replica to lead', 30_000);
    const takeover = (Date.now() - killedAt) / 1000;
    for (let i = 0; i < 10; i++)
      await api.waitFor(`second-${i}`, (j) => j.status?.phase === 'Succeeded', `second-${i} done`, 60_000);
    await nodes.stop();
    t.diagnostic(`leader SIGKILL: the other replica led after ${takeover.toFixed(1)} s (lease 4 s)`);
    assert.ok(takeover < 4 + 3, `took over after ${takeover} s: within the lease duration plus a retry period`);
    const names = [
      ...Array.from({ length: 10 }, (_, i) => `first-${i}`),
      ...Array.from({ length: 10 }, (_, i) => `second-${i}`),
    ];
    assert.deepEqual(await checkOutcome(api, names, () => 1), { duplicates: 0, lost: 0, stuck: 0, historyLost: 0 });
    assert.equal(nodes.state.maxLivePerJob, 1);
  });
});
