// kubectl ftj through the real kubectl (the control plane's v1.20, which finds plugins on PATH), with a
// kubeconfig of several contexts, as a platform engineer's would be.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { API_VERSION, FINETUNEJOB, FINETUNESCHEDULE, GROUP, VERSION } from '../../src/api/v1alpha1/index.ts';
import { buildCliBundle } from '../../scripts/cli-bundle.ts';
import { minimalSpec } from '../api/spec-fixtures.ts';
import { eventually, installCRDs, kubeConfig, kubectl, testNamespace } from '../support/cluster.ts';
import { localCluster } from '../e2e/support/local-cluster.ts';
import { ROOT } from '../support/paths.ts';

const run = promisify(execFile);

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

describe('kubectl ftj (the kubectl plugin)', () => {
  before(installCRDs);

  it('lists, describes, suspends, resumes, retries and triggers across contexts and namespaces, with one-line errors', async (t) => {
    const [teamA, teamB] = [await testNamespace(t, 'cli-a'), await testNamespace(t, 'cli-b')];
    const kc = kubeConfig();
    const custom = kc.makeApiClient(CustomObjectsApi);
    const core = kc.makeApiClient(CoreV1Api);
    const createJob = (namespace: string, name: string) =>
      custom.createNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace,
        plural: FINETUNEJOB.plural,
        body: {
          apiVersion: API_VERSION,
          kind: FINETUNEJOB.kind,
          metadata: { name, labels: { team: 'vision' } },
          spec: minimalSpec(),
        },
      }) as Promise<{ metadata: { uid: string } }>;
    await createJob(teamA, 'flowers');
    await createJob(teamB, 'birds');

    // A ServiceAccount with no rights, for the forbidden case.
    await core.createNamespacedServiceAccount({ namespace: teamA, body: { metadata: { name: 'nobody' } } });
    let token = '';
    await eventually(async () => {
      const account = await core.readNamespacedServiceAccount({ name: 'nobody', namespace: teamA });
      const secret = await core.readNamespacedSecret({ name: account.secrets![0]!.name!, namespace: teamA });
      token = Buffer.from(secret.data!['token']!, 'base64').toString('utf8');
      return token.length > 0;
    }, 'the nobody token');

    const dir = mkdtempSync(join(tmpdir(), 'kubectl-ftj-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const cluster = kc.getCurrentCluster()!;
    const admin = kc.getCurrentUser()!;
    writeFileSync(
      join(dir, 'kubeconfig'),
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        'current-context': 'team-a',
        clusters: [{ name: 'local', cluster: { server: cluster.server, 'insecure-skip-tls-verify': true } }],
        users: [
          { name: 'admin', user: { token: admin.token } },
          { name: 'nobody', user: { token } },
        ],
        contexts: [
          { name: 'team-a', context: { cluster: 'local', user: 'admin', namespace: teamA } },
          { name: 'team-b', context: { cluster: 'local', user: 'admin', namespace: teamB } },
          { name: 'nobody', context: { cluster: 'local', user: 'nobody', namespace: teamA } },
        ],
      }),
    );
    symlinkSync(join(ROOT, 'bin', 'kubectl-ftj'), join(dir, 'kubectl-ftj'));
    const env = { ...process.env, KUBECONFIG: join(dir, 'kubeconfig'), PATH: `${dir}:${process.env['PATH']}` };
    const kubectl = async (...args: string[]): Promise<Result> =>
      run(process.env['FTJ_TEST_KUBECTL']!, args, { env }).then(
        ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
        (err: { code: number; stdout: string; stderr: string }) => ({
          code: err.code,
          stdout: err.stdout,
          stderr: err.stderr,
        }),
      );

    // The context's namespace, another context's, -n, -A.
    const own = await kubectl('ftj', 'get');
    assert.equal(own.code, 0, own.stderr);
    assert.match(own.stdout, /^NAME\s+PHASE\s+STAGE\s+PROGRESS\s+VAL-ACC\s+ATTEMPTS\s+REASON\s+AGE\n/);
    assert.match(own.stdout, /^flowers\s+Pending\s+/m);
    assert.doesNotMatch(own.stdout, /birds/);
    assert.match((await kubectl('ftj', 'get', '--context', 'team-b')).stdout, /^birds\s+Pending/m);
    assert.match((await kubectl('ftj', 'get', '-n', teamB)).stdout, /^birds\s+Pending/m);
    const all = await kubectl('ftj', 'get', '-A');
    assert.match(all.stdout, /^NAMESPACE\s+NAME\s+PHASE/);
    assert.match(all.stdout, new RegExp(`^${teamA}\\s+flowers\\s`, 'm'));
    assert.match(all.stdout, new RegExp(`^${teamB}\\s+birds\\s`, 'm'));
    // `get NAME`, as kubectl users type it, and the kind spelled out.
    for (const args of [
      ['get', 'flowers'],
      ['get', 'ftj', 'flowers'],
      ['get', 'finetunejob', 'flowers'],
    ]) {
      const one = await kubectl('ftj', ...args);
      assert.equal(one.code, 0, one.stderr);
      assert.match(one.stdout, /^NAME\s+PHASE.*\nflowers\s+Pending\s+.*\n$/, args.join(' '));
    }

    const described = await kubectl('ftj', 'describe', 'flowers');
    assert.equal(described.code, 0, described.stderr);
    for (const line of [
      /^Name:\s+flowers$/m,
      new RegExp(`^Namespace:\\s+${teamA}$`, 'm'),
      /^Phase:\s+Pending$/m,
      /^Model:\s+file:\/\/\/models\/base\/model\.json$/m,
      /^Stages:\n {2}<none>$/m,
      /^Conditions:$/m,
      /^Events:$/m,
    ]) {
      assert.match(described.stdout, line);
    }

    assert.match((await kubectl('ftj', 'suspend', 'flowers')).stdout, /finetunejob\.finetune\.dev\/flowers suspended/);
    const suspended = (await custom.getNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: teamA,
      plural: FINETUNEJOB.plural,
      name: 'flowers',
    })) as { spec: { suspend?: boolean } };
    assert.equal(suspended.spec.suspend, true);
    await kubectl('ftj', 'resume', 'flowers');
    const resumed = (await custom.getNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: teamA,
      plural: FINETUNEJOB.plural,
      name: 'flowers',
    })) as { spec: { suspend?: boolean } };
    assert.equal(resumed.spec.suspend, false);

    // Errors a user can act on: one line each, exit code 1.
    const oneLine = (result: Result, pattern: RegExp) => {
      assert.equal(result.code, 1, result.stdout);
      assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
      assert.match(result.stderr, pattern);
    };
    oneLine(
      await kubectl('ftj', 'describe', 'missing'),
      /^Error from server \(NotFound\): finetunejobs\.finetune\.dev "missing" not found$/m,
    );
    oneLine(
      await kubectl('ftj', 'get', '--context', 'nope'),
      /^error: context "nope" not found in the kubeconfig \(contexts: team-a, team-b, nobody\)$/m,
    );
    oneLine(
      await kubectl('ftj', 'get', '--context', 'nobody'),
      /^Error from server \(Forbidden\): finetunejobs\.finetune\.dev is forbidden: User "system:serviceaccount:.*:nobody" cannot list resource "finetunejobs"/m,
    );
    oneLine(
      await kubectl('ftj', 'get', '-w', '--context', 'nobody'),
      /^Error from server \(Forbidden\): finetunejobs\.finetune\.dev is forbidden: User "system:serviceaccount:.*:nobody" cannot list resource "finetunejobs"/m,
    );
    oneLine(await kubectl('ftj', 'get', 'missing'), /^error: finetunejob "missing" not found in namespace cli-a-\w+$/m);
    oneLine(
      await kubectl('ftj', 'retry', 'flowers'),
      /^error: FineTuneJob "flowers" is Pending: only a Failed job is retried$/m,
    );
    oneLine(
      await kubectl('ftj', 'logs', 'flowers'),
      /^error: FineTuneJob "flowers" has no trainer pod yet \(phase Pending\)$/m,
    );

    // retry: a failed job is deleted and created anew (a new UID), same labels and spec.
    const {
      metadata: { uid: before },
    } = await createJob(teamA, 'broken');
    await custom.patchNamespacedCustomObjectStatus(
      {
        group: GROUP,
        version: VERSION,
        namespace: teamA,
        plural: FINETUNEJOB.plural,
        name: 'broken',
        body: { status: { phase: 'Failed', conditions: [] } },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    const retried = await kubectl('ftj', 'retry', 'broken');
    assert.equal(retried.code, 0, retried.stderr);
    const again = (await custom.getNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: teamA,
      plural: FINETUNEJOB.plural,
      name: 'broken',
    })) as { metadata: { uid: string; labels: Record<string, string> }; status?: unknown };
    assert.notEqual(again.metadata.uid, before);
    assert.deepEqual([again.metadata.labels['team'], again.status], ['vision', undefined]);

    // schedules: listed, and triggered by hand like kubectl create job --from=cronjob/NAME.
    const schedule = (await custom.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: teamA,
      plural: FINETUNESCHEDULE.plural,
      body: {
        apiVersion: API_VERSION,
        kind: FINETUNESCHEDULE.kind,
        metadata: { name: 'nightly' },
        spec: { schedule: '0 3 * * *', jobTemplate: { spec: minimalSpec() } },
      },
    })) as { metadata: { uid: string } };
    assert.match((await kubectl('ftj', 'get', 'schedules')).stdout, /^nightly\s+0 3 \* \* \*\s+false\s+0\s+/m);
    const triggered = await kubectl('ftj', 'schedules', 'trigger', 'nightly', '--run-name', 'nightly-by-hand');
    assert.equal(triggered.code, 0, triggered.stderr);
    const manual = (await custom.getNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: teamA,
      plural: FINETUNEJOB.plural,
      name: 'nightly-by-hand',
    })) as {
      metadata: { annotations: Record<string, string>; ownerReferences: { uid: string }[] };
      spec: { output: { uri: string } };
    };
    assert.equal(manual.metadata.annotations['finetune.dev/instantiate'], 'manual');
    assert.deepEqual(
      manual.metadata.ownerReferences.map((o) => o.uid),
      [schedule.metadata.uid],
    );
    assert.equal(manual.spec.output.uri, 'file:///out/model/nightly-by-hand');

    // npm pack's bundle (dist/kubectl-ftj.mjs) is the same program.
    const bundle = await buildCliBundle(join(dir, 'kubectl-ftj.mjs'));
    const bundled = await run(process.execPath, [bundle, 'get', '-n', teamB], { env });
    assert.match(bundled.stdout, /^birds\s+Pending/m);
    // On the machine's older Node (Debian's, 20), it says what it needs instead of failing inside undici.
    const older = await run('/usr/bin/node', [bundle, 'get'], { env }).then(
      () => assert.fail('ran on an older Node'),
      (err: Result) => err,
    );
    assert.equal(older.code, 1);
    assert.match(older.stderr, /^\S*kubectl-ftj\.mjs needs Node 22 or later; this is Node v(1\d|2[01])\./);
  });

  it('logs: kubectl logs and kubectl ftj logs -f read trainer logs through the API server on the local node agent, -f across attempts', async (t) => {
    const cluster = await localCluster(t);
    const { namespace, api, agent } = cluster;
    // A fine-tune stage of some seconds: the plugin, slow to start on a busy machine, must catch the first attempt in it.
    await api.create(
      'flowers',
      cluster.spec('flowers', [
        { name: 'head', epochs: 2 },
        { name: 'fine-tune', epochs: 12, unfreeze: { policy: 'All' }, earlyStopping: { enabled: false } },
      ]),
    );
    await eventually(
      async () => (await api.get('flowers'))?.status?.phase === 'Running',
      'the trainer running',
      60_000,
    );
    const env = { ...process.env, KUBECONFIG: process.env['FTJ_TEST_KUBECONFIG'] };
    // -f follows the job: its first attempt's log, killed mid-run, then its second attempt's, to the end.
    const following = spawn(join(ROOT, 'bin', 'kubectl-ftj'), ['logs', 'flowers', '-f', '-n', namespace], {
      env,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    t.after(() => following.kill());
    let stdout = '';
    following.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    const exited = new Promise((resolve) => following.on('exit', resolve));
    // Killed once the plugin follows the first attempt (on a busy machine the plugin can take seconds to start).
    await eventually(
      () => stdout.includes('stage 2/2') && agent.logs(namespace, 'flowers-trainer-1').includes('stage 2/2'),
      'the plugin following the second stage',
      120_000,
    );
    process.kill(agent.pidOf(namespace, 'flowers-trainer-1')!, 'SIGKILL');
    await exited;
    const [first, second] = stdout.split(/^--- attempt 2: flowers-trainer-2 ---$/m);
    assert.ok(second, `the second attempt follows the first:\n${stdout}`);
    assert.match(first!, /stage 1\/2 "head"/);
    assert.match(second, /resuming from checkpoint/);
    assert.match(second, /exported the fine-tuned model/);
    const job = await api.waitFor('flowers', (j) => j.status?.phase === 'Succeeded', 'the job to succeed', 60_000);
    assert.equal(job.status!.podName, 'flowers-trainer-2');
    const direct = await kubectl(['logs', 'flowers-trainer-2', '-n', namespace]);
    assert.equal(`\n${direct.stdout}`, second, 'kubectl logs reads the same log');
    const earlier = await run(
      join(ROOT, 'bin', 'kubectl-ftj'),
      ['logs', 'flowers', '--attempt', '1', '-n', namespace],
      { env },
    );
    assert.equal(earlier.stdout, first);
  });

  it("get -w shows running jobs' progress from a watch: a bar on a terminal (tmux), plain lines in a pipe; describe draws the curves", async (t) => {
    const namespace = await testNamespace(t, 'cli-watch');
    const custom = kubeConfig().makeApiClient(CustomObjectsApi);
    const ref = { group: GROUP, version: VERSION, namespace, plural: FINETUNEJOB.plural };
    await custom.createNamespacedCustomObject({
      ...ref,
      body: { apiVersion: API_VERSION, kind: FINETUNEJOB.kind, metadata: { name: 'flowers' }, spec: minimalSpec() },
    });
    const report = (status: Record<string, unknown>) =>
      custom.patchNamespacedCustomObjectStatus(
        { ...ref, name: 'flowers', body: { status } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
    const env = { ...process.env, KUBECONFIG: process.env['FTJ_TEST_KUBECONFIG']! };

    // A pipe: one line per change.
    const piped = spawn(join(ROOT, 'bin', 'kubectl-ftj'), ['get', '-w', '-n', namespace], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    t.after(() => piped.kill());
    let lines = '';
    piped.stdout.on('data', (d: Buffer) => {
      lines += d.toString();
    });
    await eventually(() => /flowers {2}Pending/.test(lines), 'the job listed', 20_000);
    // The first listing comes sorted by name, as kubectl lists: jobs made in another order.
    for (const name of ['zebra', 'apples']) {
      await custom.createNamespacedCustomObject({
        ...ref,
        body: { apiVersion: API_VERSION, kind: FINETUNEJOB.kind, metadata: { name }, spec: minimalSpec() },
      });
    }
    const sorted = await run(join(ROOT, 'bin', 'kubectl-ftj'), ['get', '-n', namespace], { env });
    assert.deepEqual(
      sorted.stdout
        .split('\n')
        .slice(1, 4)
        .map((line) => line.split(' ')[0]),
      ['apples', 'flowers', 'zebra'],
    );
    const watching = spawn(join(ROOT, 'bin', 'kubectl-ftj'), ['get', '-w', '-n', namespace], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    t.after(() => watching.kill());
    let first = '';
    watching.stdout.on('data', (d: Buffer) => {
      first += d.toString();
    });
    await eventually(() => first.split('\n').length > 3, 'the first listing of get -w', 20_000);
    assert.deepEqual(
      first
        .split('\n')
        .slice(0, 3)
        .map((line) => line.split(/\s+/)[1]),
      ['apples', 'flowers', 'zebra'],
      first,
    );
    const progress = { percent: 45, epoch: 3, totalEpochs: 10, eta: new Date(Date.now() + 300_000).toISOString() };
    await report({ phase: 'Running', stage: 'head', progress, metrics: { samplesPerSecond: 450 } });
    await eventually(
      () => /flowers {2}Running {2}head {2}45% {2}epoch 3\/10 {2}ETA \d+m\S* {2}450\/s/.test(lines),
      `the progress line in: ${lines}`,
      20_000,
    );

    // describe -w in a pipe: the description, then a line per change.
    const describing = spawn(join(ROOT, 'bin', 'kubectl-ftj'), ['describe', 'flowers', '-w', '-n', namespace], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    t.after(() => describing.kill());
    let described = '';
    describing.stdout.on('data', (d: Buffer) => {
      described += d.toString();
    });
    await eventually(() => /^Events:/m.test(described), 'the description', 20_000);
    await report({ progress: { ...progress, percent: 60, epoch: 6 } });
    await eventually(
      () => /flowers {2}Running {2}head {2}60% {2}epoch 6\/10/.test(described),
      `describe -w's progress line in: ${described}`,
      20_000,
    );

    // A terminal: the table redrawn in place, with a progress bar.
    const session = `ftj-${namespace}`;
    const tmux = (...args: string[]) => run('tmux', ['-L', session, ...args], { env });
    await tmux(
      'new-session',
      '-d',
      '-s',
      session,
      '-x',
      '150',
      '-y',
      '12',
      `${join(ROOT, 'bin', 'kubectl-ftj')} get -w -n ${namespace}`,
    );
    t.after(() => tmux('kill-server').catch(() => undefined));
    const pane = async () => (await tmux('capture-pane', '-p', '-t', session)).stdout;
    await eventually(
      async () => (await pane()).includes('[############........] 60%'),
      'the bar on the terminal',
      20_000,
    );
    await report({ progress: { ...progress, percent: 90, epoch: 9 } });
    await eventually(
      async () => /\[##################\.\.\] 90%\s+epoch 9\/10/.test(await pane()),
      'the bar redrawn',
      20_000,
    );
    const screen = await pane();
    assert.equal(screen.match(/^flowers/gm)?.length, 1, `redrawn in place, not appended:\n${screen}`);

    // describe: the curves of the reported history.
    await report({
      history: [
        {
          stage: 'head',
          epoch: [1, 2, 3],
          loss: [2, 1.5, 1],
          valLoss: [2.2, 1.6, 1.4],
          accuracy: [0.3, 0.5, 0.7],
          valAccuracy: [0.25, 0.45, 0.5],
        },
      ],
      evaluation: {
        examples: 200,
        accuracy: 0.81,
        macroPrecision: 0.8,
        macroRecall: 0.79,
        report: '/out/flowers/evaluation.json',
      },
      trials: [
        {
          name: 'head-only',
          settings: 'head only',
          state: 'Done',
          epochs: 0,
          endReason: 'HeadOnly',
          valLoss: 0.61,
          valAccuracy: 0.75,
        },
        {
          name: 'rate-1e-4',
          settings: 'learningRate 0.0001',
          state: 'Done',
          epochs: 12,
          endReason: 'EarlyStopped',
          valLoss: 0.52,
          valAccuracy: 0.8,
          selected: true,
        },
      ],
    });
    const curves = await run(join(ROOT, 'bin', 'kubectl-ftj'), ['describe', 'flowers', '-n', namespace], { env });
    assert.match(curves.stdout, /Curves of stage head:\n {2}2\.2 \|o/);
    assert.match(curves.stdout, /\* loss {3}o val_loss/);
    assert.match(curves.stdout, /\* acc {3}o val_acc/);
    assert.match(
      curves.stdout,
      /^Trials:\n +NAME +SETTINGS .*\n +head-only +head only +Done +0 +0\.61 +0\.75 +HeadOnly *\n +rate-1e-4 +learningRate 0\.0001 +Done +12 +0\.52 +0\.8 +EarlyStopped +yes$/m,
    );
    assert.match(
      curves.stdout,
      /^Test set: +accuracy 0\.81 on 200 examples \(macro precision 0\.8, recall 0\.79\); \/out\/flowers\/evaluation\.json$/m,
    );

    // report: with the output out of reach, the page is drawn from the status.
    const saved = join(mkdtempSync(join(tmpdir(), 'ftj-report-')), 'flowers.html');
    const written = await run(join(ROOT, 'bin', 'kubectl-ftj'), ['report', 'flowers', '-n', namespace, '-o', saved], {
      env,
    });
    assert.match(written.stdout, /flowers\.html: drawn from the job's status/);
    const html = readFileSync(saved, 'utf8');
    assert.match(html, /data-series="validation loss" data-points="3"/);
    assert.match(html, /Test accuracy <b>81\.0%<\/b> on 200 held-out examples/);
    assert.match(html, /Drawn from the job's status by kubectl ftj report/);
  });
});
