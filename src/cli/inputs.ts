import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { extname } from 'node:path';
import { UsageError } from './errors.js';

/** A file's text; `-` reads stdin. Unreadable: a UsageError naming the flag. */
export function readText(path: string, what: string): string {
  try {
    if (path === '-') return readFileSync(0, 'utf8');
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`${what}: cannot read ${path}: ${reason(err)}`);
  }
}

/** Checks that `path` is a readable file (or, with `folders`, a folder) before anything is sent. */
export function checkReadable(path: string, what: string, folders = false): void {
  try {
    const st = statSync(path);
    if (!st.isFile() && !(folders && st.isDirectory())) throw new UsageError(`${what}: ${path} is not a file`);
    accessSync(path, constants.R_OK);
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`${what}: cannot read ${path}: ${reason(err)}`);
  }
}

function reason(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e.code === 'ENOENT') return 'no such file';
  if (e.code === 'EACCES') return 'permission denied';
  if (e.code === 'EISDIR') return 'is a folder';
  return e.code ?? e.message;
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${what}: not JSON: ${(err as Error).message}`);
  }
}

/**
 * A `--data` value, as curl takes a body: JSON text, `@file` or `@-` (stdin). The body may be
 * `{"args": {...}}` (what the API takes) or the args object itself (`{"X": [...]}`); a list is
 * taken as `X`. Answers the args.
 */
export function dataArgs(value: string): Record<string, unknown> {
  const text = value.startsWith('@') ? readText(value.slice(1), '--data') : value;
  const body = parseJson(text, '--data');
  if (Array.isArray(body)) return { X: body };
  if (body === null || typeof body !== 'object') throw new UsageError('--data: expected a JSON object ({"args": {...}} or the args themselves, e.g. {"X": [...]}) or a list of records or rows');
  const keys = Object.keys(body);
  const inner = (body as { args?: unknown }).args;
  if (keys.length === 1 && keys[0] === 'args') {
    if (inner === null || typeof inner !== 'object' || Array.isArray(inner)) throw new UsageError('--data: "args" must be an object, e.g. {"args": {"X": [...]}}');
    return inner as Record<string, unknown>;
  }
  return body as Record<string, unknown>;
}

/** Repeated `--file field=path` flags as `{ field: path }`, each checked readable. */
export function fileFields(values: readonly string[] | undefined): Record<string, string> | undefined {
  if (values === undefined || values.length === 0) return undefined;
  const files: Record<string, string> = {};
  for (const value of values) {
    const eq = value.indexOf('=');
    if (eq <= 0 || eq === value.length - 1) throw new UsageError(`--file ${value}: expected <input>=<path>, e.g. --file Input3=digit.png`);
    const field = value.slice(0, eq);
    const path = value.slice(eq + 1);
    if (files[field] !== undefined) throw new UsageError(`--file: ${field} is given twice`);
    checkReadable(path, `--file ${field}`);
    files[field] = path;
  }
  return files;
}

/** commander's collector for a repeatable flag. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/**
 * An `--x-test`/`--y-test` value: a JSON file, a CSV file of numbers, or JSON text. A name that is
 * a file is read (`@file` too); `.csv` is parsed as CSV, anything else as JSON.
 */
export function testTable(value: string, flag: string, kind: 'x' | 'y'): unknown {
  const path = value.startsWith('@') ? value.slice(1) : value;
  let isFile = false;
  try {
    isFile = statSync(path).isFile();
  } catch {
    isFile = false;
  }
  if (isFile || value.startsWith('@')) {
    const text = readText(path, flag);
    return extname(path).toLowerCase() === '.csv' ? csvTable(text, `${flag} ${path}`, kind) : parseJson(text, `${flag} ${path}`);
  }
  try {
    return JSON.parse(value);
  } catch {
    throw new UsageError(`${flag}: ${value} is neither a readable file nor JSON text`);
  }
}

/**
 * A CSV of numbers as plain rows: `[[5.1, 3.5, 1.4, 0.2], ...]`. A first line with a cell that is
 * not a number is a header and is skipped; blank lines are skipped. For `y`, a single column
 * becomes a flat list of targets (`[0, 2, 1]`).
 */
export function csvTable(text: string, what: string, kind: 'x' | 'y'): unknown[] {
  const lines = text.split(/\r?\n/).map((line, i) => ({ line, n: i + 1 })).filter(({ line }) => line.trim() !== '');
  const rows: number[][] = [];
  lines.forEach(({ line, n }, index) => {
    const cells = line.split(',').map((c) => c.trim().replace(/^"(.*)"$/, '$1').trim());
    const numbers = cells.map((c) => (c === '' ? Number.NaN : Number(c)));
    const bad = numbers.findIndex((x) => !Number.isFinite(x));
    if (bad >= 0) {
      if (index === 0) return; // a header
      throw new UsageError(`${what}: line ${n}, column ${bad + 1}: ${JSON.stringify(cells[bad])} is not a number`);
    }
    rows.push(numbers);
  });
  if (rows.length === 0) throw new UsageError(`${what}: no rows of numbers`);
  const widths = new Set(rows.map((r) => r.length));
  if (widths.size > 1) throw new UsageError(`${what}: rows have different numbers of columns (${[...widths].join(', ')})`);
  if (kind === 'y' && rows.every((r) => r.length === 1)) return rows.map((r) => r[0]);
  return rows;
}

/** A `--preprocess` value: JSON text (`{...}`), or a file holding it (`@file` too). Must be an object. */
export function preprocessBlock(value: string, flag: string): Record<string, Record<string, unknown>> {
  const trimmed = value.trim();
  const fromFile = !trimmed.startsWith('{');
  const path = value.startsWith('@') ? value.slice(1) : value;
  const block = parseJson(fromFile ? readText(path, flag) : value, fromFile ? `${flag} ${path}` : flag);
  if (block === null || typeof block !== 'object' || Array.isArray(block)) {
    throw new UsageError(`${flag}: expected a JSON object per image input, e.g. {"input": {"scale": 0.00392156862745098}}`);
  }
  return block as Record<string, Record<string, unknown>>;
}

/**
 * A label file as the `labels` of a deploy call: a text file, one label per line (class 0 first),
 * or a `.json` file holding a list, TorchServe's index_to_name.json (`{"0": "cat"}` or
 * `{"0": ["n0", "cat"]}`), or `{"<output>": [...]}`. The server checks the count against the model.
 */
export function labelsFile(path: string, flag: string): string[] | Record<string, string[]> {
  const text = readText(path, flag).replace(/^\uFEFF/, '');
  if (extname(path).toLowerCase() !== '.json') {
    const lines = text.split(/\r?\n/).map((line) => line.trimEnd());
    while (lines.length > 0 && lines.at(-1) === '') lines.pop();
    const blank = lines.indexOf('');
    if (blank >= 0) throw new UsageError(`${flag} ${path}: line ${blank + 1} is empty (one label per line, class 0 first)`);
    if (lines.length === 0) throw new UsageError(`${flag} ${path}: no labels (one label per line, class 0 first)`);
    return lines;
  }
  const parsed = parseJson(text, `${flag} ${path}`);
  if (Array.isArray(parsed)) return parsed as string[];
  if (parsed === null || typeof parsed !== 'object') throw new UsageError(`${flag} ${path}: expected a list of labels, index_to_name.json or {"<output>": [...]}`);
  const entries = Object.entries(parsed);
  if (entries.length === 0 || !entries.every(([key]) => /^\d+$/.test(key))) return parsed as Record<string, string[]>;
  // index_to_name.json: class index -> name, or -> [id, name].
  const names: string[] = [];
  for (const [key, v] of entries) {
    const name = Array.isArray(v) ? v.at(-1) : v;
    if (typeof name !== 'string' || name === '') throw new UsageError(`${flag} ${path}: "${key}" must map to a label (a string, or [id, label])`);
    names[Number(key)] = name;
  }
  const missing = Array.from({ length: names.length }, (_, i) => i).find((i) => names[i] === undefined);
  if (missing !== undefined) throw new UsageError(`${flag} ${path}: index_to_name has no class ${missing}`);
  return names;
}
