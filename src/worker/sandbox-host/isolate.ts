/**
 * Builds one script isolate: the isolate (memory limit), its ONE context for life, the prelude, and
 * the user's script, plus the References the host keeps into the prelude. The script is compiled
 * here as "script.js" only to report syntax errors with its own line:column; the prelude runs it
 * (see sandbox/prelude/load.ts) so that nothing it throws is ever read by isolated-vm.
 * User code never sees a Reference, an ExternalCopy or the ivm module.
 */
import ivm from 'isolated-vm';
import { ServeError } from '../../errors.js';
import type { ScriptBridge } from './bridge.js';
import { classifyLoadFailure, classifySyntaxError, messageOf, type CallOutput } from './classify.js';
import { admitLogs, NO_LOGS, readLogs, truncationMarker, type IsolateLogs } from './logs.js';
import { loadPreludeSource } from './prelude-bundle.js';
import { createLogBudget, type SandboxOptions } from './types.js';

export const SCRIPT_FILENAME = 'script.js';
const PRELUDE_FILENAME = 'inferbox:prelude';
/** Prelude setup and log drains are our own code: generous, but bounded. */
const INTERNAL_TIMEOUT_MS = 1000;
/** How long a drain may wait for a busy isolate before the isolate is disposed anyway. */
export const DRAIN_GRACE_MS = 20;
/** More names than this in one script are not looked at for callable functions. */
const MAX_CANDIDATES = 20_000;

/** The References the host holds into the prelude (see PreludeApi in sandbox/prelude/api.ts). */
export interface PreludeRefs {
  /** `args` as JSON text when plain JSON (see plain-json.ts), else the values to copy. */
  readonly dispatch: ivm.Reference<(name: string, args: unknown[] | string, lines: number, bytes: number, truncated: boolean) => unknown>;
  /** One argument: [args, lines, bytes, truncated, files, prepare, postprocess], as JSON text when the args are plain JSON. */
  readonly flow: ivm.Reference<(call: string | unknown[]) => unknown>;
  readonly drain: ivm.Reference<() => unknown>;
}

export interface ScriptIsolate {
  readonly isolate: ivm.Isolate;
  readonly context: ivm.Context;
  readonly refs: PreludeRefs;
  readonly functions: ReadonlySet<string>;
  /** What the script's top level printed. */
  readonly loadOutput: CallOutput;
}

let preludeCache: ivm.ExternalCopy<ArrayBuffer> | undefined;

/** Compiles the prelude, reusing V8's code cache from the first isolate of this process. */
async function compilePrelude(isolate: ivm.Isolate): Promise<ivm.Script> {
  const source = loadPreludeSource();
  const cache = preludeCache === undefined ? { produceCachedData: true } : { cachedData: preludeCache };
  const script = (await isolate.compileScript(source, { filename: PRELUDE_FILENAME, ...cache })) as ivm.Script & ivm.CachedDataResult;
  if (preludeCache === undefined && script.cachedData !== undefined) preludeCache = script.cachedData;
  return script;
}

/**
 * Waits for `work`, disposing the isolate if it takes longer than `ms`. isolated-vm's own timeout
 * does not cover everything (e.g. it reads a thrown error's getters after the timeout window), so
 * anything that may run user code is raced against this.
 */
export async function bounded<T>(isolate: ivm.Isolate, work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      if (!isolate.isDisposed) isolate.dispose();
      reject(new Error('Script execution timed out.'));
    }, ms);
  });
  work.catch(() => undefined);
  try {
    return await Promise.race([work, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/** The prelude's buffered console output, or nothing if the isolate cannot answer in time. */
export async function drainLogs(isolate: ivm.Isolate, drain: PreludeRefs['drain']): Promise<IsolateLogs> {
  if (isolate.isDisposed) return NO_LOGS;
  try {
    const work = drain.apply(undefined, [], { result: { copy: true }, timeout: DRAIN_GRACE_MS });
    work.catch(() => undefined);
    const late = new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), DRAIN_GRACE_MS).unref());
    return readLogs(await Promise.race([work, late]));
  } catch {
    return NO_LOGS;
  }
}

/** Names the script might define at top level: identifiers not written after a dot. */
export function scriptIdentifiers(source: string): string[] {
  const names = new Set<string>();
  for (const match of source.matchAll(/[\p{ID_Start}$_][\p{ID_Continue}$\u200c\u200d]*/gu)) {
    let i = match.index - 1;
    while (i >= 0 && /\s/.test(source[i]!)) i--;
    if (source[i] === '.') continue;
    names.add(match[0]);
    if (names.size >= MAX_CANDIDATES) break;
  }
  return [...names];
}

