/** kubectl's age: 45s, 12m, 5h, 3d (two units below a day, as kubectl prints 5h12m for short ages). */
export function age(from: string | Date | undefined, now = new Date()): string {
  if (!from) return '<unknown>';
  const seconds = Math.floor((now.getTime() - new Date(from).getTime()) / 1000);
  if (seconds < 0) return `in ${age(now, new Date(from))}`;
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) return `${minutes}m${seconds % 60 ? `${seconds % 60}s` : ''}`;
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours}h${minutes % 60 && hours < 8 ? `${minutes % 60}m` : ''}`;
  return `${Math.floor(hours / 24)}d`;
}

/** Columns padded as kubectl prints them: upper-case headers, three spaces between columns. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('   ')
      .trimEnd();
  return [line(headers.map((h) => h.toUpperCase())), ...rows.map(line)].join('\n');
}
