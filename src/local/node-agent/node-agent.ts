import { type ChildProcess, spawn } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, readSync, statSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import {
  CoreV1Api,
  type KubeConfig,
  type V1Container,
  type V1ContainerStatus,
  type V1Pod,
} from '@kubernetes/client-node';
import {
  FINGERPRINT_FOR_LABEL,
  JOB_NAME_LABEL,
  TERMINATION_LOG_ENV,
  TRAINER_CONTAINER,
} from '../../api/v1alpha1/index.ts';
import { registerNode, type NodeCapacity } from '../control-plane/node-registration.ts';
import { ContainerConfigError, containerEnv } from './container-env.ts';
import { updatePodStatus } from './pod-status.ts';

/**
 * LOCAL MODE ONLY, not for production: a stand-in for the kubelet. It
 * registers a Node (with nvidia.com/gpu capacity, so the real scheduler does
 * GPU accounting), runs each trainer container the scheduler binds to it as a
 * local process (the trainer image maps to the project's trainer entry point,
 * on the CPU), maps PVCs to local folders, reports pod status as a kubelet
 * does, keeps container logs, and honours deletion with SIGTERM, then SIGKILL.
 * It serves the kubelet's log endpoint (/containerLogs) over HTTPS on
 * loopback and registers its port, so `kubectl logs` works through the real
 * API server (which, as configured, does not verify kubelet certificates).
 */
export interface NodeAgentOptions {
  kubeConfig: KubeConfig;
  /** Kubeconfig path handed to trainer processes (they report to their job's status). */
  kubeconfigPath: string;
  /**
   * Give each trainer its pod's ServiceAccount token instead of `kubeconfigPath`, as the kubelet mounts it:
   * the trainer then has exactly the RBAC rights of its ServiceAccount. A pod whose token does not exist yet
   * waits, as it would in ContainerCreating.
   */
  serviceAccountTokens?: boolean;
  /** The port trainers serve /metrics on (default: any free one; pods share this machine's ports). */
  trainerMetricsPort?: number;
  nodeName: string;
  capacity: NodeCapacity;
  /** Where PVC claims (root/pvc/CLAIM), logs and emptyDirs live. */
  root: string;
  pollMs?: number;
  log?: (line: string) => void;
}

/** A container process this agent started, keyed by its pod's UID. */
interface Running {
  uid: string;
  namespace: string;
  pod: string;
  process: ChildProcess;
  startedAt: Date;
  killTimer?: NodeJS.Timeout;
}

/** What a pod's container runs here: the project's own entry points, on this machine's Node and CPU. */
interface Program {
  kind: 'trainer' | 'operator' | 'predictor';
  entry: string;
  args: string[];
}

const ENTRY = {
  trainer: join(import.meta.dirname, '..', '..', 'trainer', 'main.ts'),
  operator: join(import.meta.dirname, '..', '..', 'operator', 'main.ts'),
  predictor: join(import.meta.dirname, '..', '..', 'predictor', 'main.ts'),
};
/** How long a container that could not be configured (a missing Secret) waits before the next try, as the kubelet backs off. */
const CONFIG_RETRY_MS = 5_000;

/**
 * Where a pod's container log lives: one folder per pod UID, as the kubelet's
 * /var/log/pods/NAMESPACE_NAME_UID, so a pod re-created under the same name
 * starts a log of its own, and a 253-character pod name stays a short path.
 */
export const podLogDir = (root: string, namespace: string, uid: string) => join(root, 'logs', namespace, uid);
export const containerLogFile = (root: string, namespace: string, uid: string, container: string) =>
  join(podLogDir(root, namespace, uid), `${container}.log`);

export class NodeAgent {
  private readonly core: CoreV1Api;
  private readonly options: NodeAgentOptions;
  /** Containers running now, by pod UID. */
  private readonly running = new Map<string, Running>();
  /** Pods whose container has exited, by UID (forgotten once the pod is gone). */
  private readonly finished = new Set<string>();
  /** Pods this agent will not run (an image it does not know), by UID, with the reason it reported. */
  private readonly refused = new Map<string, string>();
  /** Pods waiting for their configuration (a Secret): the time of the next try, by UID. */
  private readonly retryAt = new Map<string, number>();
  /** The latest pod of each NAMESPACE/NAME this node ran (its UID and container), for logs by name. */
  private readonly latest = new Map<string, { uid: string; container: string }>();
  private unregister: (() => Promise<void>) | undefined;
  private server: Server | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private syncing?: Promise<void>;
  private readonly log: (line: string) => void;

