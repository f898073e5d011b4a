import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../control-plane/free-port.ts';
import { terminate } from '../processes.ts';

const run = promisify(execFile);

export interface CephObjectStoreOptions {
  /** Directory for the cluster's config, data, sockets and logs (default: a new temp directory, removed on stop). */
  dir?: string;
  /** Memory the OSD's memstore may hold (default 4 GiB; the data lives in RAM). */
  memstoreBytes?: number;
  log?: (line: string) => void;
}

/** The S3 endpoint and the credentials of its one user. */
export interface S3Endpoint {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
}

interface Daemon {
  name: string;
  process: ChildProcess;
  logFile: string;
}

const READY_TIMEOUT_MS = 60_000;

/**
 * LOCAL MODE AND TESTS ONLY: a real S3 server, Ceph's RADOS Gateway, on a
 * one-node Ceph cluster on loopback (Debian's ceph-mon, ceph-osd and
 * radosgw): one monitor, one OSD on memstore, pools of size 1, cephx off.
 * It serves S3 about two seconds after an empty directory; stop() ends the
 * daemons in the order Ceph needs (gateway, OSD, monitor).
 *
 * Settings that matter, each found the hard way: `ms mon client mode = crc`
 * (with cephx off radosgw otherwise waits 300 s for its config), a short
 * `paxos propose interval` (each pool costs a 1 s paxos round otherwise),
 * `mon data avail warn/crit` low (the monitor stops on a disk it thinks is
 * full), `rgw gc obj min wait = 0` (memstore keeps deleted objects in RAM
 * until RGW's garbage collection, 2 h by default).
 */
