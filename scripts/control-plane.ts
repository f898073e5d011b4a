// `npm run control-plane -- build`: make sure the binaries exist (CI calls this).
// `npm run control-plane -- up` (`npm start`): a local control plane with the CRDs installed, until Ctrl-C.
import { relative } from 'node:path';
import { ControlPlane, ensureBinaries, installCRDs } from '../src/local/control-plane/index.ts';

const command = process.argv[2] ?? 'up';
if (command === 'build') {
  const binaries = await ensureBinaries();
  for (const [name, path] of Object.entries(binaries)) console.log(`${name}: ${path}`);
} else if (command === 'up') {
  // Stopped below on SIGINT or SIGTERM, in order, with its data removed.
  const controlPlane = await new ControlPlane({ handleSignals: false }).start();
  const { kubectl } = controlPlane.binaries;
  await installCRDs(kubectl, controlPlane.kubeconfigPath);
  const shown = relative(process.cwd(), kubectl).startsWith('..') ? kubectl : `./${relative(process.cwd(), kubectl)}`;
  console.log(`
FineTuneJob and FineTuneSchedule CRDs installed. In another shell:

  export KUBECONFIG=${controlPlane.kubeconfigPath}
  alias kubectl=${shown}   # the client built with the server (v1.20)
  kubectl apply -f examples/
  kubectl get finetune
  kubectl explain finetunejob.spec.stages

Ctrl-C stops the control plane and removes its data.`);
  // The components are unref'd child processes: keep this process alive until asked to stop.
  const keepAlive = setInterval(() => undefined, 60_000);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  clearInterval(keepAlive);
  await controlPlane.stop();
} else {
  console.error('usage: npm run control-plane -- build|up');
  process.exit(2);
}
