import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { before, describe, it, type TestContext } from 'node:test';
import sharp from 'sharp';
import { parse, stringify } from 'yaml';
import { fashionSubset } from '../../src/local/quickstart/fashion-mnist.ts';
import { ROOT } from '../support/paths.ts';
import { eventually, installCRDs, testNamespace } from '../support/cluster.ts';
import { jobs, startOperator } from '../operator/support/operator-harness.ts';
import { pretrainedBase } from '../trainer/support/workspace.ts';

function ftj(args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(ROOT, 'src', 'local', 'cli', 'ftj.ts'), ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, KUBECONFIG: '' },
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => {
      output += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      output += d.toString();
    });
    child.on('exit', (code) => resolve({ code, output }));
  });
}

/** Processes whose command line mentions `text` (nothing may outlive ftj dev). */
function processesMentioning(text: string): number[] {
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(text);
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** Processes whose environment mentions `text` (a trainer has its node agent's folders there, not on its command line). */
function processesWithEnvironment(text: string): number[] {
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p) && Number(p) !== process.pid)
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/environ`, 'utf8').includes(text);
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** `ftj dev` on the quickstart.yaml in `root`, running until the test signals it: its output so far, and its exit. */
function ftjDev(
  t: TestContext,
  root: string,
): { child: ChildProcess; readonly output: string; exited: Promise<number | null> } {
  const child = spawn(
    process.execPath,
    [join(ROOT, 'src', 'local', 'cli', 'ftj.ts'), 'dev', '--root', root, '-f', join(root, 'quickstart.yaml')],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, KUBECONFIG: '' } },
  );
  t.after(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => {
    output += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    output += d.toString();
  });
  return {
    child,
    get output() {
      return output;
    },
    exited: new Promise((resolve) => child.on('exit', (code) => resolve(code))),
  };
}

describe('ftj', () => {
  before(installCRDs);

  it('ftj dev (npm start) runs the quickstart on its own local cluster to Succeeded, serves its model, and cleans up on Ctrl-C', async (t) => {
    const root = mkdtempSync(join(tmpdir(), 'ftj-dev-'));
    t.after(() => rmSync(root, { recursive: true, force: true }));
    // The quickstart's base, already pretrained by the tests (same recipe): ftj dev skips pretraining.
    cpSync(dirname(await pretrainedBase()), join(root, 'pvc', 'models', 'fashion-mnist-base'), { recursive: true });
    const quickstart = parse(readFileSync(join(ROOT, 'examples', 'quickstart.yaml'), 'utf8'));
    quickstart.spec.dataset.limit = 300;
    quickstart.spec.stages = [
      { name: 'head', epochs: 2 },
      { name: 'fine-tune', epochs: 1, unfreeze: { policy: 'All' } },
    ];
    writeFileSync(join(root, 'quickstart.yaml'), stringify(quickstart));

    const dev = ftjDev(t, root);
    // Once it succeeds, the quickstart's model is served: a newcomer can call it.
    let url = '';
    await eventually(
      () => {
        url =
          /serving quickstart at (http:\/\/127\.0\.0\.1:\d+\/v2\/models\/quickstart\/infer)/.exec(dev.output)?.[1] ??
          '';
        return url !== '';
      },
      `the served model: ${dev.output.slice(-1500)}`,
      300_000,
    );
    assert.match(dev.output, /curl -s http:\/\/127\.0\.0\.1:\d+\/v2\/models\/quickstart\/infer/);
    const subset = await fashionSubset([7], 1, 0, 't10k');
    const image = await sharp(Buffer.from(subset.images), { raw: { width: 28, height: 28, channels: 1 } })
      .png()
      .toBuffer();
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        inputs: [{ name: 'image', datatype: 'BYTES', shape: [1], data: [image.toString('base64')] }],
        parameters: { top_k: 3 },
      }),
    });
    assert.equal(response.status, 200);
    const top = ((await response.json()) as { outputs: { name: string; data: string[] }[] }).outputs.find(
      (o) => o.name === 'top_classes',
    )!;
    assert.equal(top.data.length, 3);
    assert.ok(
      top.data.every((name) => quickstart.spec.dataset.classNames.includes(name)),
      `class names: ${top.data.join(', ')}`,
    );
    await eventually(() => dev.output.includes('Ctrl-C stops the local cluster'), 'what next', 60_000);
    dev.child.kill('SIGINT');
    assert.equal(await dev.exited, 130, dev.output);
    assert.match(dev.output, /finetunejob\.finetune\.dev\/quickstart created/);
    assert.match(dev.output, /export KUBECONFIG=/);
    // Short stages can pass between two polls of the stream; the summary lists them all.
    assert.match(dev.output, /quickstart: phase Succeeded/);
    assert.match(dev.output, /stage head: 2 epochs, best val_loss/);
    assert.match(dev.output, /stage fine-tune: 1 epochs, best val_loss/);
    assert.match(dev.output, /model written to .*pvc\/models\/quickstart/);
    assert.match(dev.output, /test set \(\d+ held-out examples\): accuracy \d+\.\d%/);
    // The served model classifies a few test images, then the user is told what to do next.
    const samples = [...dev.output.matchAll(/^ {2}(\S+)\.png +(\S+) \d+%, \S+ \d+%$/gm)];
    assert.equal(samples.length, 6, dev.output);
    assert.ok(samples.every(([, , top]) => quickstart.spec.dataset.classNames.includes(top)));
    assert.match(dev.output, /quickstart trained, evaluated and served \d+ min \d+ s after start/);
    assert.match(
      dev.output,
      /bin\/kubectl-ftj predict quickstart \S+\/samples\/\*\.png --url http:\/\/127\.0\.0\.1:\d+/,
    );
    assert.match(dev.output, /Ctrl-C stops the local cluster/);
    assert.deepEqual(processesMentioning(join(root, 'control-plane')), [], 'no control-plane process outlives ftj dev');
  });

  it("ftj dev runs examples/minute-schedule.yaml: the schedule's first run, to Succeeded", async (t) => {
    const root = mkdtempSync(join(tmpdir(), 'ftj-dev-schedule-'));
    t.after(() => rmSync(root, { recursive: true, force: true }));
    cpSync(dirname(await pretrainedBase()), join(root, 'pvc', 'models', 'fashion-mnist-base'), { recursive: true });
    const { code, output } = await ftj([
      'dev',
      '--root',
      root,
      '--exit-when-done',
      '-f',
      join(ROOT, 'examples', 'minute-schedule.yaml'),
    ]);
    assert.equal(code, 0, output);
    assert.match(output, /finetuneschedule\.finetune\.dev\/quickstart-minutely created/);
    assert.match(output, /schedule quickstart-minutely: next run \d{4}-/);
    const run = /(quickstart-minutely-\d+): phase Succeeded/.exec(output)?.[1];
    assert.ok(run, output);
    assert.match(output, new RegExp(`model written to .*pvc/models/quickstart-minutely/${run}`));
  });

  it('Ctrl-C of ftj dev stops the running trainer with SIGTERM (it saves its point), then the agent, operator and control plane, and says so', async (t) => {
    const root = mkdtempSync(join(tmpdir(), 'ftj-dev-interrupt-'));
    t.after(() => rmSync(root, { recursive: true, force: true }));
    cpSync(dirname(await pretrainedBase()), join(root, 'pvc', 'models', 'fashion-mnist-base'), { recursive: true });
    const quickstart = parse(readFileSync(join(ROOT, 'examples', 'quickstart.yaml'), 'utf8'));
    quickstart.spec.dataset.limit = 300;
    // Long enough to be interrupted in the middle: many epochs, nothing stops it early.
    quickstart.spec.stages = [{ name: 'head', epochs: 500, earlyStopping: { enabled: false } }];
    writeFileSync(join(root, 'quickstart.yaml'), stringify(quickstart));

    const kubectlCaches = () => readdirSync(tmpdir()).filter((name) => name.startsWith('ftj-kubectl-cache-'));
    const cachesBefore = kubectlCaches();
    const dev = ftjDev(t, root);
    await eventually(
      () => /quickstart: phase Running, stage head, epoch [2-9]/.test(dev.output),
      `the trainer in its second epoch: ${dev.output.slice(-2000)}`,
      240_000,
    );
    const trainers = processesWithEnvironment(root).filter((pid) =>
      readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('trainer/main.ts'),
    );
    assert.equal(trainers.length, 1, 'one trainer process runs');

    dev.child.kill('SIGINT');
    const code = await dev.exited;
    assert.equal(code, 130, dev.output);
    for (const line of [
      /SIGINT: stopping/,
      /stopping quickstart-trainer-1 \(SIGTERM: a trainer saves its checkpoint and exits, a predictor answers what it took\)/,
      /stopping the control plane/,
      /the local cluster is stopped/,
    ]) {
      assert.match(dev.output, line);
    }
    const [log] = readdirSync(join(root, 'logs', 'default')).map((uid) =>
      readFileSync(join(root, 'logs', 'default', uid, 'trainer.log'), 'utf8'),
    );
    assert.match(
      log ?? '',
      /INTERRUPTED: interrupted \(SIGTERM\) in stage "head" after \d+ epochs and \d+ batches; saved there/,
    );
    assert.deepEqual(processesWithEnvironment(root), [], 'no trainer outlives ftj dev');
    assert.deepEqual(processesMentioning(join(root, 'control-plane')), [], 'no control-plane process outlives ftj dev');
    // kubectl's cache: one folder for every process of this user, not one left behind per process.
    const added = kubectlCaches().filter((name) => !cachesBefore.includes(name));
    assert.deepEqual(
      added.filter((name) => name !== `ftj-kubectl-cache-${userInfo().uid}`),
      [],
    );
  });

  it('ftj status prints the phase, the stage timeline and the conditions', async (t) => {
    const namespace = await testNamespace(t, 'ftj-status');
    startOperator(t, namespace);
    const api = jobs(namespace);
    await api.create('shown');
    // No node in this namespace's world: the pod is created, then Queued by the scheduler.
    const job = await api.waitFor('shown', (j) => j.status?.attempts === 1, 'the pod to be created');
    const { code, output } = await ftj([
      'status',
      'shown',
      '-n',
      namespace,
      '--kubeconfig',
      process.env['FTJ_TEST_KUBECONFIG']!,
    ]);
    assert.equal(code, 0, output);
    assert.match(
      output,
      new RegExp(`^shown \\(${namespace}\\): (Pending|Queued), attempt 1$`, 'm'),
      JSON.stringify(job.status),
    );
    assert.match(
      output,
      /Created=True \(PodCreated\): created trainer pod shown-trainer-1/,
      JSON.stringify(job.status),
    );
  });

  it('ftj --help lists the commands', async () => {
    const { code, output } = await ftj(['--help']);
    assert.equal(code, 0);
    for (const command of ['dev', 'run', 'status', 'logs']) assert.match(output, new RegExp(`^\\s+${command}\\b`, 'm'));
  });
});
