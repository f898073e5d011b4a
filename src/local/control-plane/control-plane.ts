import { type ChildProcess, spawn } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Binaries, ensureBinaries } from './binaries.ts';
import { terminate } from '../processes.ts';
import { freePort } from './free-port.ts';

export interface ControlPlaneOptions {
  /** Directory for data, certificates, logs and the kubeconfig (default: a new temp directory, removed on stop). */
  dir?: string;
  binaries?: Binaries;
  log?: (line: string) => void;
  /** Extra kube-apiserver flags (the fault tests shorten its watch history with them). */
  apiServerFlags?: string[];
  /**
   * Kill the components and re-raise when SIGINT or SIGTERM would end the process (default true). An
   * owner that handles those signals itself, to stop other things first, passes false and calls stop().
   */
  handleSignals?: boolean;
}

interface Component {
  name: string;
  binary: string;
  args: string[];
  process: ChildProcess;
  logFile: string;
}

const READY_TIMEOUT_MS = 120_000;

/**
 * A real Kubernetes control plane on loopback: etcd, kube-apiserver,
 * kube-controller-manager (garbage collector, service-account tokens) and
 * kube-scheduler. No kubelet: nodes are registered by `registerNode` or by
 * the local node agent. Used by the tests and by local mode.
 */
export class ControlPlane {
  readonly dir: string;
  readonly kubeconfigPath: string;
  readonly token = randomBytes(24).toString('hex');
  binaries!: Binaries;
  server = '';
  private readonly ownsDir: boolean;
  private readonly log: (line: string) => void;
  private components: Component[] = [];
  private readonly options: ControlPlaneOptions;
  private readonly onExit = () => {
    this.killAll('SIGKILL');
    if (this.ownsDir) rmSync(this.dir, { recursive: true, force: true });
  };
  /**
   * Node emits no 'exit' when a signal's default action kills the process: when
   * nobody else handles the signal, stop the components and re-raise it.
   */
  private readonly onSignal = (signal: NodeJS.Signals) => {
    this.onExit();
    process.kill(process.pid, signal);
  };

  constructor(options: ControlPlaneOptions = {}) {
    this.options = options;
    this.ownsDir = !options.dir;
    this.dir = options.dir ?? mkdtempSync(join(tmpdir(), 'ftj-control-plane-'));
    this.kubeconfigPath = join(this.dir, 'kubeconfig');
    this.log = options.log ?? ((line) => process.stderr.write(`${line}\n`));
  }

  /** Starts every component and resolves when the API server answers /readyz and the default ServiceAccount exists. */
  async start(): Promise<this> {
    this.binaries = this.options.binaries ?? (await ensureBinaries({ log: this.log }));
    process.once('exit', this.onExit);
    if (this.options.handleSignals ?? true)
      for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, this.onSignal);
    mkdirSync(this.dir, { recursive: true });
    const [etcdClient, etcdPeer, apiPort] = await Promise.all([freePort(), freePort(), freePort()]);
    this.server = `https://127.0.0.1:${apiPort}`;
    const pki = this.writeCredentials();

