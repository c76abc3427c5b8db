/**
 * The HTTP exchanges captured in docs/api/*.md, as data: read, replayed and compared by
 * test/integration/docs-replay.test.ts.
 *
 * The format, as a page writes it (docs/api/README.md#how-the-examples-are-written):
 *
 * - An exchange is a ```sh block holding one `curl` command, followed (blank lines only between)
 *   by an ```http block: a status line `HTTP/1.1 201 Created`, the headers that matter, a blank
 *   line and the body, if any. A JSON value written as the string "..." stands for a value left
 *   out, and a `"...": "..."` member for the members left out of that object. The curl command may
 *   pipe into `grep -E 'pattern'`, which filters the body's lines.
 * - A ```sh block of `NAME=value` lines only sets shell variables. A value shown in an earlier
 *   answer (an `access_token`) stands for the value the replayed server answered there.
 * - `<!-- replay: skip <why> -->` just above a curl block shows it without replaying it.
 * - Any other ```sh block (how to start the server) is prose.
 *
 * Only what a page's examples need is parsed: `-X`, `-H`, `-d`/`--data`/`--data-raw`,
 * `--data-binary`, `-F`/`--form` (`name=value`, `name=@file[;type=..][;filename=..]`,
 * `name=<file`), `--form-string`, `-s`; quotes, `$VAR`, `\` line continuations and `<<'EOF'`
 * heredocs (as curl's `@-`). Anything else is an error, so the pages stay replayable.
 */
import { readFileSync } from 'node:fs';
import { STATUS_CODES } from 'node:http';
import { basename, extname, join } from 'node:path';

/** Where the pages say the server listens (`IB=...` in docs/api/README.md). */
export const DOC_BASE_URL = 'http://localhost:18125';

export interface DocAnswer {
  readonly status: number;
  readonly reason: string;
  readonly headers: ReadonlyArray<readonly [string, string]>;
  /** The body as written, without the trailing newline; '' when none is shown. */
  readonly body: string;
  /** 1-based line numbers of the ```http fence and of its closing fence. */
  readonly fenceStart: number;
  readonly fenceEnd: number;
}

export interface Exchange {
  readonly kind: 'exchange';
  readonly file: string;
  /** 1-based line of the ```sh fence. */
  readonly line: number;
  /** The nearest heading above it. */
  readonly heading: string;
  /** The shell text inside the ```sh block. */
  readonly shell: string;
  readonly answer: DocAnswer | null;
  /** Why it is shown but not replayed (`<!-- replay: skip ... -->`), else null. */
  readonly skip: string | null;
}

export interface Assignment {
  readonly kind: 'assign';
  readonly file: string;
  readonly line: number;
  readonly vars: ReadonlyArray<readonly [string, string]>;
}

export type Step = Exchange | Assignment;

interface Fence {
  readonly lang: string;
  readonly start: number;
  readonly end: number;
  readonly text: string;
}

function fencesOf(lines: readonly string[]): Fence[] {
  const fences: Fence[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)\s*$/.exec(lines[i]!);
    if (!open) continue;
    let j = i + 1;
    while (j < lines.length && lines[j] !== '```') j++;
    if (j === lines.length) throw new Error(`unclosed code fence at line ${i + 1}`);
    fences.push({ lang: open[1]!, start: i + 1, end: j + 1, text: lines.slice(i + 1, j).join('\n') });
    i = j;
  }
  return fences;
}

