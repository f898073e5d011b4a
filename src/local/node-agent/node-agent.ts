import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, readSync, statSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { CoreV1Api, type KubeConfig, type V1ContainerStatus, type V1Pod } from '@kubernetes/client-node';
import { TERMINATION_LOG_ENV, TRAINER_CONTAINER } from '../../api/v1alpha1/index.ts';
import { registerNode, type NodeCapacity } from '../control-plane/node-registration.ts';
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

interface Running { process: ChildProcess; logFile: string; startedAt: Date; killTimer?: NodeJS.Timeout }

const TRAINER_ENTRY = join(import.meta.dirname, '..', '..', 'trainer', 'main.ts');

export class NodeAgent {
  private readonly core: CoreV1Api;
  private readonly options: NodeAgentOptions;
  private readonly running = new Map<string, Running>();
  private readonly finished = new Set<string>();
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
    this.unregister = await registerNode(this.options.kubeConfig, this.options.nodeName, this.options.capacity, kubeletPort);
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

  /** The process id running a pod's container, while it runs. */
  pidOf(namespace: string, pod: string): number | undefined {
    return this.running.get(`${namespace}/${pod}`)?.process.pid;
  }

  /** Container log of a pod (`ftj logs`). */
  logs(namespace: string, pod: string): string {
    try { return readFileSync(this.logFile(namespace, pod), 'utf8'); } catch { return ''; }
  }

  /** A self-signed serving certificate for 127.0.0.1, made once per agent with openssl (as kubelets make theirs). */
  private servingCertificate(): { key: Buffer; cert: Buffer } {
    const dir = join(this.options.root, 'kubelet-pki');
    mkdirSync(dir, { recursive: true });
    const [key, cert] = [join(dir, 'kubelet.key'), join(dir, 'kubelet.crt')];
    try {
      return { key: readFileSync(key), cert: readFileSync(cert) };
    } catch {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '3650',
        '-subj', `/CN=${this.options.nodeName}`, '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
      return { key: readFileSync(key), cert: readFileSync(cert) };
    }
  }

