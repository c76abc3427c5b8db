import type { DeploymentView } from '../api/types.js';

/**
 * What the CLI prints: columns for people, the server's JSON for scripts (`--json`), and the upload
 * progress bar. Results go to stdout; errors, notes, what a script printed and the bar to stderr.
 */

export interface Streams {
  readonly stdout: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  readonly stderr: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
}

/** Lines to stdout (a final newline added). */
export function print(streams: Streams, text: string): void {
  streams.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

/** A line to stderr: notes for the person, kept out of what a pipe reads. */
export function note(streams: Streams, text: string): void {
  streams.stderr.write(text.endsWith('\n') ? text : `${text}\n`);
}

/** The raw answer, for `--json`: indented, one document per command. */
export function printJson(streams: Streams, value: unknown): void {
  print(streams, JSON.stringify(value ?? null, null, 2));
}

/**
 * Columns padded to their widest cell, two spaces apart, headers in capitals; the last column is
 * not padded (no trailing blanks). `indent` prefixes each line.
 */
export function table(headers: readonly string[], rows: readonly (readonly unknown[])[], indent = '', upper = true): string {
  const cells = [headers.map((h) => (upper ? h.toUpperCase() : h)), ...rows.map((row) => headers.map((_, i) => cellText(row[i])))];
  const widths = headers.map((_, i) => Math.max(...cells.map((row) => width(row[i]!))));
  return cells
    .map((row) => indent + row.map((cell, i) => (i === row.length - 1 ? cell : cell + ' '.repeat(widths[i]! - width(cell)))).join('  ').trimEnd())
    .join('\n');
}

/** `key: value` lines, keys padded to the longest. */
export function keyValues(pairs: readonly (readonly [string, unknown])[], indent = ''): string {
  const w = Math.max(0, ...pairs.map(([k]) => width(k) + 1));
  return pairs.map(([k, v]) => `${indent}${`${k}:`.padEnd(w)} ${cellText(v)}`.trimEnd()).join('\n');
}

/** A cell: strings as they are, null and undefined as "-", anything else as compact JSON. */
export function cellText(value: unknown): string {
  if (value === null || value === undefined || value === '') return '-';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

/** Display width: code points (the CLI prints no wide characters of its own). */
function width(text: string): number {
  return [...text].length;
}

/** 1578 -> "1.5 KB", 1656190 -> "1.6 MB" (powers of 1024). */
export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let value = n / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}

/** "2026-12-03T08:12:25.730Z" -> "2026-12-03 08:12:25" (UTC, as the server stores it). */
export function when(iso: string | null | undefined): string {
  if (!iso) return '-';
  return iso.replace('T', ' ').replace(/\.\d+Z$|Z$/, '');
}

/** Compact JSON, cut to `max` characters with a note of the whole length. */
export function clip(value: unknown, max = 160): string {
  const text = cellText(value);
  return width(text) <= max ? text : `${[...text].slice(0, max).join('')}… (${width(text)} characters)`;
}

/** "[1,4]" with -1 shown as "?" (a free dimension); "-" when the shape is unknown. */
export function shape(dims: readonly number[] | null | undefined): string {
  return dims ? `[${dims.map((d) => (d < 0 ? '?' : String(d))).join(', ')}]` : '-';
}

const CELL_MAX = 100;

/**
 * A call's `result` for people: a list of records as a table (one row per record, `#` its index,
 * the output names as they are) when every cell is short; anything else as JSON (`pretty`).
 */
export function result(value: unknown): string {
  if (Array.isArray(value) && value.length > 0 && value.every((r) => r !== null && typeof r === 'object' && !Array.isArray(r))) {
    const records = value as Record<string, unknown>[];
    const columns = [...new Set(records.flatMap((r) => Object.keys(r)))];
    const rows = records.map((r, i) => [String(i), ...columns.map((c) => cellText(r[c]))]);
    if (columns.length > 0 && rows.every((row) => row.every((cell) => width(cell) <= CELL_MAX))) return table(['#', ...columns], rows, '', false);
  }
  return pretty(value);
}

/** JSON, indented, but with each array of plain values, and anything that fits in 80 columns, on one line. */
export function pretty(value: unknown, indent = 0): string {
  const flat = JSON.stringify(value);
  if (flat === undefined) return 'null';
  if (value === null || typeof value !== 'object' || indent + flat.length <= 80) return flat;
  const pad = ' '.repeat(indent + 2);
  if (Array.isArray(value)) {
    if (value.every((v) => v === null || typeof v !== 'object')) return flat;
    return `[\n${value.map((v) => pad + pretty(v, indent + 2)).join(',\n')}\n${' '.repeat(indent)}]`;
  }
  const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
  if (entries.length === 0) return '{}';
  return `{\n${entries.map(([k, v]) => `${pad}${JSON.stringify(k)}: ${pretty(v, indent + 2)}`).join(',\n')}\n${' '.repeat(indent)}}`;
}

/** What a script printed, to stderr, each line tagged with its stream. */
export function scriptOutput(streams: Streams, answer: { stdout?: unknown; stderr?: unknown }): void {
  for (const name of ['stdout', 'stderr'] as const) {
    const lines = answer[name];
    if (Array.isArray(lines)) for (const line of lines) note(streams, `[script ${name}] ${String(line)}`);
  }
}

/** Uploads of at least this many bytes get a progress bar (when it is on). */
export const PROGRESS_MIN_BYTES = 4 * 2 ** 20;

/**
 * A progress bar on stderr. On a terminal it redraws one line; elsewhere (a log, a pipe) it writes
 * a line at each quarter, so the record stays short. `done()` ends the line.
 */
export function progressBar(streams: Streams, label: string): { update(sent: number, total: number): void; done(): void } {
  const tty = streams.stderr.isTTY === true;
  let lastDraw = -1;
  let lastQuarter = -1;
  let drawn = false;
  const line = (sent: number, total: number) => {
    const fraction = total > 0 ? Math.min(1, sent / total) : 1;
    const slots = 24;
    const full = Math.round(fraction * slots);
    const pct = `${Math.floor(fraction * 100)}%`.padStart(4);
    return `${label} [${'#'.repeat(full)}${'-'.repeat(slots - full)}] ${pct}  ${bytes(Math.min(sent, total))} / ${bytes(total)}`;
  };
  return {
    update(sent, total) {
      const fraction = total > 0 ? sent / total : 1;
      if (tty) {
        const permille = Math.floor(fraction * 1000);
        if (permille === lastDraw) return;
        lastDraw = permille;
        streams.stderr.write(`\r${line(sent, total)}\x1b[K`);
        drawn = true;
      } else {
        const quarter = Math.floor(fraction * 4);
        if (quarter === lastQuarter) return;
        lastQuarter = quarter;
        streams.stderr.write(`${line(sent, total)}\n`);
      }
    },
    done() {
      if (tty && drawn) streams.stderr.write('\n');
    },
  };
}

/** A deployment's preprocess block as a `key: value` row: compact JSON, and whether the version implied it. */
export function preprocessRows(d: Pick<DeploymentView, 'preprocess' | 'preprocess_inferred'>): [string, string][] {
  if (d.preprocess === null) return [['preprocess', 'none (raw 0..255 pixels at the model\'s size)']];
  return [['preprocess', `${JSON.stringify(d.preprocess)}${d.preprocess_inferred ? '  (implied by the model version)' : ''}`]];
}

/** A deployment's labels as rows: per labelled output its count and scores, then top_k; none without labels. */
const SCORE_WORDS = { softmax: 'softmaxed logits', sigmoid: 'sigmoid of logits', probabilities: 'probabilities' } as const;

export function labelRows(d: Pick<DeploymentView, 'labels'>): [string, string][] {
  if (d.labels === undefined) return [];
  const set = d.labels.scores_set !== 'auto';
  const outputs = d.labels.outputs.map((o) => `${o.output}: ${o.count} labels (${SCORE_WORDS[o.scores]}${set ? ', as set' : ''})`).join('; ');
  return [['labels', `${outputs}, top_k ${d.labels.top_k}`]];
}
