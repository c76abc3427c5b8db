import { performance } from 'node:perf_hooks';
import { normalizeX, orient } from '../api/records.js';
import { ServeError } from '../errors.js';
import type { InvokeArgs, InvokeRequest, InvokeResult } from '../protocol/messages.js';
import type { ModelPool } from './pool.js';
import { outputsToJson, requireRecords, runRecords } from './predict.js';
import { createLogBudget, type LogBudget, type SandboxReplica } from './sandbox-host/index.js';
import type { ScriptSet } from './script-host.js';

/** Functions the DaaS flow calls itself; any other function is called directly by URL. */
const HOOKS = new Set(['init', 'preprocess_files', 'prepare', 'preprocess', 'postprocess']);

/** Collects what a script printed across the calls of one request, and its log budget. */
class RequestLog {
  readonly stdout: string[] = [];
  readonly stderr: string[] = [];
  readonly budget: LogBudget;

  constructor(limits: { maxLogLines: number; maxLogBytes: number }) {
    this.budget = createLogBudget(limits);
  }

  add(out: { stdout?: unknown; stderr?: unknown } | undefined): void {
    if (Array.isArray(out?.stdout)) this.stdout.push(...(out.stdout as string[]));
    if (Array.isArray(out?.stderr)) this.stderr.push(...(out.stderr as string[]));
  }
}

/**
 * One request through a script, in the DaaS order:
 * preprocess_files (files only) -> prepare (alias preprocess) -> model, per record -> postprocess per record.
 * `predict` in the script takes over the whole call; other functions are called as they are.
 */
export async function invokeWithScript(req: InvokeRequest, set: ScriptSet, pool: ModelPool): Promise<InvokeResult> {
  const { replica, release } = set.acquire();
  const log = new RequestLog(req.script!.limits);
  try {
    const out = await runFlow(req, set, replica, pool, log);
    return { ...out, result: toWire(out.result) };
  } catch (err) {
    // Failures outside the sandbox (a bad shape from prepare, a zip mismatch) keep what the script printed.
    if (err instanceof ServeError && err.details?.stdout === undefined) {
      throw new ServeError(err.code, err.message, { ...err.details, stdout: log.stdout, stderr: log.stderr }, { cause: err });
    }
    throw err;
  } finally {
    release();
  }
}

async function runFlow(req: InvokeRequest, set: ScriptSet, replica: SandboxReplica, pool: ModelPool, log: RequestLog): Promise<InvokeResult> {
  const timings: Record<string, number> = {};
  const call = async (fn: string, arg: unknown): Promise<unknown> => {
    const t0 = performance.now();
    try {
      const out = await replica.call(fn, [arg], log.budget);
      log.add(out);
      return out.value;
    } catch (err) {
      // Whatever the script printed before it failed belongs to this request's answer.
      if (err instanceof ServeError) {
        log.add(err.details as { stdout?: unknown; stderr?: unknown } | undefined);
        throw new ServeError(err.code, err.message, { ...err.details, stdout: log.stdout, stderr: log.stderr }, { cause: err });
      }
      throw err;
    } finally {
      timings[`${fn}Ms`] = (timings[`${fn}Ms`] ?? 0) + performance.now() - t0;
    }
  };
  const has = (fn: string) => set.functions.has(fn);

  if (req.fn !== 'predict' || has('predict')) {
    if (!has(req.fn) || (HOOKS.has(req.fn) && req.fn !== 'predict')) {
      const callable = ['predict', ...[...set.functions].filter((f) => !HOOKS.has(f) && f !== 'predict')].join(', ');
      const why = HOOKS.has(req.fn) ? `'${req.fn}' is a hook the predict flow calls, not callable by URL` : `the script defines no function '${req.fn}'`;
      throw new ServeError('FUNCTION_NOT_FOUND', `${why} (callable: ${callable})`);
    }
    const result = await call(req.fn, req.args);
    return { result, stdout: log.stdout, stderr: log.stderr, timings };
  }

  let args: InvokeArgs = req.args;
  if (args.files !== undefined && has('preprocess_files')) args = asArgs(await call('preprocess_files', args), 'preprocess_files');
  const prepare = has('prepare') ? 'prepare' : has('preprocess') ? 'preprocess' : null;
  if (prepare) args = asArgs(await call(prepare, args), prepare);
  requireRecords(args.X);
  const { records, orientation } = normalizeX(args.X);

  const lease = await pool.acquire(req.model);
  let results: Record<string, unknown>[];
  try {
    const t0 = performance.now();
    const outputs = await runRecords(lease.model, records);
    timings.inferMs = performance.now() - t0;
    const names = lease.model.outputs.filter((o) => o.dtype !== null).map((o) => o.name);
    results = outputs.map((o) => outputsToJson(lease.model, o));
    if (has('postprocess')) {
      for (let i = 0; i < results.length; i++) {
        const raw = names.map((n) => results[i]![n]);
        results[i] = toRecord(await call('postprocess', raw), names);
      }
    }
  } finally {
    lease.release();
  }
  return { result: orient(results, orientation), stdout: log.stdout, stderr: log.stderr, timings };
}

/**
 * A script's value as JSON can carry it: typed arrays as arrays, BigInt as a number (or a decimal
 * string beyond 2^53), Map as an object, Set as an array, undefined as null.
 */
export function toWire(value: unknown): unknown {
  if (value === undefined) return null;
  if (typeof value === 'bigint') return value <= BigInt(Number.MAX_SAFE_INTEGER) && value >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(value) : value.toString();
  if (value === null || typeof value !== 'object') return value;
  if (ArrayBuffer.isView(value)) return Array.from(value as unknown as ArrayLike<unknown>, toWire);
  if (Array.isArray(value)) return value.map(toWire);
  if (value instanceof Map) return Object.fromEntries([...value].map(([k, v]) => [String(k), toWire(v)]));
  if (value instanceof Set) return [...value].map(toWire);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = toWire(v);
  return out;
}

function asArgs(value: unknown, fn: string): InvokeArgs {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ServeError('SCRIPT_FAILED', `${fn}(args) must return the args object (with X), got ${Array.isArray(value) ? 'an array' : String(value)}`);
  }
  return value as InvokeArgs;
}

/** postprocess's answer as a result record: an array is zipped with the output names, an object is kept. */
function toRecord(value: unknown, names: readonly string[]): Record<string, unknown> {
  if (Array.isArray(value)) {
    if (value.length !== names.length) {
      throw new ServeError('SCRIPT_FAILED', `postprocess returned an array of ${value.length} items for ${names.length} output(s) (${names.join(', ')}); return one item per output, or an object`);
    }
    return Object.fromEntries(names.map((n, i) => [n, value[i]]));
  }
  if (value !== null && typeof value === 'object') return value as Record<string, unknown>;
  if (names.length === 1) return { [names[0]!]: value };
  throw new ServeError('SCRIPT_FAILED', `postprocess returned ${String(value)}; with ${names.length} outputs return an array (one item per output) or an object`);
}