const ASSIGNMENT = /^([A-Za-z_][A-Za-z0-9_]*)=(\S+)\s*(#.*)?$/;

/** Parses the answer block: status line, headers, blank line, body. */
export function parseAnswer(text: string, fenceStart: number, fenceEnd: number): DocAnswer {
  const lines = text.split('\n');
  const status = /^HTTP\/1\.1 (\d{3}) (.+)$/.exec(lines[0] ?? '');
  if (!status) throw new Error(`line ${fenceStart + 1}: an answer block starts with a status line like "HTTP/1.1 200 OK"`);
  const code = Number(status[1]);
  if (STATUS_CODES[code] !== status[2]) throw new Error(`line ${fenceStart + 1}: the reason phrase of ${code} is "${STATUS_CODES[code]}", not "${status[2]}"`);
  const headers: [string, string][] = [];
  let i = 1;
  for (; i < lines.length && lines[i] !== ''; i++) {
    const header = /^([A-Za-z0-9-]+): (.*)$/.exec(lines[i]!);
    if (!header) throw new Error(`line ${fenceStart + 1 + i}: "${lines[i]}" is not a header; leave a blank line before the body`);
    headers.push([header[1]!, header[2]!]);
  }
  return { status: code, reason: status[2]!, headers, body: lines.slice(i + 1).join('\n'), fenceStart, fenceEnd };
}

/** Every exchange and assignment of a page, in order. Throws on a curl block without an answer and the like. */
export function parseDoc(text: string, file: string): Step[] {
  const lines = text.split('\n');
  const fences = fencesOf(lines);
  const steps: Step[] = [];
  const used = new Set<Fence>();
  const headingAt = (line: number): string => {
    for (let i = line - 1; i >= 0; i--) if (/^#{1,6} /.test(lines[i]!) && !fences.some((f) => f.start <= i + 1 && i + 1 <= f.end)) return lines[i]!.replace(/^#+ /, '');
    return '';
  };
  const blankBetween = (from: number, to: number) => lines.slice(from, to - 1).every((l) => l.trim() === '');
  for (let k = 0; k < fences.length; k++) {
    const fence = fences[k]!;
    if (fence.lang !== 'sh') continue;
    const body = fence.text.split('\n').filter((l) => l.trim() !== '' && !l.trim().startsWith('#'));
    if (/(^|[\s|;(])curl\s/.test(fence.text)) {
      const next = fences[k + 1];
      const answered = next !== undefined && next.lang === 'http' && blankBetween(fence.end, next.start);
      let skip: string | null = null;
      for (let i = fence.start - 2; i >= 0; i--) {
        if (lines[i]!.trim() === '') continue;
        const marker = /^<!-- replay: skip (.+?) -->$/.exec(lines[i]!.trim());
        if (marker) skip = marker[1]!;
        break;
      }
      if (!answered && skip === null) throw new Error(`${file}:${fence.start}: a curl block needs an \`\`\`http answer block right after it, or <!-- replay: skip why --> above it`);
      if (answered) used.add(next);
      steps.push({ kind: 'exchange', file, line: fence.start, heading: headingAt(fence.start), shell: fence.text, answer: answered ? parseAnswer(next.text, next.start, next.end) : null, skip });
    } else if (body.length > 0 && body.every((l) => ASSIGNMENT.test(l.trim()))) {
      steps.push({ kind: 'assign', file, line: fence.start, vars: body.map((l) => { const m = ASSIGNMENT.exec(l.trim())!; return [m[1]!, m[2]!] as const; }) });
    }
  }
  for (const fence of fences) {
    if (fence.lang === 'http' && !used.has(fence)) throw new Error(`${file}:${fence.start}: an answer block without the curl block it answers right above it`);
  }
  return steps;
}

// ---------------------------------------------------------------------------------------------
// The shell subset

interface Command {
  /** Pipeline stages, each a list of words. */
  readonly stages: string[][];
  /** The heredoc fed to the first stage's stdin, if any. */
  stdin: string | null;
}

/**
 * Splits shell text into commands of expanded words: quotes, `$VAR`/`${VAR}`, `\` newlines,
 * comments, `|` and `<<'EOF'` heredocs. `$(...)`, backticks, `;`, `&&` and redirections are refused.
 */
export function shellCommands(text: string, env: (name: string) => string): Command[] {
  const commands: Command[] = [];
  let stages: string[][] = [[]];
  let word: string | null = null;
  let pendingHeredoc: { delimiter: string; expand: boolean } | null = null;
  let stdin: string | null = null;
  const endWord = () => {
    if (word !== null) stages.at(-1)!.push(word);
    word = null;
  };
  const endCommand = () => {
    endWord();
    if (stages.length === 1 && stages[0]!.length === 0) return;
    if (stages.some((s) => s.length === 0)) throw new Error('an empty pipeline stage');
    commands.push({ stages, stdin });
    stages = [[]];
    stdin = null;
  };
  const varAt = (i: number): [string, number] => {
    if (text[i + 1] === '{') {
      const close = text.indexOf('}', i);
      return [text.slice(i + 2, close), close + 1];
    }
    if (text[i + 1] === '(') throw new Error('command substitution $(...) is not replayable; show the answer and set the variable in its own block');
    const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i + 1));
    if (!m) return ['', i];
    return [m[0], i + 1 + m[0].length];
  };
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === '\\' && text[i + 1] === '\n') {
      i += 2;
      continue;
    }
    if (c === '\n') {
      endWord();
      if (pendingHeredoc) {
        const { delimiter, expand } = pendingHeredoc;
        const rest = text.slice(i + 1);
        const end = rest.split('\n').indexOf(delimiter);
        if (end < 0) throw new Error(`heredoc ${delimiter} is not closed`);
        const bodyLines = rest.split('\n').slice(0, end);
        let heredoc = bodyLines.length > 0 ? `${bodyLines.join('\n')}\n` : '';
        if (expand) heredoc = heredoc.replace(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g, (_, name: string) => env(name));
        stdin = heredoc;
        i += 1 + bodyLines.reduce((n, l) => n + l.length + 1, 0) + delimiter.length;
        pendingHeredoc = null;
        endCommand();
        continue;
      }
      endCommand();
      i++;
      continue;
    }
    if (c === ' ' || c === '\t') {
      endWord();
      i++;
      continue;
    }
    if (c === '#' && word === null) {
      while (i < text.length && text[i] !== '\n') i++;
      continue;
    }
    if (c === '|') {
      endWord();
      stages.push([]);
      i++;
      continue;
    }
    if (c === '<' && text[i + 1] === '<' && word === null) {
      const m = /^<<-?\s*(['"]?)([A-Za-z_]+)\1/.exec(text.slice(i));
      if (!m) throw new Error('a heredoc needs a delimiter word');
      pendingHeredoc = { delimiter: m[2]!, expand: m[1] === '' };
      i += m[0].length;
      continue;
    }
    if (c === ';' || c === '&' || c === '`' || c === '>' || (c === '<' && word === null) || c === '(' || c === ')') {
      throw new Error(`shell syntax "${c}" is not replayable here`);
    }
    if (c === "'") {
      const close = text.indexOf("'", i + 1);
      if (close < 0) throw new Error('unclosed single quote');
      word = (word ?? '') + text.slice(i + 1, close);
      i = close + 1;
      continue;
    }
    if (c === '"') {
      let out = '';
      i++;
      while (i < text.length && text[i] !== '"') {
        const d = text[i]!;
        if (d === '\\' && '"\\$`\n'.includes(text[i + 1]!)) {
          if (text[i + 1] !== '\n') out += text[i + 1];
          i += 2;
        } else if (d === '$') {
          const [name, next] = varAt(i);
          if (name === '') {
            out += '$';
            i++;
          } else {
            out += env(name);
            i = next;
          }
        } else if (d === '`') {
          throw new Error('backticks are not replayable');
        } else {
          out += d;
          i++;
        }
      }
      if (i >= text.length) throw new Error('unclosed double quote');
      word = (word ?? '') + out;
      i++;
      continue;
    }
    if (c === '$') {
      const [name, next] = varAt(i);
      if (name !== '') {
        word = (word ?? '') + env(name);
        i = next;
        continue;
      }
    }
    if (c === '\\') {
      word = (word ?? '') + (text[i + 1] ?? '');
      i += 2;
      continue;
    }
    word = (word ?? '') + c;
    i++;
  }
  if (pendingHeredoc) throw new Error(`heredoc ${pendingHeredoc.delimiter} is not closed`);
  endCommand();
  return commands;
}

// ---------------------------------------------------------------------------------------------
// curl

export type FormPart =
  | { readonly kind: 'field'; readonly name: string; readonly value: string }
  | { readonly kind: 'file'; readonly name: string; readonly path: string; readonly filename: string; readonly type: string };

export interface CurlRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly body: { readonly kind: 'none' } | { readonly kind: 'data'; readonly data: string } | { readonly kind: 'form'; readonly parts: readonly FormPart[] };
  /** `| grep -E 'pattern'`: keep only the body lines that match. */
  readonly grep: RegExp | null;
  /** Repository files the request reads (checked to exist). */
  readonly files: readonly string[];
}