    this.launch('etcd', this.binaries.etcd, [
      `--data-dir=${join(this.dir, 'etcd')}`,
      `--listen-client-urls=http://127.0.0.1:${etcdClient}`,
      `--advertise-client-urls=http://127.0.0.1:${etcdClient}`,
      `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
      `--initial-cluster=default=http://127.0.0.1:${etcdPeer}`,
      '--log-level=warn',
    ]);
    this.launch('kube-apiserver', this.binaries['kube-apiserver'], [
      `--etcd-servers=http://127.0.0.1:${etcdClient}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${apiPort}`,
      '--insecure-port=0',
      `--cert-dir=${join(this.dir, 'pki')}`,
      `--token-auth-file=${pki.tokens}`,
      '--authorization-mode=Node,RBAC',
      '--service-cluster-ip-range=10.0.0.0/24',
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${pki.saPublic}`,
      `--service-account-signing-key-file=${pki.saPrivate}`,
      '--allow-privileged=true',
      // Local node agents serve the kubelet's log endpoint on loopback, with a self-signed certificate
      // (no --kubelet-certificate-authority: the API server does not verify it), for kubectl logs.
      '--kubelet-preferred-address-types=InternalIP',
      '--v=0',
      ...(this.options.apiServerFlags ?? []),
    ]);
    await this.waitReady();
    this.launch('kube-controller-manager', this.binaries['kube-controller-manager'], [
      `--kubeconfig=${this.kubeconfigPath}`,
      '--leader-elect=false',
      '--port=0',
      '--secure-port=0',
      `--service-account-private-key-file=${pki.saPrivate}`,
      `--root-ca-file=${join(this.dir, 'pki', 'apiserver.crt')}`,
      '--controllers=*',
      '--v=0',
    ]);
    this.launch('kube-scheduler', this.binaries['kube-scheduler'], [
      `--kubeconfig=${this.kubeconfigPath}`,
      '--leader-elect=false',
      '--port=0',
      '--secure-port=0',
      '--v=0',
    ]);
    await this.waitFor(async () => {
      const sa = await this.get('/api/v1/namespaces/default/serviceaccounts/default');
      return sa.status === 200 && ((JSON.parse(sa.body) as { secrets?: unknown[] }).secrets?.length ?? 0) > 0;
    }, 'the default ServiceAccount and its token (kube-controller-manager)');
    this.log(`control plane ready at ${this.server}; kubeconfig: ${this.kubeconfigPath}`);
    return this;
  }

  /** Stops every component (SIGTERM, then SIGKILL: an apiserver whose etcd is gone may ignore SIGTERM). */
  async stop(): Promise<void> {
    // Reverse start order; taken off the list first, so their exits are not reported as crashes.
    const components = this.components.reverse();
    this.components = [];
    for (const component of components) await terminate(component.process, 5_000);
    process.removeListener('exit', this.onExit);
    for (const signal of ['SIGTERM', 'SIGINT'] as const) process.removeListener(signal, this.onSignal);
    if (this.ownsDir) rmSync(this.dir, { recursive: true, force: true });
  }

  /**
   * Kills the named components without warning (SIGKILL) and starts them
   * again with the same flags, ports and data: an outage of the API server
   * or etcd, for fault injection. Resolves when the API server is ready.
   */
  async restart(names: string[], downMs = 0): Promise<void> {
    const stopped = this.components.filter((c) => names.includes(c.name));
    this.components = this.components.filter((c) => !names.includes(c.name));
    // terminate() with no grace: SIGKILL at once; its timer keeps the event loop alive until the exit (children are unref'd).
    await Promise.all(stopped.map((c) => terminate(c.process, 0, 'SIGKILL')));
    await new Promise((resolve) => setTimeout(resolve, downMs));
    for (const component of stopped) this.launch(component.name, component.binary, component.args);
    await this.waitReady();
  }

  /** Process ids of the running components (to check that teardown left nothing behind). */
  get pids(): number[] {
    return this.components.flatMap((c) => (c.process.pid ? [c.process.pid] : []));
  }

  /** The log of a component, for diagnosing a failed test. */
  logOf(name: string): string {
    const component = this.components.find((c) => c.name === name);
    return component ? readFileSync(component.logFile, 'utf8') : '';
  }

  private writeCredentials() {
    const pkiDir = join(this.dir, 'pki');
    mkdirSync(pkiDir, { recursive: true });
    const { publicKey, privateKey } = generateKeyPairSync('rsa', {
      modulusLength: 2048,
      publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
    });
    const files = {
      saPublic: join(pkiDir, 'service-account.pub'),
      saPrivate: join(pkiDir, 'service-account.key'),
      tokens: join(pkiDir, 'tokens.csv'),
    };
    writeFileSync(files.saPublic, publicKey);
    writeFileSync(files.saPrivate, privateKey, { mode: 0o600 });
    writeFileSync(files.tokens, `${this.token},admin,admin,"system:masters"\n`, { mode: 0o600 });
    writeFileSync(this.kubeconfigPath, kubeconfig(this.server, this.token), { mode: 0o600 });
    return files;
  }

  private launch(name: string, binary: string, args: string[]): void {
    const logFile = join(this.dir, `${name}.log`);
    const fd = openSync(logFile, 'a');
    // Own process group, so teardown reaches any child the component starts.
    const child = spawn(binary, args, { stdio: ['ignore', fd, fd], detached: true });
    closeSync(fd);
    child.unref();
    child.on('exit', (code, signal) => {
      if (this.components.some((c) => c.process === child)) {
        this.log(`control plane: ${name} exited (${signal ?? code}); see ${logFile}`);
      }
    });
    this.components.push({ name, binary, args, process: child, logFile });
  }

  private async waitReady(): Promise<void> {
    await this.waitFor(async () => (await this.get('/readyz')).status === 200, 'kube-apiserver /readyz');
  }

  private async waitFor(check: () => Promise<boolean>, what: string): Promise<void> {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      const dead = this.components.find((c) => c.process.exitCode !== null || c.process.signalCode !== null);
      if (dead) throw new Error(`${dead.name} exited while waiting for ${what}:\n${tail(this.logOf(dead.name))}`);
      if (await check().catch(() => false)) return;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; logs in ${this.dir}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  /** A raw GET against the API server with the admin token (readiness checks before any client exists). */
  get(path: string): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = request(
        `${this.server}${path}`,
        {
          headers: { authorization: `Bearer ${this.token}` },
          rejectUnauthorized: false,
          timeout: 5_000,
        },
        (res) => {
          let body = '';
          res.on('data', (chunk: Buffer) => {
            body += chunk.toString();
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', reject);
      req.end();
    });
  }

  /** Kills every component at once (SIGKILL), for an owner that must exit now; stop() is the orderly way. */
  kill(): void {
    this.killAll('SIGKILL');
  }

  private killAll(signal: NodeJS.Signals): void {
    for (const { process: child } of this.components) {
      try {
        if (child.pid) process.kill(-child.pid, signal);
      } catch {
        /* already gone */
      }
    }
  }
}

function tail(text: string, lines = 20): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

function kubeconfig(server: string, token: string): string {
  // The apiserver makes its own self-signed serving certificate; loopback only, so skipping verification is safe.
  return `apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: ${server}
    insecure-skip-tls-verify: true
users:
- name: admin
  user:
    token: ${token}
contexts:
- name: local
  context:
    cluster: local
    user: admin
current-context: local
`;
}
