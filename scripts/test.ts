// `npm test`: one real control plane for the whole run (each test file uses its
// own namespaces), then node's test runner over tests/, then teardown, also
// when a test fails or the run is interrupted.
import { spawn } from 'node:child_process';
import { ControlPlane } from '../src/local/control-plane/index.ts';
import { ensureDebianPackages } from '../src/local/debian-packages.ts';

const files = process.argv.slice(2);
// This script stops the control plane on SIGINT and SIGTERM itself (below).
const controlPlane = new ControlPlane({ handleSignals: false });
let stopping: Promise<void> | undefined;
const stop = () => (stopping ??= controlPlane.stop());
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => { void stop().then(() => process.exit(130)); });
}

let code = 1;
try {
  // The tests read Debian's Fashion-MNIST: a new machine gets it here, before anything starts.
  await ensureDebianPackages();
  await controlPlane.start();
  // No single test may hang the run. (Not --test-force-exit: with it, results of a file
  // still being reported were lost while the run reported success.)
  const runner = spawn(process.execPath, ['--test', '--test-timeout=900000', ...(files.length ? files : ['tests/**/*.test.ts'])], {
    stdio: 'inherit',
    env: { ...process.env, FTJ_TEST_KUBECONFIG: controlPlane.kubeconfigPath, FTJ_TEST_KUBECTL: controlPlane.binaries.kubectl },
  });
  code = await new Promise<number>((resolve) => runner.on('exit', (exit) => resolve(exit ?? 1)));
} catch (err) {
  console.error(err instanceof Error ? err.message : err);
} finally {
  await stop();
}
process.exit(code);