/** curl's guess of a part's type from the file name (lib/mime.c). */
function curlContentType(path: string): string {
  const types: Record<string, string> = {
    '.gif': 'image/gif', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.png': 'image/png', '.svg': 'image/svg+xml',
    '.txt': 'text/plain', '.htm': 'text/html', '.html': 'text/html', '.pdf': 'application/pdf', '.xml': 'application/xml',
  };
  return types[extname(path).toLowerCase()] ?? 'application/octet-stream';
}

/** The request a curl block sends, with `$VAR`s from `env` and files read from `root`. */
export function parseCurl(shell: string, env: (name: string) => string, root: string): CurlRequest {
  const commands = shellCommands(shell, env);
  if (commands.length !== 1) throw new Error(`an exchange holds exactly one command, found ${commands.length}`);
  const [command] = commands as [Command];
  const [curl, ...filters] = command.stages as [string[], ...string[][]];
  if (curl[0] !== 'curl') throw new Error(`the command must start with curl, not ${curl[0]}`);
  let grep: RegExp | null = null;
  for (const filter of filters) {
    if (filter[0] !== 'grep' || filter.length !== 3 || filter[1] !== '-E' || grep !== null) throw new Error(`only one "| grep -E 'pattern'" may follow curl, not "${filter.join(' ')}"`);
    grep = new RegExp(filter[2]!);
  }
  const files: string[] = [];
  const readRepoFile = (path: string): Buffer => {
    if (path === '-') {
      if (command.stdin === null) throw new Error('@- needs a heredoc');
      return Buffer.from(command.stdin);
    }
    files.push(path);
    return readFileSync(join(root, path));
  };
  let method: string | null = null;
  let url: string | null = null;
  const headers: [string, string][] = [];
  let data: string | null = null;
  const parts: FormPart[] = [];
  const args = curl.slice(1);
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const value = () => {
      const v = args[++i];
      if (v === undefined) throw new Error(`${arg} needs a value`);
      return v;
    };
    if (arg === '-s' || arg === '--silent' || arg === '-S' || arg === '-sS') continue;
    if (arg === '-X' || arg === '--request') method = value();
    else if (arg === '-H' || arg === '--header') {
      const h = /^([^:]+):\s*(.*)$/.exec(value());
      if (!h) throw new Error(`bad header ${args[i]}`);
      headers.push([h[1]!, h[2]!]);
    } else if (arg === '-d' || arg === '--data' || arg === '--data-raw' || arg === '--data-binary') {
      const v = value();
      let chunk = v;
      if (arg !== '--data-raw' && v.startsWith('@')) {
        chunk = readRepoFile(v.slice(1)).toString('utf8');
        // curl -d @file drops carriage returns and newlines; --data-binary keeps the bytes.
        if (arg !== '--data-binary') chunk = chunk.replace(/[\r\n]/g, '');
      }
      data = data === null ? chunk : `${data}&${chunk}`;
    } else if (arg === '-F' || arg === '--form' || arg === '--form-string') {
      const v = value();
      const eq = v.indexOf('=');
      if (eq <= 0) throw new Error(`${arg} ${v}: expected name=value`);
      const name = v.slice(0, eq);
      const rest = v.slice(eq + 1);
      if (arg === '--form-string') parts.push({ kind: 'field', name, value: rest });
      else if (rest.startsWith('@')) {
        const [path, ...params] = rest.slice(1).split(';') as [string, ...string[]];
        const options = Object.fromEntries(params.map((p) => p.split('=', 2) as [string, string]));
        readRepoFile(path);
        parts.push({ kind: 'file', name, path, filename: options.filename ?? basename(path), type: options.type ?? curlContentType(path) });
      } else if (rest.startsWith('<')) {
        parts.push({ kind: 'field', name, value: readRepoFile(rest.slice(1)).toString('utf8') });
      } else {
        if (rest.includes(';')) throw new Error(`-F ${name}=...: curl reads ";" in a -F value as an option separator; use --form-string`);
        parts.push({ kind: 'field', name, value: rest });
      }
    } else if (arg.startsWith('-')) {
      throw new Error(`curl option ${arg} is not replayable; see test/helpers/doc-exchanges.ts`);
    } else {
      if (url !== null) throw new Error(`two URLs: ${url} and ${arg}`);
      url = arg;
    }
  }
  if (url === null) throw new Error('no URL');
  if (data !== null && parts.length > 0) throw new Error('-d and -F together');
  if (data !== null && !headers.some(([k]) => k.toLowerCase() === 'content-type')) headers.push(['Content-Type', 'application/x-www-form-urlencoded']);
  const body = data !== null ? { kind: 'data' as const, data } : parts.length > 0 ? { kind: 'form' as const, parts } : { kind: 'none' as const };
  return { method: method ?? (body.kind === 'none' ? 'GET' : 'POST'), url, headers, body, grep, files };
}

