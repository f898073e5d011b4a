import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { jobStatusReporter } from '../../src/trainer/report/job-status-reporter.ts';

/** An API server stand-in that answers the first `failures` status writes with 503, then accepts them. */
async function flakyApiServer(failures: number) {
  const writes: {
    ok: boolean;
    body: {
      status?: { stage?: string; outputURI?: string; stages?: { name: string }[]; history?: unknown; trials?: unknown };
    };
  }[] = [];
  const server = createServer((req, res) => {
    let text = '';
    req.on('data', (chunk: Buffer) => {
      text += chunk.toString();
    });
    req.on('end', () => {
      const ok = writes.length >= failures;
      writes.push({ ok, body: JSON.parse(text || '{}') });
      res
        .writeHead(ok ? 200 : 503, { 'content-type': 'application/json' })
        .end(ok ? text : '{"kind":"Status","code":503}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [
      { name: 'c', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true },
    ],
    users: [{ name: 'u' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return { kc, writes, close: () => server.close() };
}

describe("the trainer's status reporter", () => {
  it('retries its last write through an API server outage, so a finished job keeps its stage history', async (t) => {
    const api = await flakyApiServer(3);
    t.after(api.close);
    const warnings: string[] = [];
    const reporter = jobStatusReporter(api.kc, { namespace: 'team', name: 'flowers' }, (m) => warnings.push(m));
    const now = new Date().toISOString();
    reporter.epochEnded!({
      stage: 'head',
      epoch: 1,
      epochs: 1,
      metrics: { loss: 0.123456, val_loss: 0.5 },
      samplesPerSecond: 10,
      percent: 100,
      eta: new Date(),
    });
    reporter.stageEnded!({
      name: 'head',
      epochsRun: 1,
      bestEpoch: 1,
      monitor: 'val_loss',
      bestValue: 0.5,
      endReason: 'EpochsDone',
      startTime: now,
      endTime: now,
    });
    reporter.exported!({ path: '/out/flowers', stages: [] });
    await reporter.flush();
    // The epoch's and the stage's writes failed (the next one carries them); the last one failed once, then went through.
    assert.deepEqual(
      api.writes.map((w) => w.ok),
      [false, false, false, true],
    );
    const last = api.writes.at(-1)!.body.status!;
    assert.deepEqual([last.outputURI, last.stages!.map((s) => s.name)], ['/out/flowers', ['head']]);
    assert.deepEqual(
      last.history,
      [{ stage: 'head', epoch: [1], loss: [0.1235], valLoss: [0.5], accuracy: [null], valAccuracy: [null] }],
      'the curve, to 4 digits',
    );
    assert.equal(warnings.length, 2, 'only the superseded writes are reported as lost');
  });

  it("writes the trials to .status.trials and a trial's stage to .status.stage, not to the stage history", async (t) => {
    const api = await flakyApiServer(0);
    t.after(api.close);
    const reporter = jobStatusReporter(api.kc, { namespace: 'team', name: 'flowers' }, () => undefined);
    reporter.trialStageStarted!({
      name: 'fast/fine-tune',
      index: 1,
      total: 2,
      epochs: 4,
      learningRate: 1e-4,
      trainableBaseLayers: 9,
      unfrozen: 'all 9 base layers unfrozen (9 with weights)',
      cachedFeatures: false,
    });
    reporter.trialsUpdated!([
      {
        name: 'head-only',
        settings: 'head only',
        state: 'Done',
        epochs: 0,
        endReason: 'HeadOnly',
        valLoss: 0.612345,
        valAccuracy: 0.75,
      },
      {
        name: 'fast',
        settings: 'learningRate 0.0001',
        state: 'Done',
        epochs: 4,
        endReason: 'EarlyStopped',
        valLoss: 0.512345,
        valAccuracy: 0.8,
        selected: true,
      },
    ]);
    await reporter.flush();
    const [started, updated] = api.writes.map((w) => w.body.status!);
    assert.equal(started!.stage, 'fast/fine-tune');
    assert.deepEqual(started!.stages, [], 'a trial is not a stage of the job');
    assert.deepEqual(updated!.trials, [
      {
        name: 'head-only',
        settings: 'head only',
        state: 'Done',
        epochs: 0,
        endReason: 'HeadOnly',
        valLoss: 0.6123,
        valAccuracy: 0.75,
      },
      {
        name: 'fast',
        settings: 'learningRate 0.0001',
        state: 'Done',
        epochs: 4,
        endReason: 'EarlyStopped',
        valLoss: 0.5123,
        valAccuracy: 0.8,
        selected: true,
      },
    ]);
  });
});