export class CephObjectStore {
  readonly dir: string;
  private readonly ownsDir: boolean;
  private readonly options: CephObjectStoreOptions;
  private readonly log: (line: string) => void;
  private daemons: Daemon[] = [];
  private endpointValue: S3Endpoint | undefined;
  private readonly onExit = () => {
    for (const { process: child } of this.daemons) {
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    if (this.ownsDir) rmSync(this.dir, { recursive: true, force: true });
  };

  constructor(options: CephObjectStoreOptions = {}) {
    this.options = options;
    this.ownsDir = !options.dir;
    this.dir = options.dir ?? mkdtempSync(join(tmpdir(), 'ftj-ceph-'));
    this.log = options.log ?? ((line) => process.stderr.write(`${line}\n`));
  }

  get endpoint(): S3Endpoint {
    if (!this.endpointValue) throw new Error('the object store is not started');
    return this.endpointValue;
  }

  /** Starts the monitor, the OSD and the gateway, and makes the S3 user; resolves when S3 answers. */
  async start(): Promise<S3Endpoint> {
    process.once('exit', this.onExit);
    const [monPort, rgwPort] = [await freePort(), await freePort()];
    const fsid = randomUUID();
    const conf = join(this.dir, 'ceph.conf');
    for (const sub of ['run', 'mon', 'osd']) mkdirSync(join(this.dir, sub), { recursive: true });
    writeFileSync(conf, cephConf(this.dir, fsid, monPort, rgwPort, this.options.memstoreBytes ?? 4 * 1024 ** 3));
    const ceph = (binary: string, args: string[]) => run(binary, ['-c', conf, ...args], { timeout: 30_000 });

    await run('monmaptool', [
      '--create',
      '--add',
      'a',
      `v2:127.0.0.1:${monPort}`,
      '--fsid',
      fsid,
      join(this.dir, 'monmap'),
    ]);
    await ceph('ceph-mon', ['--mkfs', '-i', 'a', '--monmap', join(this.dir, 'monmap')]);
    this.launch('ceph-mon', ['-f', '-c', conf, '-i', 'a']);
    const osdUuid = randomUUID();
    const osdId = (await this.until(() => ceph('ceph', ['osd', 'new', osdUuid]), 'the monitor')).stdout.trim();
    await ceph('ceph-osd', ['-i', osdId, '--mkfs', '--osd-uuid', osdUuid]);
    this.launch('ceph-osd', ['-f', '-c', conf, '-i', osdId]);
    this.launch('radosgw', ['-f', '-c', conf, '-n', 'client.rgw']);
    await this.until(async () => {
      const response = await fetch(`http://127.0.0.1:${rgwPort}/`);
      if (response.status !== 200) throw new Error(`HTTP ${response.status}`);
    }, 'the RADOS Gateway');
    const credentials = {
      accessKeyId: `FTJ${randomUUID().replace(/-/g, '').slice(0, 17).toUpperCase()}`,
      secretAccessKey: randomUUID(),
    };
    await ceph('radosgw-admin', [
      '-n',
      'client.rgw',
      'user',
      'create',
      '--uid=ftj',
      '--display-name=finetune-operator tests',
      `--access-key=${credentials.accessKeyId}`,
      `--secret-key=${credentials.secretAccessKey}`,
    ]);
    this.endpointValue = { endpoint: `http://127.0.0.1:${rgwPort}`, region: 'us-east-1', ...credentials };
    this.log(`object store (Ceph RGW) ready at ${this.endpointValue.endpoint}`);
    return this.endpointValue;
  }

  /** Stops the gateway, the OSD and the monitor, in that order (SIGTERM, then SIGKILL). */
  async stop(): Promise<void> {
    const daemons = this.daemons.reverse();
    this.daemons = [];
    for (const daemon of daemons) await terminate(daemon.process, 5_000);
    process.removeListener('exit', this.onExit);
    if (this.ownsDir) rmSync(this.dir, { recursive: true, force: true });
  }

  /** A daemon's log, for diagnosing a failed start. */
  logOf(name: string): string {
    const daemon = this.daemons.find((d) => d.name === name);
    try {
      return daemon ? readFileSync(daemon.logFile, 'utf8') : '';
    } catch {
      return '';
    }
  }

  private launch(name: string, args: string[]): void {
    const logFile = join(this.dir, `${name}.out`);
    const fd = openSync(logFile, 'a');
    // Its own process group, so a kill reaches the daemon's threads' children too; unref'd like the control plane's.
    const child = spawn(name, args, { stdio: ['ignore', fd, fd], detached: true });
    closeSync(fd);
    child.unref();
    this.daemons.push({ name, process: child, logFile });
  }

  private async until<T>(attempt: () => Promise<T>, what: string): Promise<T> {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      const dead = this.daemons.find((d) => d.process.exitCode !== null || d.process.signalCode !== null);
      if (dead)
        throw new Error(`${dead.name} exited while waiting for ${what}:\n${this.logOf(dead.name).slice(-2000)}`);
      try {
        return await attempt();
      } catch (err) {
        if (Date.now() > deadline)
          throw new Error(`timed out waiting for ${what} (${String(err).split('\n')[0]}); logs in ${this.dir}`, {
            cause: err,
          });
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

function cephConf(dir: string, fsid: string, monPort: number, rgwPort: number, memstoreBytes: number): string {
  return `[global]
fsid = ${fsid}
mon host = v2:127.0.0.1:${monPort}
mon initial members = a
auth cluster required = none
auth service required = none
auth client required = none
ms mon client mode = crc
mon allow pool size one = true
mon warn on pool no redundancy = false
mon data avail warn = 1
mon data avail crit = 0
paxos propose interval = 0.01
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
osd objectstore = memstore
memstore device bytes = ${memstoreBytes}
run dir = ${dir}/run
admin socket = ${dir}/run/$name.asok
pid file = ${dir}/run/$name.pid
log file = ${dir}/$name.log
keyring = /dev/null
[mon.a]
mon data = ${dir}/mon
[osd.0]
osd data = ${dir}/osd
[client.rgw]
rgw frontends = beast endpoint=127.0.0.1:${rgwPort}
rgw gc obj min wait = 0
rgw gc processor period = 60
`;
}