/** The fetch() init of a parsed request. */
export function fetchInit(req: CurlRequest, root: string): RequestInit {
  const headers = new Headers();
  for (const [k, v] of req.headers) headers.append(k, v);
  let body: RequestInit['body'];
  if (req.body.kind === 'data') body = req.body.data;
  if (req.body.kind === 'form') {
    const form = new FormData();
    for (const part of req.body.parts) {
      if (part.kind === 'field') form.append(part.name, part.value);
      else form.append(part.name, new Blob([readFileSync(join(root, part.path))], { type: part.type }), part.filename);
    }
    body = form;
  }
  return { method: req.method, headers, ...(body !== undefined ? { body } : {}) };
}

// ---------------------------------------------------------------------------------------------
// Comparing an answer with the doc

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
const SHA256 = /^[0-9a-f]{64}$/;
export const TOKEN = /^ibx_svc_[A-Za-z0-9_-]{20,}$/;

/** Values that differ from run to run and machine to machine: only their type is compared. */
const VOLATILE_KEYS = new Set(['uptime_s', 'pid', 'backend']);
/** Whose values (all of them) are machine-dependent: `backends.tfjs` says which TF.js backend loaded; `latency_ms` are timings. */
const VOLATILE_PARENTS = new Set(['backends', 'latency_ms']);

