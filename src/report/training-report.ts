// A job's training report as one self-contained HTML file: inline SVG charts and CSS, no script, nothing
// fetched, so it opens anywhere. The trainer writes it beside the model (report.html); kubectl ftj report
// renders the same page from the job's status when it cannot reach the file. Imports only the API.
import type { StageHistory } from '../api/v1alpha1/index.ts';

export interface ReportStage {
  name: string;
  epochsRun: number;
  bestEpoch?: number;
  monitor?: string;
  bestValue?: number;
  endReason?: string;
}

export interface ReportEvaluation {
  examples: number;
  accuracy: number;
  macroPrecision: number;
  macroRecall: number;
  scratchAccuracy?: number;
  /** Per class, with the confusion matrix (evaluation.json); absent when rendered from a status. */
  classes?: { name: string; precision: number; recall: number; support: number }[];
  /** confusion[actual][predicted]. */
  confusion?: number[][];
}

export interface TrainingReportData {
  job: string;
  generatedAt: string;
  provenance: { baseModel: string; license?: string; dataset: string; spec: unknown };
  stages: ReportStage[];
  /** Per-epoch metrics of each stage, in stage order. */
  history: StageHistory[];
  /** The learning rate at each optimizer step of each stage, when known. */
  learningRates?: { stage: string; values: number[] }[];
  evaluation?: ReportEvaluation;
  /** What this rendering lacks, said at the top (rendered from a status: no confusion matrix). */
  notes?: string[];
}

const WIDTH = 720;
const HEIGHT = 240;
const MARGIN = { left: 56, right: 16, top: 16, bottom: 36 };
const COLORS = { train: '#1f77b4', validation: '#d62728', rate: '#2ca02c', boundary: '#888' };

const escape = (text: string) =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const pct = (share: number) => `${(share * 100).toFixed(1)}%`;

interface Series {
  name: string;
  color: string;
  /** [x, y] points; a missing y breaks nothing, it is skipped. */
  points: [number, number][];
}

/** Where each stage's epochs start on the shared x axis (stage after stage), and the boundaries to mark. */
function stageOffsets(history: StageHistory[]): { offsets: Map<string, number>; boundaries: [number, string][] } {
  const offsets = new Map<string, number>();
  const boundaries: [number, string][] = [];
  let offset = 0;
  for (const stage of history) {
    offsets.set(stage.stage, offset);
    boundaries.push([offset, stage.stage]);
    offset += Math.max(0, ...stage.epoch);
  }
  return { offsets, boundaries };
}

/** An SVG line chart: one path per series (data-points: how many points it draws), stage boundaries dashed. */
export function lineChart(
  title: string,
  series: Series[],
  boundaries: [number, string][],
  options: { logY?: boolean; markers?: [number, number, string][] } = {},
): string {
  const all = series.flatMap((s) => s.points);
  if (!all.length) return `<p class="empty">${escape(title)}: no points</p>`;
  const y = (v: number) => (options.logY ? Math.log10(v) : v);
  const xs = all.map(([x]) => x);
  const ys = all.map(([, v]) => y(v));
  const [xMin, xMax] = [Math.min(0, ...xs), Math.max(...xs)];
  let [yMin, yMax] = [Math.min(...ys), Math.max(...ys)];
  if (yMin === yMax) [yMin, yMax] = [yMin - 1, yMax + 1];
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const px = (x: number) => MARGIN.left + ((x - xMin) / (xMax - xMin || 1)) * plotW;
  const py = (v: number) => MARGIN.top + plotH - ((y(v) - yMin) / (yMax - yMin)) * plotH;
  const label = (v: number) => (options.logY ? (10 ** v).toExponential(0) : Number(v.toPrecision(3)).toString());
  const ticks = [0, 0.5, 1].map((f) => yMin + f * (yMax - yMin));
  const parts = [
    `<svg class="chart" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" aria-label="${escape(title)}">`,
    `<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotW}" height="${plotH}" fill="#fafafa" stroke="#ddd"/>`,
    ...ticks.map((t) => {
      const at = MARGIN.top + plotH - ((t - yMin) / (yMax - yMin)) * plotH;
      return `<text x="${MARGIN.left - 6}" y="${at + 4}" text-anchor="end" class="tick">${label(t)}</text>`;
    }),
    ...boundaries.map(
      ([x, name]) =>
        `<line class="boundary" x1="${px(x)}" x2="${px(x)}" y1="${MARGIN.top}" y2="${MARGIN.top + plotH}" stroke="${COLORS.boundary}" stroke-dasharray="4 3"/>` +
        `<text x="${px(x) + 4}" y="${MARGIN.top + 12}" class="stage">${escape(name)}</text>`,
    ),
    ...series.map(
      (s) =>
        `<path data-series="${escape(s.name)}" data-points="${s.points.length}" fill="none" stroke="${s.color}" stroke-width="2" d="${s.points
          .map(([x, v], i) => `${i ? 'L' : 'M'}${px(x).toFixed(1)} ${py(v).toFixed(1)}`)
          .join(' ')}"/>`,
    ),
    ...(options.markers ?? []).map(
      ([x, v, name]) =>
        `<circle class="best" cx="${px(x).toFixed(1)}" cy="${py(v).toFixed(1)}" r="4" fill="none" stroke="#000"><title>${escape(name)}</title></circle>`,
    ),
    `<text x="${MARGIN.left + plotW / 2}" y="${HEIGHT - 6}" text-anchor="middle" class="tick">epoch (stages one after another)</text>`,
    '</svg>',
    `<p class="legend">${series.map((s) => `<span style="color:${s.color}">&#9632;</span> ${escape(s.name)}`).join(' &nbsp; ')}</p>`,
  ];
  return parts.join('\n');
}

