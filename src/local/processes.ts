import type { ChildProcess } from 'node:child_process';

/**
 * Stops a child started in its own process group (detached): `signal` (SIGTERM) to the group, SIGKILL
 * after `graceMs`; resolves once it has exited. For the local control plane's and Ceph's daemons.
 */
export function terminate(child: ChildProcess, graceMs: number, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || !child.pid) return Promise.resolve();
  const pid = child.pid;
  return new Promise((resolve) => {
    // Ref'd timers: the child is unref'd, so its exit alone would not keep the event loop alive to hear it.
    const waiting = setInterval(() => undefined, 1_000);
    const timer = setTimeout(() => {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }, graceMs);
    const done = () => {
      clearTimeout(timer);
      clearInterval(waiting);
      resolve();
    };
    child.once('exit', done);
    try {
      process.kill(-pid, signal);
    } catch {
      done();
    }
  });
}
