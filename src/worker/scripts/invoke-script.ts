import { performance } from 'node:perf_hooks';
import { ServeError } from '../../errors.js';
import { HOOK_FUNCTIONS, planFlow, PREDICT_FUNCTION } from '../../model/index.js';
import type { InvokeRequest, InvokeResult } from '../../protocol/messages.js';
import type { ModelPool } from '../models/model-pool.js';
import { PredictFlow } from './predict-flow.js';
import { createLogBudget, type CallResult, type LogBudget, type SandboxReplica } from '../sandbox-host/index.js';
import type { ScriptSet } from './script-host.js';

/** What a script printed across the calls of one request, and its log budget. */
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

  /** A failure with what the script printed before it, in its details. */
  failed(err: unknown): unknown {
    if (!(err instanceof ServeError)) return err;
    this.add(err.details as { stdout?: unknown; stderr?: unknown } | undefined);
    return new ServeError(err.code, err.message, { ...err.details, stdout: this.stdout, stderr: this.stderr }, { cause: err });
  }
}

/**
 * One request through a script. `predict`, unless the script defines its own, is the DaaS flow
 * (preprocess_files when files came -> prepare, alias preprocess -> the model, per record ->
 * postprocess per record), run in one sandbox call; other functions are called as they are.
 * Answers without a promise when the flow completes synchronously.
 */
export function invokeWithScript(req: InvokeRequest, set: ScriptSet, pool: ModelPool): InvokeResult | Promise<InvokeResult> {
  if (req.fn === PREDICT_FUNCTION && !set.functions.has(PREDICT_FUNCTION)) return predictFlow(req, set, pool);
  return callFunction(req, set);
}

function predictFlow(req: InvokeRequest, set: ScriptSet, pool: ModelPool): InvokeResult | Promise<InvokeResult> {
  const log = new RequestLog(set.ref.limits);
  const plan = planFlow(set.functions, typeof req.args !== 'string' && req.args.files !== undefined);
  const model = new PredictFlow(pool, req.model, plan.postprocess, set.ref.limits.timeoutMs);
  const started = performance.now();
  const answer = (out: CallResult): InvokeResult => {
    log.add(out);
    const flowMs = performance.now() - started;
    const timings = { scriptMs: flowMs - model.inferMs, inferMs: model.inferMs };
    // The sandbox shaped the result; as JSON text it goes on to the front unparsed.
    if (out.text !== undefined) return { result: undefined, resultJson: out.text, stdout: log.stdout, stderr: log.stderr, timings };
    return { result: out.json ? out.value : toWire(out.value), stdout: log.stdout, stderr: log.stderr, timings };
  };
  const { replica, release } = set.acquire();
  try {
    const out = replica.flow(req.args, log.budget, plan, model);
    if (out instanceof Promise) {
      return out.then(answer).catch((err: unknown) => Promise.reject(log.failed(err))).finally(release);
    }
    release();
    return answer(out);
  } catch (err) {
    release();
    throw log.failed(err);
  }
}

async function callFunction(req: InvokeRequest, set: ScriptSet): Promise<InvokeResult> {
  if (!set.functions.has(req.fn) || HOOK_FUNCTIONS.has(req.fn)) {
    const callable = [PREDICT_FUNCTION, ...[...set.functions].filter((f) => !HOOK_FUNCTIONS.has(f) && f !== PREDICT_FUNCTION)].join(', ');
    const why = HOOK_FUNCTIONS.has(req.fn) ? `'${req.fn}' is a hook the predict flow calls, not callable by URL` : `the script defines no function '${req.fn}'`;
    throw new ServeError('FUNCTION_NOT_FOUND', `${why} (callable: ${callable})`);
  }
  const { replica, release } = set.acquire();
  const log = new RequestLog(set.ref.limits);
  const started = performance.now();
  try {
    const out = await call(replica, req, log);
    return { result: toWire(out.value), stdout: log.stdout, stderr: log.stderr, timings: { [`${req.fn}Ms`]: performance.now() - started } };
  } finally {
    release();
  }
}

async function call(replica: SandboxReplica, req: InvokeRequest, log: RequestLog): Promise<CallResult> {
  try {
    const args = typeof req.args === 'string' ? (JSON.parse(req.args) as unknown) : req.args;
    const out = await replica.call(req.fn, [args], log.budget);
    log.add(out);
    return out;
  } catch (err) {
    throw log.failed(err);
  }
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
