/**
 * The script's `console`: lines are buffered in the isolate and drained once per call (takeLogs),
 * instead of one host call per console.log. The per-request budget (lines and UTF-8 bytes) is
 * enforced here, where the text is made, so a chatty script stops costing anything once it is
 * spent; the host checks the budget again when it reads the logs (sandbox-host/logs.ts).
 */
import type { PreludeLogs, PreludeOptions } from './api.js';
import { formatLine } from './format.js';
import { ArrayJoin, ErrorCtor, newList, push, StringCharCodeAt, StringCtor, StringIndexOf, StringSlice, StringSplit } from './intrinsics.js';

// null until the call prints: most calls print nothing, and an absent object costs nothing to
// allocate here or to copy out (the host reads null as no output).
let logs: PreludeLogs | null = null;
let linesLeft = 0;
let bytesLeft = 0;
let closed = false; // the request's budget is spent: drop silently
let scriptFilename = '';

/** Called once by setup: the budget before the first call (load resets it) and the script's filename. */
export function configureConsole(options: PreludeOptions): void {
  linesLeft = options.maxLogLines;
  bytesLeft = options.maxLogBytes;
  scriptFilename = options.scriptFilename;
}
/** Starts a call: what is left of the request's budget, and whether it was already spent. */
export function resetLogs(lines: number, bytes: number, truncated: boolean): void {
  logs = null;
  linesLeft = lines;
  bytesLeft = bytes;
  closed = truncated;
}
/** The call's output so far (null: nothing printed), handed over once. */
export function takeLogs(): PreludeLogs | null {
  const taken = logs;
  logs = null;
  return taken;
}
function currentLogs(): PreludeLogs {
  if (logs === null) logs = { out: newList(), err: newList(), dropped: 0 };
  return logs;
}

let fitBytes = 0;
/** Chars of `s` that fit in `limit` UTF-8 bytes; their byte count is left in fitBytes. */
function fitUtf8(s: string, limit: number): number {
  let bytes = 0;
  let i = 0;
  for (; i < s.length; i++) {
    const c = StringCharCodeAt(s, i);
    const pair = c >= 0xd800 && c < 0xdc00 && i + 1 < s.length;
    const size = c < 0x80 ? 1 : c < 0x800 ? 2 : pair ? 4 : 3;
    if (bytes + size > limit) break;
    bytes += size;
    if (pair) i++;
  }
  fitBytes = bytes;
  return i;
}

function emit(toErr: boolean, args: ArrayLike<unknown>): void {
  if (closed) return;
  const current = currentLogs();
  const list = toErr ? current.err : current.out;
  if (linesLeft > 0 && bytesLeft > 0) {
    const line = formatLine(args, bytesLeft);
    const fit = fitUtf8(line, bytesLeft);
    if (fit === line.length || fit > 0) {
      push(list, fit === line.length ? line : StringSlice(line, 0, fit));
      linesLeft -= 1;
      bytesLeft -= fitBytes;
    }
    if (fit === line.length) return;
  }
  closed = true;
  current.dropped = toErr ? 2 : 1;
}

/** The script's own frames of a stack (at most 50): never the prelude's, the host's or isolated-vm's. */
export function scriptFrames(stack: string): string {
  const lines = StringSplit(stack, '\n');
  const frames = newList<string>();
  for (let i = 0; i < lines.length && frames.length < 50; i++) {
    const line = lines[i]!;
    if (StringIndexOf(line, '    at ') !== 0 || StringIndexOf(line, `${scriptFilename}:`) === -1) continue;
    // The script's top level runs through eval (see load.ts): show its frames as a script's.
    const top = StringIndexOf(line, `    at eval (${scriptFilename}:`) === 0 && line[line.length - 1] === ')';
    push(frames, top ? `    at ${StringSlice(line, 13, line.length - 1)}` : line);
  }
  return ArrayJoin(frames, '\n');
}

export const scriptConsole: InferboxConsole = {
  log: (...args) => emit(false, args),
  info: (...args) => emit(false, args),
  debug: (...args) => emit(false, args),
  dir: (value) => emit(false, [value]),
  warn: (...args) => emit(true, args),
  error: (...args) => emit(true, args),
  trace(...args) {
    if (closed) return;
    const frames = scriptFrames(StringCtor(new ErrorCtor().stack));
    emit(true, [`Trace${args.length > 0 ? `: ${formatLine(args, bytesLeft)}` : ''}${frames === '' ? '' : `\n${frames}`}`]);
  },
  assert(condition, ...args) {
    if (!condition) emit(true, args.length > 0 ? ['Assertion failed:', ...args] : ['Assertion failed']);
  },
};