  constructor(options: NodeAgentOptions) {
    this.options = options;
    this.core = options.kubeConfig.makeApiClient(CoreV1Api);
    this.log = options.log ?? ((line) => process.stderr.write(`[node-agent] ${line}\n`));
  }

  async start(): Promise<void> {
    this.server = createServer(this.servingCertificate(), (req, res) => this.serveLogs(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    const kubeletPort = (this.server.address() as AddressInfo).port;
    this.unregister = await registerNode(
      this.options.kubeConfig,
      this.options.nodeName,
      this.options.capacity,
      kubeletPort,
    );
    const tick = async () => {
      this.syncing = this.sync().catch((err: unknown) => this.log(`sync failed: ${String(err).split('\n')[0]}`));
      await this.syncing;
      // A sync in flight when stop() ran must not start the loop again.
      if (this.stopped) return;
      this.timer = setTimeout(() => void tick(), this.options.pollMs ?? 500);
      this.timer.unref();
    };
    void tick();
  }

  /** Stops every container (SIGTERM, then SIGKILL) and deregisters the Node. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    // A sync in flight may be about to start a container: let it see `stopped` first, so none outlives the agent.
    await this.syncing;
    await Promise.all([...this.running.values()].map((r) => terminate(r, 5)));
    this.server?.closeAllConnections();
    this.server?.close();
    await this.unregister?.();
  }

  /** Kills every container at once (SIGKILL to its process group), for an owner that must exit now. */
  killAll(): void {
    this.stopped = true;
    for (const { process: child } of this.running.values()) {
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  }

  /** The containers running now: what stop() will end. */
  get runningPods(): { namespace: string; pod: string; pid: number | undefined }[] {
    return [...this.running.values()].map((r) => ({ namespace: r.namespace, pod: r.pod, pid: r.process.pid }));
  }

  /** The process id running the latest pod of this name, while it runs. */
  pidOf(namespace: string, pod: string): number | undefined {
    const latest = this.latest.get(`${namespace}/${pod}`);
    return latest && this.running.get(latest.uid)?.process.pid;
  }

  /** Container log of the latest pod of this name (`ftj logs`). */
  logs(namespace: string, pod: string): string {
    const latest = this.latest.get(`${namespace}/${pod}`);
    return latest ? readOrEmpty(this.logFile(namespace, latest.uid, latest.container)) : '';
  }

  /** A self-signed serving certificate for 127.0.0.1, made once per agent with openssl (as kubelets make theirs). */
  private servingCertificate(): { key: Buffer; cert: Buffer } {
    const dir = join(this.options.root, 'kubelet-pki');
    mkdirSync(dir, { recursive: true });
    const [key, cert] = [join(dir, 'kubelet.key'), join(dir, 'kubelet.crt')];
    try {
      return { key: readFileSync(key), cert: readFileSync(cert) };
    } catch {
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'rsa:2048',
          '-nodes',
          '-keyout',
          key,
          '-out',
          cert,
          '-days',
          '3650',
          '-subj',
          `/CN=${this.options.nodeName}`,
          '-addext',
          'subjectAltName=IP:127.0.0.1',
        ],
        { stdio: 'ignore' },
      );
      return { key: readFileSync(key), cert: readFileSync(cert) };
    }
  }

  /**
   * The kubelet's GET /containerLogs/NAMESPACE/POD/CONTAINER[?follow=true]: the log of the pod of that name
   * now, and with follow the lines written after, until the container exits (each pod here has one container).
   */
  private serveLogs(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const match = /^\/containerLogs\/([^/]+)\/([^/]+)\/[^/]+$/.exec(url.pathname);
    if (!match) {
      res.writeHead(404).end('not found');
      return;
    }
    const [namespace, pod] = [decodeURIComponent(match[1]!), decodeURIComponent(match[2]!)];
    const latest = this.latest.get(`${namespace}/${pod}`);
    if (!latest || (!this.running.has(latest.uid) && !this.finished.has(latest.uid))) {
      res.writeHead(404).end(`container of pod ${namespace}/${pod} has not started`);
      return;
    }
    const { uid } = latest;
    const file = this.logFile(namespace, uid, latest.container);
    res.writeHead(200, { 'content-type': 'text/plain' });
    let sent = 0;
    const sendNew = () => {
      let size: number;
      try {
        size = statSync(file).size;
      } catch {
        return;
      }
      if (size <= sent) return;
      const buffer = Buffer.alloc(size - sent);
      const fd = openSync(file, 'r');
      try {
        readSync(fd, buffer, 0, buffer.length, sent);
      } finally {
        closeSync(fd);
      }
      sent = size;
      res.write(buffer);
    };
    sendNew();
    if (url.searchParams.get('follow') !== 'true') {
      res.end();
      return;
    }
    const timer = setInterval(() => {
      sendNew();
      if (!this.running.has(uid)) {
        clearInterval(timer);
        sendNew();
        res.end();
      }
    }, 200);
    req.on('close', () => clearInterval(timer));
  }

  /**
   * One kubelet sync: start bound pods, stop deleted ones, forget pods that are gone. A pod that
   * fails here is logged and reported on its own status; the others are synced all the same.
   */
  private async sync(): Promise<void> {
    const pods = (await this.core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${this.options.nodeName}` }))
      .items;
    for (const pod of pods) {
      try {
        await this.syncPod(pod);
      } catch (err) {
        this.log(`pod ${pod.metadata!.namespace}/${pod.metadata!.name}: ${errorMessage(err)}`);
      }
    }
    const present = new Set(pods.map((pod) => pod.metadata!.uid!));
    for (const uids of [this.finished, this.refused, this.retryAt]) {
      for (const uid of uids.keys()) if (!present.has(uid)) uids.delete(uid);
    }
    // A pod removed at once (force-deleted) is never seen terminating: its container is stopped as the kubelet
    // stops containers of pods it no longer has. Its exit is reported to nobody (the pod is gone).
    for (const run of this.running.values()) {
      if (!present.has(run.uid) && !run.killTimer) {
        this.log(`${run.namespace}/${run.pod} (uid ${run.uid}) no longer exists: stopping its container`);
        void terminate(run, 30);
      }
    }
  }

  private async syncPod(pod: V1Pod): Promise<void> {
    const uid = pod.metadata!.uid!;
    const run = this.running.get(uid);
    if (pod.metadata!.deletionTimestamp) {
      if (run && !run.killTimer) await this.stopContainer(pod, run);
      else if (!run) await this.removePod(pod);
      return;
    }
    if (run || this.finished.has(uid) || this.refused.has(uid) || pod.status?.phase !== 'Pending') return;
    if ((this.retryAt.get(uid) ?? 0) > Date.now()) return;
    await this.startPod(pod);
  }

  /**
   * Starts a pod's container, or reports on the pod why it cannot: an image this node does not run
   * (ErrImageNeverPull), a Secret or ConfigMap that does not exist (CreateContainerConfigError, tried
   * again), or a container that could not be created (CreateContainerError), as a kubelet reports them.
   */
  private async startPod(pod: V1Pod): Promise<void> {
    const { namespace, name, uid } = pod.metadata as { namespace: string; name: string; uid: string };
    const container = pod.spec!.containers.find((c) => c.name === TRAINER_CONTAINER) ?? pod.spec!.containers[0]!;
    const program = programOf(pod, container, this.options.trainerMetricsPort ?? 0);
    if (!program) {
      const message =
        `container image "${container.image}" is not present on node ${this.options.nodeName}: the local node agent ` +
        "runs only the project's trainer image (pods of FineTuneJobs, or an image named .../trainer), operator image " +
        "(.../operator, e.g. the chart's Deployment) and predictor image (.../predictor)";
      this.refused.set(uid, message);
      await this.reportWaiting(pod, container, 'ErrImageNeverPull', message);
      this.log(`not running ${namespace}/${name}: ${message}`);
      return;
    }
    let env: Record<string, string>;
    try {
      env = await containerEnv(this.core, pod, container);
    } catch (err) {
      if (!(err instanceof ContainerConfigError)) throw err;
      this.retryAt.set(uid, Date.now() + CONFIG_RETRY_MS);
      await this.reportWaiting(pod, container, 'CreateContainerConfigError', err.message);
      return;
    }
    const kubeconfig =
      this.options.serviceAccountTokens || program.kind !== 'trainer'
        ? await this.serviceAccountKubeconfig(pod)
        : this.options.kubeconfigPath;
    if (!kubeconfig || this.stopped) return;
    try {
      this.spawnContainer(pod, container, program, {
        ...env,
        ...this.baseEnv(namespace, uid, container.name, kubeconfig),
      });
    } catch (err) {
      this.refused.set(uid, errorMessage(err));
      await this.reportWaiting(pod, container, 'CreateContainerError', errorMessage(err));
      return;
    }
    await this.report(pod, 'Running', {
      name: container.name,
      ready: true,
      restartCount: 0,
      image: container.image ?? '',
      imageID: '',
      state: { running: { startedAt: this.running.get(uid)!.startedAt } },
    });
  }

  /** What every container here gets on top of its own environment, as the kubelet's mounts would give it. */
  private baseEnv(namespace: string, uid: string, container: string, kubeconfig: string): Record<string, string> {
    return {
      PATH: process.env['PATH'] ?? '',
      HOME: process.env['HOME'] ?? '/tmp',
      KUBECONFIG: kubeconfig,
      FTJ_PVC_ROOT: join(this.options.root, 'pvc'),
      FTJ_ALLOW_CPU: '1',
      FTJ_CACHE_DIR: join(this.options.root, 'cache'),
      // The container's termination message file (the kubelet's /dev/termination-log).
      [TERMINATION_LOG_ENV]: this.terminationLog(namespace, uid, container),
    };
  }

  private spawnContainer(pod: V1Pod, container: V1Container, program: Program, env: Record<string, string>): void {
    const { namespace, name, uid } = pod.metadata as { namespace: string; name: string; uid: string };
    mkdirSync(podLogDir(this.options.root, namespace, uid), { recursive: true });
    const fd = openSync(this.logFile(namespace, uid, container.name), 'a');
    let child: ChildProcess;
    try {
      child = spawn(process.execPath, [program.entry, ...program.args], {
        env,
        stdio: ['ignore', fd, fd],
        detached: true,
      });
    } finally {
      closeSync(fd);
    }
    const startedAt = new Date();
    this.running.set(uid, { uid, namespace, pod: name, process: child, startedAt });
    this.latest.set(`${namespace}/${name}`, { uid, container: container.name });
    this.log(`started ${namespace}/${name} (${program.kind}, pid ${child.pid})`);
    child.on('exit', (code, signal) => {
      this.running.delete(uid);
      this.finished.add(uid);
      const exitCode = code ?? (signal === 'SIGKILL' ? 137 : 143);
      // As the kubelet does: the termination message file, else (FallbackToLogsOnError) the log's tail on failure.
      const written = readOrEmpty(this.terminationLog(namespace, uid, container.name)).trim();
      const message =
        written ||
        (exitCode === 0
          ? ''
          : readOrEmpty(this.logFile(namespace, uid, container.name))
              .trimEnd()
              .split('\n')
              .slice(-5)
              .join('\n'));
      void this.report(pod, exitCode === 0 ? 'Succeeded' : 'Failed', {
        name: container.name,
        ready: false,
        restartCount: 0,
        image: container.image ?? '',
        imageID: '',
        state: {
          terminated: {
            exitCode,
            reason: exitCode === 0 ? 'Completed' : 'Error',
            message,
            startedAt,
            finishedAt: new Date(),
          },
        },
      }).catch(() => undefined);
      this.log(`${namespace}/${name} exited with ${exitCode}`);
    });
  }

  /** A kubeconfig with the pod's ServiceAccount token (the legacy token Secret of a v1.20 cluster), or undefined while there is none. */
  private async serviceAccountKubeconfig(pod: V1Pod): Promise<string | undefined> {
    const namespace = pod.metadata!.namespace!;
    const account = pod.spec?.serviceAccountName ?? 'default';
    const serviceAccount = await this.core
      .readNamespacedServiceAccount({ name: account, namespace })
      .catch(() => undefined);
    const secretName = serviceAccount?.secrets?.[0]?.name;
    const secret = secretName
      ? await this.core.readNamespacedSecret({ name: secretName, namespace }).catch(() => undefined)
      : undefined;
    const token = secret?.data?.['token'];
    if (!token) return undefined;
    const server = this.options.kubeConfig.getCurrentCluster()!.server;
    const dir = join(this.options.root, 'credentials', namespace);
    mkdirSync(dir, { recursive: true });
    const path = join(dir, `${pod.metadata!.uid}.kubeconfig`);
    const user = `system:serviceaccount:${namespace}:${account}`;
    writeFileSync(
      path,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        'current-context': 'pod',
        clusters: [{ name: 'local', cluster: { server, 'insecure-skip-tls-verify': true } }],
        users: [{ name: user, user: { token: Buffer.from(token, 'base64').toString('utf8') } }],
        contexts: [{ name: 'pod', context: { cluster: 'local', user, namespace } }],
      }),
      { mode: 0o600 },
    );
    return path;
  }

  private async stopContainer(pod: V1Pod, run: Running): Promise<void> {
    const grace = pod.metadata?.deletionGracePeriodSeconds ?? 30;
    await terminate(run, grace);
    await this.removePod(pod);
  }

  /** Deletes a terminating pod for good, as the kubelet does once its containers are gone: this pod only, not a successor of its name. */
  private async removePod(pod: V1Pod): Promise<void> {
    const { name, namespace, uid } = pod.metadata as { name: string; namespace: string; uid: string };
    // With a body, the API server reads the options from it (a gracePeriodSeconds query parameter beside it is ignored).
    await this.core
      .deleteNamespacedPod({ name, namespace, body: { gracePeriodSeconds: 0, preconditions: { uid } } })
      .catch(() => undefined);
  }

  private async report(
    pod: V1Pod,
    phase: 'Pending' | 'Running' | 'Succeeded' | 'Failed',
    status: V1ContainerStatus,
  ): Promise<void> {
    const { name, namespace, uid } = pod.metadata as { name: string; namespace: string; uid: string };
    await updatePodStatus(this.core, { name, namespace, uid }, (current) => ({
      ...current,
      phase,
      containerStatuses: [status],
      ...(phase === 'Running' ? { startTime: new Date() } : {}),
    }));
  }

  /** A container that does not run, and why (kubectl shows the reason in STATUS), written once per reason and message. */
  private async reportWaiting(pod: V1Pod, container: V1Container, reason: string, message: string): Promise<void> {
    const waiting = pod.status?.containerStatuses?.[0]?.state?.waiting;
    if (waiting?.reason === reason && waiting.message === message) return;
    await this.report(pod, 'Pending', {
      name: container.name,
      ready: false,
      restartCount: 0,
      image: container.image ?? '',
      imageID: '',
      state: { waiting: { reason, message } },
    });
  }

  private terminationLog(namespace: string, uid: string, container: string): string {
    return join(podLogDir(this.options.root, namespace, uid), `${container}.termination-log`);
  }

  private logFile(namespace: string, uid: string, container: string): string {
    return containerLogFile(this.options.root, namespace, uid, container);
  }
}

/**
 * The program a pod's container runs here: the trainer for the pods the operator makes (a job's attempts,
 * a schedule's fingerprint probes) and any image named .../trainer; the operator for an image named
 * .../operator (the chart's Deployment) and the predictor for one named .../predictor, each with its own
 * arguments on a free port, since every pod here shares this machine's ports. Anything else is not run.
 */
export function programOf(pod: V1Pod, container: V1Container, trainerMetricsPort: number): Program | undefined {
  const labels = pod.metadata?.labels ?? {};
  const image = imageName(container.image ?? '');
  const args = container.args ?? [];
  if (labels[JOB_NAME_LABEL] !== undefined || labels[FINGERPRINT_FOR_LABEL] !== undefined || /trainer/.test(image)) {
    return { kind: 'trainer', entry: ENTRY.trainer, args: ['--metrics-port', String(trainerMetricsPort), ...args] };
  }
  // commander takes the last of a repeated flag: the pod's --port gives way to a free one (the predictor logs it).
  if (/(^|-)operator$/.test(image)) return { kind: 'operator', entry: ENTRY.operator, args: [...args, '--port=0'] };
  if (/(^|-)predictor$/.test(image)) return { kind: 'predictor', entry: ENTRY.predictor, args: [...args, '--port=0'] };
  return undefined;
}

/** The last path segment of an image reference, without its tag or digest: ghcr.io/org/trainer:1.0 is "trainer". */
const imageName = (image: string) => image.split('@')[0]!.split('/').at(-1)!.split(':')[0]!;

const errorMessage = (err: unknown) => (err instanceof Error ? err.message : String(err)).split('\n')[0]!;

function readOrEmpty(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** SIGTERM, then SIGKILL after the grace period; resolves when the process is gone. */
function terminate(run: Running, graceSeconds: number): Promise<void> {
  const child = run.process;
  if (child.exitCode !== null || child.signalCode !== null || !child.pid) return Promise.resolve();
  const pid = child.pid;
  return new Promise((resolve) => {
    child.once('exit', () => {
      clearTimeout(run.killTimer);
      resolve();
    });
    run.killTimer = setTimeout(() => {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }, graceSeconds * 1000);
    try {
      process.kill(-pid, 'SIGTERM');
    } catch {
      resolve();
    }
  });
}
