// Train, evaluate, serve, on the local control plane: a FineTuneJob trains on the node agent, then a pod
// of the predictor image (run by the node agent as the predictor process) serves its output; the job's
// test images, sent as PNG files, get the accuracy the job reported.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { before, describe, it } from 'node:test';
import { TRANSFER_CLASSES } from '../../src/local/quickstart/fashion-base-model.ts';
import { fashionSubset, writeIdx } from '../../src/local/quickstart/fashion-mnist.ts';
import { installCRDs } from '../support/cluster.ts';
import { ROOT } from '../support/paths.ts';
import { localCluster } from './support/local-cluster.ts';
import { pngs, predictorPod } from './support/predictor-pod.ts';

describe('end to end: train, evaluate, serve', () => {
  before(installCRDs);

  it("a predictor pod serves the job's model: its test images get the job's evaluation accuracy", async (t) => {
    const { root, namespace, agent, api, spec } = await localCluster(t, { perClass: 40 });
    const test = await fashionSubset(TRANSFER_CLASSES, 10, 0, 't10k');
    writeIdx(join(root, 'test'), test);
    await api.create('served', {
      ...spec('served', [{ name: 'head', epochs: 2 }]),
      evaluation: { uri: `file://${join(root, 'test')}` },
    });
    const job = await api.waitFor(
      'served',
      (j) => j.status?.phase === 'Succeeded' || j.status?.phase === 'Failed',
      'the job to finish',
      180_000,
    );
    assert.equal(job.status!.phase, 'Succeeded', JSON.stringify(job.status?.conditions));
    const accuracy = job.status!.evaluation!.accuracy;

    const url = await predictorPod(namespace, agent, 'fashion-predictor', [
      '--model',
      job.status!.outputURI!,
      '--model-name',
      'fashion',
    ]);
    const images = await pngs(test.images, test.count);
    const response = await fetch(`${url}/v2/models/fashion/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        inputs: [
          { name: 'image', datatype: 'BYTES', shape: [test.count], data: images.map((b) => b.toString('base64')) },
        ],
        parameters: { top_k: 1 },
      }),
    });
    assert.equal(response.status, 200);
    const top = ((await response.json()) as { outputs: { name: string; data: string[] }[] }).outputs.find(
      (o) => o.name === 'top_classes',
    )!.data;
    const right = top.filter((label, i) => label === String(test.labels[i])).length;
    assert.equal(right / test.count, accuracy, 'served on its test images, the model scores what the job reported');

    // kubectl ftj predict: to that predictor (--url), and with none, the job's output run on this machine.
    const files = [0, 1, 2].map((i) => join(root, `test-${i}.png`));
    files.forEach((file, i) => writeFileSync(file, images[i]!));
    const truncated = join(root, 'truncated.png');
    writeFileSync(truncated, images[3]!.subarray(0, 40));
    const predict = (...args: string[]) =>
      promisify(execFile)(
        join(ROOT, 'bin', 'kubectl-ftj'),
        ['--kubeconfig', process.env['FTJ_TEST_KUBECONFIG']!, '-n', namespace, 'predict', 'served', ...args],
        { timeout: 120_000 },
      ).then(
        ({ stdout }) => ({ code: 0, stdout, stderr: '' }),
        (err: { code: number; stdout: string; stderr: string }) => err,
      );
    const topOf = (stdout: string, file: string) =>
      new RegExp(`^${file}\\s+(\\S+) (\\d+\\.\\d)%, \\S+ \\d+\\.\\d%$`, 'm').exec(stdout)?.[1];
    const viaServer = await predict(...files, truncated, '--url', url, '--model-name', 'fashion', '--top', '2');
    assert.equal(viaServer.code, 1, 'a file the predictor refuses makes the exit code 1');
    files.forEach((file, i) => assert.equal(topOf(viaServer.stdout, file), top[i], viaServer.stdout));
    assert.match(viaServer.stdout, new RegExp(`^${truncated}\\s+error: .*(image|decode|PNG)`, 'im'));
    // kubectl ftj report: the report.html the trainer wrote beside the model.
    const saved = join(root, 'saved-report.html');
    await promisify(execFile)(join(ROOT, 'bin', 'kubectl-ftj'), [
      ...['--kubeconfig', process.env['FTJ_TEST_KUBECONFIG']!, '-n', namespace, 'report', 'served', '-o', saved],
    ]);
    assert.equal(
      readFileSync(saved, 'utf8'),
      readFileSync(join(job.status!.outputURI!.replace(/^file:\/\//, ''), 'report.html'), 'utf8'),
    );
    const here = await predict(...files, '--top', '2');
    assert.equal(here.code, 0, here.stderr);
    files.forEach((file, i) => assert.equal(topOf(here.stdout, file), top[i], here.stdout));
  });
});