/** The doc's placeholder for a value left out. */
export const ELIDED = '...';

export interface Comparison {
  readonly problems: string[];
  /** Doc token -> the token the server answered at the same place. */
  readonly tokens: Map<string, string>;
}

function typeOf(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
}

/** Same keys, types and array lengths recursively; stable values equal; numbers close; volatile values by their kind. */
export function compareJson(doc: unknown, real: unknown, baseUrl: string): Comparison {
  const problems: string[] = [];
  const tokens = new Map<string, string>();
  const walk = (d: unknown, r: unknown, path: string, key: string, parent: string) => {
    if (d === ELIDED) return;
    if (typeOf(d) !== typeOf(r)) {
      problems.push(`${path}: the doc shows ${typeOf(d)} ${JSON.stringify(d)?.slice(0, 80)}, the server answered ${typeOf(r)} ${JSON.stringify(r)?.slice(0, 80)}`);
      return;
    }
    if (Array.isArray(d)) {
      const ra = r as unknown[];
      if (d.length !== ra.length) problems.push(`${path}: the doc shows ${d.length} items, the server answered ${ra.length}`);
      for (let i = 0; i < Math.min(d.length, ra.length); i++) walk(d[i], ra[i], `${path}[${i}]`, key, parent);
      return;
    }
    if (d !== null && typeof d === 'object') {
      const ro = r as Record<string, unknown>;
      const dk = Object.keys(d);
      const rk = Object.keys(ro);
      // `"...": "..."` among the keys: the keys not shown are left out.
      const partial = (d as Record<string, unknown>)[ELIDED] === ELIDED;
      const missing = partial ? [] : rk.filter((k) => !dk.includes(k));
      const extra = dk.filter((k) => !rk.includes(k) && !(partial && k === ELIDED));
      if (missing.length > 0) problems.push(`${path}: the server also answered ${missing.join(', ')} (show it, or write "..." for its value)`);
      if (extra.length > 0) problems.push(`${path}: the doc shows ${extra.join(', ')}, which the server did not answer`);
      for (const k of dk) if (Object.hasOwn(ro, k)) walk((d as Record<string, unknown>)[k], ro[k], `${path}.${k}`, k, key);
      return;
    }
    if (VOLATILE_KEYS.has(key) || VOLATILE_PARENTS.has(parent)) return;
    if (typeof d === 'string') {
      const rs = r as string;
      for (const [what, re] of [['a request id', UUID], ['a time', ISO_TIME], ['a SHA-256', SHA256], ['a token', TOKEN]] as const) {
        if (re.test(d)) {
          if (!re.test(rs)) problems.push(`${path}: the doc shows ${what}, the server answered ${JSON.stringify(rs)}`);
          else if (re === TOKEN) tokens.set(d, rs);
          return;
        }
      }
      const expected = d.split(DOC_BASE_URL).join(baseUrl);
      if (expected !== rs) problems.push(`${path}: the doc shows ${JSON.stringify(d)}, the server answered ${JSON.stringify(rs.split(baseUrl).join(DOC_BASE_URL))}`);
      return;
    }
    if (typeof d === 'number') {
      const rn = r as number;
      const close = Number.isInteger(d) && Number.isInteger(rn) ? d === rn : Math.abs(d - rn) <= 1e-5 + 1e-3 * Math.abs(d);
      if (!close) problems.push(`${path}: the doc shows ${d}, the server answered ${rn}`);
      return;
    }
    if (d !== r) problems.push(`${path}: the doc shows ${JSON.stringify(d)}, the server answered ${JSON.stringify(r)}`);
  };
  walk(doc, real, '$', '', '');
  return { problems, tokens };
}

