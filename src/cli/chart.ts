/** A series of a chart: its symbol and points (x, y); a null y is a gap. */
export interface ChartSeries {
  label: string;
  symbol: string;
  points: [number, number | null][];
}

/**
 * A line chart in plain characters, as a terminal shows it: each series' points on a grid of
 * `width` x `height` cells scaled to the data, the y range labelled on the left, the x range
 * below, a legend last. Two series in one cell show as '#'.
 */
export function lineChart(
  series: ChartSeries[],
  options: { width?: number; height?: number; xLabel?: string } = {},
): string {
  const width = options.width ?? 50;
  const height = options.height ?? 8;
  const points = series.flatMap((s) =>
    s.points.filter((p): p is [number, number] => p[1] !== null && Number.isFinite(p[1])),
  );
  if (points.length === 0) return '  (no data)';
  const xs = points.map(([x]) => x);
  const ys = points.map(([, y]) => y);
  const [xMin, xMax, yMin, yMax] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const grid = Array.from({ length: height }, () => Array<string>(width).fill(' '));
  const column = (x: number) => (xMax === xMin ? 0 : Math.round(((x - xMin) / (xMax - xMin)) * (width - 1)));
  const row = (y: number) => (yMax === yMin ? height - 1 : Math.round(((yMax - y) / (yMax - yMin)) * (height - 1)));
  for (const s of series) {
    for (const [x, y] of s.points) {
      if (y === null || !Number.isFinite(y)) continue;
      const cell = grid[row(y)]!;
      const c = column(x);
      cell[c] = cell[c] === ' ' || cell[c] === s.symbol ? s.symbol : '#';
    }
  }
  const label = (v: number) => Number(v.toPrecision(3)).toString();
  const margin = Math.max(label(yMax).length, label(yMin).length);
  const lines = grid.map((cells, i) => {
    const axis = i === 0 ? label(yMax) : i === height - 1 ? label(yMin) : '';
    return `${axis.padStart(margin)} |${cells.join('').trimEnd()}`;
  });
  lines.push(`${' '.repeat(margin)} +${'-'.repeat(width)}`);
  const [from, to] = [String(xMin), String(xMax)];
  lines.push(
    `${' '.repeat(margin + 2)}${from}${to.padStart(width - from.length)}${options.xLabel ? ` ${options.xLabel}` : ''}`,
  );
  lines.push(`${' '.repeat(margin + 2)}${series.map((s) => `${s.symbol} ${s.label}`).join('   ')}`);
  return lines.join('\n');
}
