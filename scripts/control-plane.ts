// `npm run control-plane -- build`: make sure the binaries exist (CI calls this).
// `npm run control-plane -- up`: run a local control plane until Ctrl-C, to try kubectl against.
import { ControlPlane, ensureBinaries } from '../src/local/control-plane/index.ts';

const command = process.argv[2] ?? 'up';
if (command === 'build') {
  const binaries = await ensureBinaries();
  for (const [name, path] of Object.entries(binaries)) console.log(`${name}: ${path}`);
} else if (command === 'up') {
  const controlPlane = await new ControlPlane().start();
  console.log(`\nexport KUBECONFIG=${controlPlane.kubeconfigPath}\nkubectl is ${controlPlane.binaries.kubectl} (same version as the server)\nCtrl-C stops it.`);
  await new Promise<void>((resolve) => process.once('SIGINT', resolve));
  await controlPlane.stop();
} else {
  console.error('usage: npm run control-plane -- build|up');
  process.exit(2);
}