const PROM_SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$/;

/** Text bodies: Prometheus samples by series (values vary), anything else line for line. */
export function compareText(doc: string, real: string): string[] {
  const docLines = doc.split('\n');
  const realLines = real.replace(/\n$/, '').split('\n');
  if (docLines.length > 0 && docLines.every((l) => PROM_SAMPLE.test(l))) {
    const series = (lines: string[]) => lines.map((l) => PROM_SAMPLE.exec(l)?.[1] ?? `(not a sample) ${l}`).sort();
    const d = series(docLines);
    const r = series(realLines);
    const problems: string[] = [];
    for (const s of d) if (!r.includes(s)) problems.push(`the doc shows ${s}, the server answered no such series`);
    for (const s of r) if (!d.includes(s)) problems.push(`the server answered ${s}, the doc does not show it`);
    for (const l of realLines) if (PROM_SAMPLE.test(l) && Number.isNaN(Number(PROM_SAMPLE.exec(l)![2]))) problems.push(`not a number: ${l}`);
    return problems;
  }
  for (let i = 0; i < Math.max(docLines.length, realLines.length); i++) {
    if (docLines[i] !== realLines[i]) return [`line ${i + 1}: the doc shows ${JSON.stringify(docLines[i])}, the server answered ${JSON.stringify(realLines[i])}`];
  }
  return [];
}

// ---------------------------------------------------------------------------------------------
// Writing answers back (DOCS_REPLAY_UPDATE=1)

const WIDTH = 100;

/** JSON as the pages show it: indented by 2, arrays of plain values and small objects in arrays on one line when they fit. */
export function formatJson(value: unknown): string {
  const inline = (v: unknown): string | null => {
    if (v === null || typeof v !== 'object') return JSON.stringify(v);
    if (Array.isArray(v)) {
      const items = v.map(inline);
      return items.some((x) => x === null) ? null : `[${items.join(', ')}]`;
    }
    const entries = Object.entries(v).map(([k, x]) => {
      const s = inline(x);
      return s === null ? null : `${JSON.stringify(k)}: ${s}`;
    });
    return entries.some((x) => x === null) ? null : entries.length === 0 ? '{}' : `{ ${entries.join(', ')} }`;
  };
  const isPlain = (v: unknown) => v === null || typeof v !== 'object';
  /** Whether a value that fits on one line is written there. */
  const oneLine = (v: unknown, inArray: boolean): boolean => {
    if (isPlain(v)) return true;
    if (Array.isArray(v)) return inArray || v.every((x) => isPlain(x) || Array.isArray(x));
    return inArray || Object.values(v as object).every((x) => typeof x === 'number');
  };
  const block = (v: unknown, indent: string, prefix: string, inArray: boolean): string => {
    const one = inline(v);
    if (isPlain(v)) return one!;
    if (one !== null && indent.length + prefix.length + one.length <= WIDTH && oneLine(v, inArray)) return one;
    const inner = `${indent}  `;
    if (Array.isArray(v)) {
      if (v.length === 0) return '[]';
      return `[\n${v.map((x) => `${inner}${block(x, inner, '', true)}`).join(',\n')}\n${indent}]`;
    }
    const entries = Object.entries(v as object);
    if (entries.length === 0) return '{}';
    return `{\n${entries.map(([k, x]) => `${inner}${JSON.stringify(k)}: ${block(x, inner, `${JSON.stringify(k)}: `, false)}`).join(',\n')}\n${indent}}`;
  };
  return block(value, '', '', false);
}

/** The real answer with the doc's "..." kept where the doc had them. */
export function keepElisions(doc: unknown, real: unknown): unknown {
  if (doc === ELIDED) return ELIDED;
  if (Array.isArray(doc) && Array.isArray(real)) return real.map((r, i) => (i < doc.length ? keepElisions(doc[i], r) : r));
  if (doc !== null && typeof doc === 'object' && !Array.isArray(doc) && real !== null && typeof real === 'object' && !Array.isArray(real)) {
    const shown = doc as Record<string, unknown>;
    const partial = shown[ELIDED] === ELIDED;
    const entries = Object.entries(real).filter(([k]) => !partial || Object.hasOwn(shown, k));
    const kept = entries.map(([k, r]) => [k, Object.hasOwn(shown, k) ? keepElisions(shown[k], r) : r] as const);
    return Object.fromEntries(partial ? [...kept, [ELIDED, ELIDED]] : kept);
  }
  return real;
}