export async function createScriptIsolate(options: SandboxOptions, bridge: ScriptBridge): Promise<ScriptIsolate> {
  const { limits, model } = options;
  // No onCatastrophicError on purpose: isolated-vm 5 hands it to the main thread, which is blocked
  // in applySync on the sync path, so a V8 fatal OOM deadlocks the worker instead of aborting it.
  // Without the hook the process aborts and the front replaces the worker (measured here).
  const isolate = new ivm.Isolate({ memoryLimit: limits.memoryLimitMb });
  try {
    const context = await isolate.createContext();
    const prelude = await compilePrelude(isolate);
    const setup = (await prelude.run(context, { reference: true, release: true, timeout: INTERNAL_TIMEOUT_MS })) as ivm.Reference<
      (...args: unknown[]) => unknown
    >;
    const info = { name: model.name, version: model.version, inputs: model.inputs, outputs: model.outputs };
    const preludeOptions = { maxLogLines: limits.maxLogLines, maxLogBytes: limits.maxLogBytes, scriptFilename: SCRIPT_FILENAME };
    const api = (await setup.apply(
      undefined,
      [new ivm.ExternalCopy(info).copyInto(), new ivm.ExternalCopy(preludeOptions).copyInto(), bridge.runCallback, bridge.imageCallback, bridge.inferSyncCallback, bridge.inferStartCallback, bridge.imageNowCallback, bridge.endCallback],
      { result: { reference: true }, timeout: INTERNAL_TIMEOUT_MS },
    )) as ivm.Reference<Record<string, unknown>>;
    setup.release();
    const ref = <T>(name: string) => api.get(name, { reference: true }) as Promise<ivm.Reference<T>>;
    const refs: PreludeRefs = { dispatch: await ref('dispatch'), flow: await ref('flow'), drain: await ref('drain') };
    const load = await ref<unknown>('load');
    bridge.attach(await ref('resolveHost'));
    api.release();

    // Compiled here only to report syntax errors with script.js line:column; the prelude runs it.
    try {
      (await isolate.compileScript(options.script, { filename: SCRIPT_FILENAME })).release();
    } catch (err) {
      throw classifySyntaxError(err);
    }
    const loadOutput: CallOutput = { stdout: [], stderr: [] };
    const budget = createLogBudget(limits);
    let loaded: Record<string, unknown>;
    try {
      const args = [options.script, scriptIdentifiers(options.script), budget.lines, budget.bytes];
      const work = load.apply(undefined, args, { arguments: { copy: true }, result: { copy: true }, timeout: limits.timeoutMs });
      loaded = (await bounded(isolate, work, limits.timeoutMs + DRAIN_GRACE_MS)) as Record<string, unknown>;
    } catch (err) {
      admitLogs(await drainLogs(isolate, refs.drain), budget, loadOutput, truncationMarker(limits));
      throw loadLimitFailure(err, isolate, options, loadOutput);
    }
    load.release();
    admitLogs(readLogs(loaded['logs']), budget, loadOutput, truncationMarker(limits));
    if (loaded['kind'] !== 'ok' || !Array.isArray(loaded['value'])) {
      const name = typeof loaded['name'] === 'string' ? loaded['name'] : 'Error';
      const message = typeof loaded['message'] === 'string' ? loaded['message'] : 'the script failed';
      const report = typeof loaded['report'] === 'string' ? loaded['report'] : '';
      throw classifyLoadFailure({ name, message, report }, loadOutput);
    }
    const functions = new Set((loaded['value'] as unknown[]).filter((n): n is string => typeof n === 'string'));
    return { isolate, context, refs, functions, loadOutput };
  } catch (err) {
    if (!isolate.isDisposed) isolate.dispose();
    throw err;
  }
}

/** The top level ran out of time or memory: a SCRIPT_INVALID naming which. */
function loadLimitFailure(err: unknown, isolate: ivm.Isolate, options: SandboxOptions, output: CallOutput): ServeError {
  const details = { stdout: output.stdout, stderr: output.stderr };
  if (/memory limit/i.test(messageOf(err)) || (isolate.isDisposed && !/timed out/i.test(messageOf(err)))) {
    const text = `the script's top level reached the sandbox memory limit of ${options.limits.memoryLimitMb} MB`;
    return new ServeError('SCRIPT_INVALID', text, { ...details, reason: 'SCRIPT_MEMORY_LIMIT' }, { cause: err });
  }
  if (/timed out/i.test(messageOf(err))) {
    const text = `the script's top level ran past its ${options.limits.timeoutMs} ms time limit`;
    return new ServeError('SCRIPT_INVALID', text, { ...details, reason: 'SCRIPT_TIMEOUT' }, { cause: err });
  }
  return new ServeError('INTERNAL', `the sandbox could not load the script: ${messageOf(err)}`, details, { cause: err });
}
