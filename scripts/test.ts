// `npm test`: one real control plane and one real S3 server (Ceph RGW) for the
// whole run (each test file uses its own namespaces and buckets), then node's
// test runner over tests/, then teardown, also when a test fails or the run is
// interrupted.
import { type ChildProcess, spawn } from 'node:child_process';
import { ControlPlane } from '../src/local/control-plane/index.ts';
import { CephObjectStore } from '../src/local/object-store/ceph-object-store.ts';
import { ensureDebianPackages } from '../src/local/debian-packages.ts';

const files = process.argv.slice(2);
// This script stops the control plane on SIGINT and SIGTERM itself (below).
const controlPlane = new ControlPlane({ handleSignals: false });
// A real S3 server (Ceph's RADOS Gateway) for the object-storage tests, one for the run like the control plane.
const objectStore = new CephObjectStore({ log: (line) => console.error(line) });
let stopping: Promise<void> | undefined;
const stop = () => (stopping ??= Promise.all([controlPlane.stop(), objectStore.stop()]).then(() => undefined));
let runner: ChildProcess | undefined;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  // The test runner first (a SIGTERM to this process alone would leave it running), then the servers.
  process.once(signal, () => {
    runner?.kill(signal);
    void stop().then(() => process.exit(130));
  });
}

let code = 1;
try {
  // The tests read Debian's Fashion-MNIST and run Ceph: a new machine gets them here, before anything starts.
  await ensureDebianPackages('tests');
  const [, s3] = await Promise.all([controlPlane.start(), objectStore.start()]);
  // No single test may hang the run. (Not --test-force-exit: with it, results of a file
  // still being reported were lost while the run reported success.)
  runner = spawn(
    process.execPath,
    ['--test', '--test-timeout=900000', ...(files.length ? files : ['tests/**/*.test.ts'])],
    {
      stdio: 'inherit',
      env: {
        ...process.env,
        FTJ_TEST_KUBECONFIG: controlPlane.kubeconfigPath,
        FTJ_TEST_KUBECTL: controlPlane.binaries.kubectl,
        FTJ_TEST_S3_ENDPOINT: s3.endpoint,
        FTJ_TEST_S3_ACCESS_KEY_ID: s3.accessKeyId,
        FTJ_TEST_S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
      },
    },
  );
  code = await new Promise<number>((resolve) => runner!.on('exit', (exit) => resolve(exit ?? 1)));
} catch (err) {
  console.error(err instanceof Error ? err.message : err);
} finally {
  await stop();
}
process.exit(code);