  /**
   * The kubelet's GET /containerLogs/NAMESPACE/POD/CONTAINER[?follow=true]: the container's log, and with
   * follow the lines written after, until the container exits (each pod here has one container).
   */
  private serveLogs(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const match = /^\/containerLogs\/([^/]+)\/([^/]+)\/[^/]+$/.exec(url.pathname);
    if (!match) { res.writeHead(404).end('not found'); return; }
    const [namespace, pod] = [decodeURIComponent(match[1]!), decodeURIComponent(match[2]!)];
    const file = this.logFile(namespace, pod);
    if (!this.running.has(`${namespace}/${pod}`) && !this.finished.has(`${namespace}/${pod}`)) {
      res.writeHead(404).end(`container of pod ${namespace}/${pod} has not started`);
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain' });
    let sent = 0;
    const sendNew = () => {
      let size: number;
      try { size = statSync(file).size; } catch { return; }
      if (size <= sent) return;
      const buffer = Buffer.alloc(size - sent);
      const fd = openSync(file, 'r');
      try { readSync(fd, buffer, 0, buffer.length, sent); } finally { closeSync(fd); }
      sent = size;
      res.write(buffer);
    };
    sendNew();
    if (url.searchParams.get('follow') !== 'true') { res.end(); return; }
    const timer = setInterval(() => {
      sendNew();
      if (!this.running.has(`${namespace}/${pod}`)) { clearInterval(timer); sendNew(); res.end(); }
    }, 200);
    req.on('close', () => clearInterval(timer));
  }

  /** One kubelet sync: start bound pods, stop deleted ones. */
  private async sync(): Promise<void> {
    const pods = (await this.core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${this.options.nodeName}` })).items;
    for (const pod of pods) {
      const key = `${pod.metadata!.namespace}/${pod.metadata!.name}`;
      const run = this.running.get(key);
      if (pod.metadata!.deletionTimestamp) {
        if (run && !run.killTimer) await this.kill(pod, run);
        else if (!run) await this.core.deleteNamespacedPod({ name: pod.metadata!.name!, namespace: pod.metadata!.namespace!, gracePeriodSeconds: 0 }).catch(() => undefined);
        continue;
      }
      if (!run && !this.finished.has(key) && pod.status?.phase === 'Pending') await this.run(pod, key);
    }
  }

  private async run(pod: V1Pod, key: string): Promise<void> {
    const { namespace, name } = pod.metadata as { namespace: string; name: string };
    const container = pod.spec!.containers.find((c) => c.name === TRAINER_CONTAINER) ?? pod.spec!.containers[0]!;
    const kubeconfig = this.options.serviceAccountTokens ? await this.serviceAccountKubeconfig(pod) : this.options.kubeconfigPath;
    if (!kubeconfig || this.stopped) return;
    const env: Record<string, string> = {
      PATH: process.env['PATH'] ?? '',
      HOME: process.env['HOME'] ?? '/tmp',
      KUBECONFIG: kubeconfig,
      FTJ_PVC_ROOT: join(this.options.root, 'pvc'),
      FTJ_ALLOW_CPU: '1',
      FTJ_CACHE_DIR: join(this.options.root, 'cache'),
      // The container's termination message file (the kubelet's /dev/termination-log).
      [TERMINATION_LOG_ENV]: this.terminationLog(namespace, name),
    };
    for (const variable of container.env ?? []) if (variable.value !== undefined) env[variable.name] = variable.value;
    const logFile = this.logFile(namespace, name);
    mkdirSync(join(this.options.root, 'logs', namespace), { recursive: true });
    const fd = openSync(logFile, 'a');
    // Every trainer image maps to the project's trainer entry point, on this machine's Node and CPU.
    const metricsPort = String(this.options.trainerMetricsPort ?? 0);
    const child = spawn(process.execPath, [TRAINER_ENTRY, '--metrics-port', metricsPort, ...(container.args ?? [])], { env, stdio: ['ignore', fd, fd], detached: true });
    closeSync(fd);
    const startedAt = new Date();
    this.running.set(key, { process: child, logFile, startedAt });
    this.log(`started ${key} (pid ${child.pid})`);
    await this.report(pod, 'Running', { name: container.name, ready: true, restartCount: 0, image: container.image ?? '', imageID: '', state: { running: { startedAt } } });
    child.on('exit', (code, signal) => {
      this.running.delete(key);
      this.finished.add(key);
      const exitCode = code ?? (signal === 'SIGKILL' ? 137 : 143);
      // As the kubelet does: the termination message file, else (FallbackToLogsOnError) the log's tail on failure.
      const written = readOrEmpty(this.terminationLog(namespace, name)).trim();
      const message = written || (exitCode === 0 ? '' : this.logs(namespace, name).trimEnd().split('\n').slice(-5).join('\n'));
      void this.report(pod, exitCode === 0 ? 'Succeeded' : 'Failed', {
        name: container.name, ready: false, restartCount: 0, image: container.image ?? '', imageID: '',
        state: { terminated: { exitCode, reason: exitCode === 0 ? 'Completed' : 'Error', message, startedAt, finishedAt: new Date() } },
      }).catch(() => undefined);
      this.log(`${key} exited with ${exitCode}`);
    });
  }

  /** A kubeconfig with the pod's ServiceAccount token (the legacy token Secret of a v1.20 cluster), or undefined while there is none. */
  private async serviceAccountKubeconfig(pod: V1Pod): Promise<string | undefined> {
    const namespace = pod.metadata!.namespace!;
    const account = pod.spec?.serviceAccountName ?? 'default';
    const serviceAccount = await this.core.readNamespacedServiceAccount({ name: account, namespace }).catch(() => undefined);
    const secretName = serviceAccount?.secrets?.[0]?.name;
    const secret = secretName ? await this.core.readNamespacedSecret({ name: secretName, namespace }).catch(() => undefined) : undefined;
    const token = secret?.data?.['token'];
    if (!token) return undefined;
    const server = this.options.kubeConfig.getCurrentCluster()!.server;
    const dir = join(this.options.root, 'credentials', namespace);
    mkdirSync(dir, { recursive: true });
    const path = join(dir, `${pod.metadata!.name}.kubeconfig`);
    const user = `system:serviceaccount:${namespace}:${account}`;
    writeFileSync(path, JSON.stringify({
      apiVersion: 'v1', kind: 'Config', 'current-context': 'pod',
      clusters: [{ name: 'local', cluster: { server, 'insecure-skip-tls-verify': true } }],
      users: [{ name: user, user: { token: Buffer.from(token, 'base64').toString('utf8') } }],
      contexts: [{ name: 'pod', context: { cluster: 'local', user, namespace } }],
    }), { mode: 0o600 });
    return path;
  }

  private async kill(pod: V1Pod, run: Running): Promise<void> {
    const grace = pod.metadata?.deletionGracePeriodSeconds ?? 30;
    await terminate(run, grace);
    await this.core.deleteNamespacedPod({ name: pod.metadata!.name!, namespace: pod.metadata!.namespace!, gracePeriodSeconds: 0 }).catch(() => undefined);
  }

  private async report(pod: V1Pod, phase: 'Running' | 'Succeeded' | 'Failed', status: V1ContainerStatus): Promise<void> {
    await updatePodStatus(this.core, { name: pod.metadata!.name!, namespace: pod.metadata!.namespace! },
      (current) => ({ ...current, phase, containerStatuses: [status], ...(phase === 'Running' ? { startTime: new Date() } : {}) }));
  }

  private terminationLog(namespace: string, pod: string): string {
    return join(this.options.root, 'logs', namespace, `${pod}.termination-log`);
  }

  private logFile(namespace: string, pod: string): string {
    return join(this.options.root, 'logs', namespace, `${pod}.log`);
  }
}

function readOrEmpty(path: string): string {
  try { return readFileSync(path, 'utf8'); } catch { return ''; }
}

/** SIGTERM, then SIGKILL after the grace period; resolves when the process is gone. */
function terminate(run: Running, graceSeconds: number): Promise<void> {
  const child = run.process;
  if (child.exitCode !== null || child.signalCode !== null || !child.pid) return Promise.resolve();
  const pid = child.pid;
  return new Promise((resolve) => {
    child.once('exit', () => { clearTimeout(run.killTimer); resolve(); });
    run.killTimer = setTimeout(() => { try { process.kill(-pid, 'SIGKILL'); } catch { /* gone */ } }, graceSeconds * 1000);
    try { process.kill(-pid, 'SIGTERM'); } catch { resolve(); }
  });
}