/** A series of the history on the shared axis: each stage's points shifted by its offset. */
function historySeries(
  history: StageHistory[],
  offsets: Map<string, number>,
  key: 'loss' | 'valLoss' | 'accuracy' | 'valAccuracy',
  name: string,
  color: string,
): Series {
  const points: [number, number][] = [];
  for (const stage of history)
    stage.epoch.forEach((epoch, i) => {
      const value = stage[key]?.[i];
      if (typeof value === 'number') points.push([offsets.get(stage.stage)! + epoch, value]);
    });
  return { name, color, points };
}

function learningRateChart(rates: NonNullable<TrainingReportData['learningRates']>): string {
  const boundaries: [number, string][] = [];
  const points: [number, number][] = [];
  let step = 0;
  for (const stage of rates) {
    boundaries.push([step, stage.stage]);
    stage.values.forEach((rate) => points.push([step++, rate]));
  }
  return lineChart('learning rate per step', [{ name: 'learning rate', color: COLORS.rate, points }], boundaries, {
    logY: points.every(([, v]) => v > 0),
  }).replace('epoch (stages one after another)', 'optimizer step (stages one after another)');
}

function confusionTable(evaluation: ReportEvaluation): string {
  const { classes, confusion } = evaluation;
  if (!classes || !confusion) return '';
  const cell = (count: number, row: number[], diagonal: boolean) => {
    const share = count / (row.reduce((a, b) => a + b, 0) || 1);
    const color = diagonal ? `rgba(44,160,44,${share.toFixed(2)})` : `rgba(214,39,40,${share.toFixed(2)})`;
    return `<td style="background:${color}">${count}</td>`;
  };
  return [
    '<h3>Confusion matrix (rows: true class, columns: predicted)</h3>',
    '<table class="confusion"><tr><th></th>',
    ...classes.map((c) => `<th>${escape(c.name)}</th>`),
    '</tr>',
    ...confusion.map(
      (row, i) =>
        `<tr><th>${escape(classes[i]!.name)}</th>${row.map((count, j) => cell(count, row, i === j)).join('')}</tr>`,
    ),
    '</table>',
    '<h3>Per class</h3>',
    '<table class="classes"><tr><th>class</th><th>precision</th><th>recall</th><th>support</th></tr>',
    ...classes.map(
      (c) =>
        `<tr><td>${escape(c.name)}</td><td>${pct(c.precision)}</td><td>${pct(c.recall)}</td><td>${c.support}</td></tr>`,
    ),
    '</table>',
  ].join('\n');
}

