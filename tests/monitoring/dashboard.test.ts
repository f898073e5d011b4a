// The Grafana dashboard against a real Prometheus (Debian's server): it
// scrapes the operator and a trainer pod's /metrics while a FineTuneSchedule
// runs a real (small) fine-tune on the node agent, and then every query of
// every panel is evaluated over that time, without error and with data; a predictor serving the run's
// model answers requests meanwhile.
// Grafana itself is not available here: its variables are substituted as it
// would ($namespace, $finetunejob, $__rate_interval, $__range), and the
// static scrape target's labels stand in for the chart's PodMonitor
// relabeling (finetunejob from the pod's finetune.dev/job-name label).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { CustomObjectsApi } from '@kubernetes/client-node';
import {
  API_VERSION,
  FINETUNEJOB,
  FINETUNESCHEDULE,
  type FineTuneScheduleStatus,
  GROUP,
  VERSION,
} from '../../src/api/v1alpha1/index.ts';
import { freePort } from '../../src/local/control-plane/free-port.ts';
import { NodeAgent } from '../../src/local/node-agent/node-agent.ts';
import { TRANSFER_CLASSES } from '../../src/local/quickstart/fashion-base-model.ts';
import { fashionSubset, writeIdx } from '../../src/local/quickstart/fashion-mnist.ts';
import { PredictorServer } from '../../src/predictor/predictor-server.ts';
import { runName } from '../../src/api/v1alpha1/index.ts';
import { startOperator } from '../operator/support/operator-harness.ts';
import { eventually, installCRDs, kubeConfig, testNamespace } from '../support/cluster.ts';
import { ROOT } from '../support/paths.ts';
import { pretrainedBase } from '../trainer/support/workspace.ts';

const DASHBOARD = join(ROOT, 'helm', 'finetune-operator', 'files', 'grafana-dashboard.json');

interface Dashboard {
  panels: { id: number; title: string; datasource: { uid: string }; targets: { expr: string; refId: string }[] }[];
  templating: { list: { name: string; query?: string | { query: string } }[] };
}
interface QueryResult {
  status: string;
  error?: string;
  data?: { result: { metric: Record<string, string>; values: [number, string][] }[] };
}

