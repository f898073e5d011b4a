// `npm run screenshots`: the README's pictures, from a real run. ftj dev trains a short quickstart on its
// own local cluster; while the fine-tune stage runs, `kubectl ftj get -w` runs in a real terminal (tmux)
// and its screen is captured; once the job is served, the report.html it wrote is rendered. Both are
// photographed by Debian's chromium into docs/images/. About two minutes on 2 cores.
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse, stringify } from 'yaml';
import { screenshot } from '../src/local/chromium.ts';
import { ensureDebianPackages } from '../src/local/debian-packages.ts';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..');
const IMAGES = join(ROOT, 'docs', 'images');
const work = mkdtempSync(join(tmpdir(), 'ftj-screenshots-'));

const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const until = async (check: () => boolean, what: string, seconds: number) => {
  for (let i = 0; i < seconds * 2; i++) {
    if (check()) return;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error(`timed out waiting for ${what}`);
};

await ensureDebianPackages('tests'); // chromium
mkdirSync(IMAGES, { recursive: true });
const manifest = parse(readFileSync(join(ROOT, 'examples', 'quickstart.yaml'), 'utf8'));
manifest.spec.dataset.limit = 1000;
manifest.spec.stages = [
  { name: 'head', epochs: 15 },
  { name: 'fine-tune', epochs: 12, unfreeze: { policy: 'All' } },
];
writeFileSync(join(work, 'quickstart.yaml'), stringify(manifest));

const dev = spawn(
  join(ROOT, 'node_modules', 'node', 'bin', 'node'),
  [join(ROOT, 'src', 'local', 'cli', 'ftj.ts'), 'dev', '--root', work, '-f', join(work, 'quickstart.yaml')],
  { stdio: ['ignore', 'pipe', 'pipe'] },
);
let output = '';
dev.stdout.on('data', (d: Buffer) => (output += d.toString()));
dev.stderr.on('data', (d: Buffer) => (output += d.toString()));
const session = `ftj-screenshots-${process.pid}`;
try {
  await until(() => /stage fine-tune, epoch [2-9]/.test(output), 'the fine-tune stage', 600);
  const kubeconfig = /export KUBECONFIG=(\S+)/.exec(output)![1]!;
  const tmux = (...args: string[]) =>
    run('tmux', ['-L', session, ...args], { env: { ...process.env, KUBECONFIG: kubeconfig } });
  await tmux(
    'new-session',
    '-d',
    '-x',
    '128',
    '-y',
    '5',
    `KUBECONFIG=${kubeconfig} ${join(ROOT, 'bin', 'kubectl-ftj')} get -w`,
  );
  await new Promise((resolve) => setTimeout(resolve, 5000));
  const screen = (await tmux('capture-pane', '-p')).stdout.trimEnd();
  await tmux('kill-server').catch(() => undefined);
  const terminal = join(work, 'terminal.html');
  writeFileSync(
    terminal,
    `<!doctype html><html><body style="margin:0;background:#1e1e1e"><pre style="margin:0;padding:12px;color:#e0e0e0;font:14px/1.35 'DejaVu Sans Mono',monospace">$ kubectl ftj get -w\n${escape(screen)}</pre></body></html>`,
  );
  await screenshot(`file://${terminal}`, join(IMAGES, 'kubectl-ftj-get-w.png'), 1100, 130);
  console.log(`wrote ${join(IMAGES, 'kubectl-ftj-get-w.png')}`);

  await until(() => output.includes('Ctrl-C stops the local cluster'), 'the job served', 600);
  await screenshot(
    `file://${join(work, 'pvc', 'models', 'quickstart', 'report.html')}`,
    join(IMAGES, 'report.png'),
    800,
    1560,
  );
  console.log(`wrote ${join(IMAGES, 'report.png')}`);
} catch (err) {
  console.error(`${String(err)}\n${output.slice(-2000)}`);
  process.exitCode = 1;
} finally {
  await run('tmux', ['-L', session, 'kill-server']).catch(() => undefined);
  const exited = new Promise((resolve) => dev.once('exit', resolve));
  dev.kill('SIGINT');
  await exited;
  rmSync(work, { recursive: true, force: true });
}