/** The report page. */
export function renderTrainingReport(data: TrainingReportData): string {
  const { offsets, boundaries } = stageOffsets(data.history);
  const best = (key: 'valLoss' | 'valAccuracy'): [number, number, string][] =>
    data.stages.flatMap((stage) => {
      const history = data.history.find((h) => h.stage === stage.name);
      const i = history?.epoch.indexOf(stage.bestEpoch ?? -1) ?? -1;
      const value = i >= 0 ? history![key]?.[i] : undefined;
      return typeof value === 'number'
        ? [[offsets.get(stage.name)! + stage.bestEpoch!, value, `${stage.name}: best epoch ${stage.bestEpoch}`]]
        : [];
    });
  /** A metric's training and validation curves over every stage, each stage's best epoch marked. */
  const curves = (metric: 'loss' | 'accuracy', training: 'loss' | 'accuracy', validation: 'valLoss' | 'valAccuracy') =>
    lineChart(
      metric,
      [
        historySeries(data.history, offsets, training, `training ${metric}`, COLORS.train),
        historySeries(data.history, offsets, validation, `validation ${metric}`, COLORS.validation),
      ],
      boundaries,
      { markers: best(validation) },
    );
  const evaluation = data.evaluation;
  const summary = evaluation
    ? `<p class="headline">Test accuracy <b>${pct(evaluation.accuracy)}</b> on ${evaluation.examples} held-out examples (macro precision ${pct(evaluation.macroPrecision)}, recall ${pct(evaluation.macroRecall)})${
        evaluation.scratchAccuracy === undefined
          ? ''
          : `; the same network from scratch: ${pct(evaluation.scratchAccuracy)} (transfer ${evaluation.accuracy >= evaluation.scratchAccuracy ? 'gained' : 'lost'} ${Math.abs((evaluation.accuracy - evaluation.scratchAccuracy) * 100).toFixed(1)} points)`
      }.</p>`
    : '<p class="headline">No test set (spec.evaluation): no test accuracy.</p>';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Training report: ${escape(data.job)}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; max-width: 780px; }
h1 { font-size: 20px; } h2 { font-size: 16px; margin-top: 28px; } h3 { font-size: 14px; }
.tick, .stage { font-size: 11px; fill: #555; } .legend { margin: 2px 0 12px; font-size: 12px; }
table { border-collapse: collapse; font-size: 12px; } td, th { border: 1px solid #ddd; padding: 3px 6px; text-align: right; }
.note { background: #fff7e0; padding: 6px 10px; } pre { background: #f4f4f4; padding: 8px; overflow: auto; font-size: 11px; }
</style></head><body>
<h1>Training report: ${escape(data.job)}</h1>
<p>Generated ${escape(data.generatedAt)}.</p>
${(data.notes ?? []).map((n) => `<p class="note">${escape(n)}</p>`).join('\n')}
${summary}
<h2>Stages</h2>
<table class="stages"><tr><th>stage</th><th>epochs</th><th>best epoch</th><th>monitor</th><th>best value</th><th>ended</th></tr>
${data.stages
  .map(
    (s) =>
      `<tr><td>${escape(s.name)}</td><td>${s.epochsRun}</td><td>${s.bestEpoch ?? '-'}</td><td>${escape(s.monitor ?? '-')}</td><td>${s.bestValue === undefined ? '-' : s.bestValue.toFixed(4)}</td><td>${escape(s.endReason ?? '-')}</td></tr>`,
  )
  .join('\n')}
</table>
<h2>Loss</h2>
${curves('loss', 'loss', 'valLoss')}
<h2>Accuracy</h2>
${curves('accuracy', 'accuracy', 'valAccuracy')}
${data.learningRates?.length ? `<h2>Learning rate</h2>\n${learningRateChart(data.learningRates)}` : ''}
<h2>Evaluation</h2>
${evaluation ? confusionTable(evaluation) || '<p>Per-class figures are in evaluation.json beside the model.</p>' : '<p>-</p>'}
<h2>Provenance</h2>
<table class="provenance">
<tr><th>base model</th><td>${escape(data.provenance.baseModel)}</td></tr>
<tr><th>license</th><td>${escape(data.provenance.license ?? '-')}</td></tr>
<tr><th>dataset</th><td>${escape(data.provenance.dataset)}</td></tr>
</table>
<h3>Spec</h3>
<pre>${escape(JSON.stringify(data.provenance.spec, null, 2))}</pre>
</body></html>
`;
}