describe('the Grafana dashboard, with a real Prometheus', () => {
  before(installCRDs);

  it("every panel's query returns data from the operator and a trainer during a scheduled run", async (t) => {
    const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as Dashboard;
    assert.deepEqual(
      dashboard.panels.map((p) => p.id),
      dashboard.panels.map((_, i) => i + 1),
      'unique panel ids',
    );
    for (const panel of dashboard.panels)
      assert.equal(panel.datasource.uid, '${datasource}', `${panel.title}: the data source variable`);

    const namespace = await testNamespace(t, 'dashboard');
    const root = mkdtempSync(join(tmpdir(), 'ftj-dashboard-'));
    t.after(() => rmSync(root, { recursive: true, force: true }));
    writeIdx(join(root, 'data'), await fashionSubset(TRANSFER_CLASSES, 40));
    const base = await pretrainedBase();
    const [trainerPort, prometheusPort, predictorPort] = [await freePort(), await freePort(), await freePort()];
    const nodeName = `agent-${namespace}`;
    const agent = new NodeAgent({
      kubeConfig: kubeConfig(),
      kubeconfigPath: process.env['FTJ_TEST_KUBECONFIG']!,
      nodeName,
      capacity: { gpus: 1 },
      root,
      trainerMetricsPort: trainerPort,
      log: () => undefined,
    });
    await agent.start();
    t.after(() => agent.stop());

    // The schedule's first run is due 4 s after it is created (its clock is shifted; see tests/operator/schedules).
    const due = new Date(Math.ceil((Date.now() + 120_000) / 60_000) * 60_000);
    let offset = due.getTime() - 3_000 - Date.now();
    const operator = startOperator(
      t,
      namespace,
      {
        namespace,
        name: 'finetune-operator',
        identity: 'dashboard-test',
        leaseDurationSeconds: 15,
        renewDeadlineSeconds: 10,
        retryPeriodSeconds: 2,
      },
      {},
      () => new Date(Date.now() + offset),
    );
    await eventually(() => operator.address !== undefined, "the operator's metrics port");
    const run = runName('nightly', due);

    const dir = mkdtempSync(join(tmpdir(), 'ftj-prometheus-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(
      join(dir, 'prometheus.yml'),
      JSON.stringify({
        global: { scrape_interval: '1s' },
        scrape_configs: [
          { job_name: 'finetune-operator', static_configs: [{ targets: [`127.0.0.1:${operator.address!.port}`] }] },
          {
            job_name: 'finetune-trainers',
            static_configs: [
              {
                targets: [`127.0.0.1:${trainerPort}`],
                labels: { namespace, pod: `${run}-trainer-1`, finetunejob: run },
              },
            ],
          },
          {
            job_name: 'finetune-predictors',
            static_configs: [
              { targets: [`127.0.0.1:${predictorPort}`], labels: { namespace, pod: 'nightly-predictor-0' } },
            ],
          },
        ],
      }),
    );
    const prometheus = spawn(
      'prometheus',
      [
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${prometheusPort}`,
        '--log.level=warn',
      ],
      { stdio: 'ignore' },
    );
    t.after(() => {
      prometheus.kill('SIGKILL');
    });
    const api = `http://127.0.0.1:${prometheusPort}/api/v1`;
    await eventually(async () => (await fetch(`http://127.0.0.1:${prometheusPort}/-/ready`)).ok, 'Prometheus ready');
    // Prometheus applies new targets every 5 s (--scrape.discovery-reload-interval): wait for its first scrape of the operator.
    await eventually(async () => {
      const up = (await (
        await fetch(`${api}/query?query=${encodeURIComponent('up{job="finetune-operator"} == 1')}`)
      ).json()) as { data: { result: unknown[] } };
      return up.data.result.length > 0;
    }, 'Prometheus scraping the operator');
    const start = Date.now() / 1000;

    const custom = kubeConfig().makeApiClient(CustomObjectsApi);
    offset = due.getTime() - 4_000 - Date.now();
    await custom.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace,
      plural: FINETUNESCHEDULE.plural,
      body: {
        apiVersion: API_VERSION,
        kind: FINETUNESCHEDULE.kind,
        metadata: { name: 'nightly' },
        spec: {
          schedule: `${due.getUTCMinutes()} ${due.getUTCHours()} * * *`,
          timeZone: 'Etc/UTC',
          jobTemplate: {
            spec: {
              task: { type: 'ImageClassification', numClasses: 5 },
              model: { uri: `file://${base}`, outputKind: 'Classifier', input: { shape: [28, 28, 1] } },
              dataset: {
                uri: `file://${join(root, 'data')}`,
                format: 'IDX',
                idx: { images: 'images.idx.gz', labels: 'labels.idx.gz' },
              },
              stages: [
                { name: 'head', epochs: 4 },
                { name: 'fine-tune', epochs: 6, unfreeze: { policy: 'All' }, earlyStopping: { enabled: false } },
              ],
              output: { uri: `file://${join(root, 'output')}` },
              resources: { gpus: 1 },
              podTemplate: { nodeSelector: { 'kubernetes.io/hostname': nodeName } },
            },
          },
        },
      },
    });
    await eventually(
      async () => {
        const schedule = (await custom.getNamespacedCustomObject({
          group: GROUP,
          version: VERSION,
          namespace,
          plural: FINETUNESCHEDULE.plural,
          name: 'nightly',
        })) as { status?: FineTuneScheduleStatus };
        return schedule.status?.lastSuccessfulRun?.name === run;
      },
      `run ${run} succeeded`,
      180_000,
    );
    // The run's model served (the predictor pod's program, in this process), and asked for a few seconds.
    const job = (await custom.getNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace,
      plural: FINETUNEJOB.plural,
      name: run,
    })) as { status?: { outputURI?: string } };
    const predictor = new PredictorServer({
      name: 'nightly',
      location: job.status!.outputURI!,
      cacheDir: root,
      port: predictorPort,
      log: () => undefined,
    });
    await predictor.start();
    t.after(() => predictor.stop());
    const ask = (shape: number[]) =>
      fetch(`http://127.0.0.1:${predictorPort}/v2/models/nightly/infer`, {
        method: 'POST',
        body: JSON.stringify({ inputs: [{ name: 'x', datatype: 'UINT8', shape, data: Array(784).fill(0) }] }),
      });
    for (const until = Date.now() + 4_000; Date.now() < until;)
      assert.deepEqual([(await ask([1, 28, 28, 1])).status, (await ask([1, 784])).status], [200, 400]);
    await new Promise((resolve) => setTimeout(resolve, 3_000)); // the operator's last changes, scraped
    const end = Date.now() / 1000;

    // Grafana's substitutions: this namespace, every job, a rate window of a few scrapes, the whole run as the range.
    const range = `${Math.ceil(end - start) + 5}s`;
    const grafana = (expr: string) =>
      expr
        .replaceAll('$namespace', namespace)
        .replaceAll('$finetunejob', '.*')
        .replaceAll('$__rate_interval', '10s')
        .replaceAll('$__range', range);
    const failures: string[] = [];
    for (const panel of dashboard.panels) {
      for (const target of panel.targets) {
        const query = new URLSearchParams({
          query: grafana(target.expr),
          start: String(start),
          end: String(end),
          step: '1',
        });
        const answer = (await (await fetch(`${api}/query_range?${query}`)).json()) as QueryResult;
        const values =
          answer.data?.result
            .flatMap((series) => series.values.map(([, v]) => Number(v)))
            .filter((v) => !Number.isNaN(v)) ?? [];
        if (answer.status !== 'success') failures.push(`${panel.title} ${target.refId}: ${answer.error}`);
        else if (values.length === 0)
          failures.push(`${panel.title} ${target.refId}: no data for ${grafana(target.expr)}`);
      }
    }
    for (const variable of dashboard.templating.list) {
      const definition = typeof variable.query === 'object' ? variable.query.query : undefined;
      const match = definition && /^label_values\((.*), (\w+)\)$/.exec(definition);
      if (!match) continue;
      const query = new URLSearchParams({ 'match[]': grafana(match[1]!), start: String(start), end: String(end) });
      const answer = (await (await fetch(`${api}/label/${match[2]}/values?${query}`)).json()) as { data?: string[] };
      if (!answer.data?.length) failures.push(`variable ${variable.name}: no values for ${definition}`);
    }
    assert.deepEqual(failures, [], 'every panel and variable has data');

    // A schedule's run counters start at 0, so increase() counts its first run (a series born at 1 would show 0).
    const created = new URLSearchParams({
      query: `sum(increase(finetune_schedule_runs_total{namespace="${namespace}",result="created"}[${range}]))`,
      time: String(end),
    });
    const answer = (await (await fetch(`${api}/query?${created}`)).json()) as {
      data: { result: { value: [number, string] }[] };
    };
    assert.ok(Number(answer.data.result[0]?.value[1]) >= 0.9, `the run counted: ${JSON.stringify(answer.data)}`);
  });
});
