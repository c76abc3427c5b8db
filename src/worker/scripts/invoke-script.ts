import { performance } from 'node:perf_hooks';
import { ServeError } from '../../errors.js';
import { HOOK_FUNCTIONS, planFlow, PREDICT_FUNCTION } from '../../model/index.js';
import type { InvokeRequest, InvokeResult } from '../../protocol/messages.js';
import type { ModelPool } from '../models/model-pool.js';
import type { Batcher } from '../models/batcher.js';
import { PredictFlow } from './predict-flow.js';
import { createLogBudget, flowLabel, type CallResult, type LogBudget, type SandboxReplica } from '../sandbox-host/index.js';
import { resultJson, resultOnWire } from './result-json.js';
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
export function invokeWithScript(req: InvokeRequest, set: ScriptSet, pool: ModelPool, batcher?: Batcher): InvokeResult | Promise<InvokeResult> {
  if (req.fn === PREDICT_FUNCTION && !set.functions.has(PREDICT_FUNCTION)) return predictFlow(req, set, pool, batcher);
  return callFunction(req, set);
}

function predictFlow(req: InvokeRequest, set: ScriptSet, pool: ModelPool, batcher: Batcher | undefined): InvokeResult | Promise<InvokeResult> {
  const log = new RequestLog(set.ref.limits);
  const plan = planFlow(set.functions, typeof req.args !== 'string' && req.args.files !== undefined);
  // With one sandbox here, flows run one at a time and their model steps never meet: the batched
  // step would only cost the synchronous one (see PredictFlow.runSync).
  const batched = req.batching !== undefined && batcher !== undefined && set.ref.replicas > 1 ? { ref: req.batching, batcher } : undefined;
  const model = new PredictFlow(pool, req.model, plan.postprocess, set.ref.limits.timeoutMs, batched);
  const started = performance.now();
  const answer = (out: CallResult): InvokeResult => {
    log.add(out);
    const ended = performance.now();
    const flowMs = ended - started;
    // The script's time before the model step is its preprocessing, after it its postprocessing.
    const ran = model.startedAt > 0 && model.endedAt > 0;
    const stages: Record<string, number> = ran
      ? { queueMs: model.queueMs, preprocessMs: model.startedAt - started, inferMs: model.inferMs, postprocessMs: ended - model.endedAt }
      : { preprocessMs: flowMs, inferMs: 0 };
    const timings = { scriptMs: flowMs - model.inferMs - model.queueMs, ...stages };
    const json = wireResult(out, set.ref.limits.maxResultBytes, () => flowLabel(plan));
    return { result: undefined, resultJson: json, stdout: log.stdout, stderr: log.stderr, timings, ...(model.batchRows === undefined ? {} : { batchRows: model.batchRows }) };
  };
  const { replica, release } = set.acquire();
  let out: CallResult | Promise<CallResult>;
  try {
    out = replica.flow(req.args, log.budget, plan, model, req.deadline);
  } catch (err) {
    release();
    throw log.failed(err);
  }
  if (out instanceof Promise) {
    return out.then(answer).catch((err: unknown) => Promise.reject(log.failed(err))).finally(release);
  }
  release();
  try {
    return answer(out);
  } catch (err) {
    throw log.failed(err);
  }
}

/**
 * The result as the JSON the front writes as it is: the sandbox's own text (its size checked by the
 * sandbox), or the value serialized here, once, within `maxResultBytes`.
 */
function wireResult(out: CallResult, maxResultBytes: number, what: () => string): string | Uint8Array {
  return out.text !== undefined ? resultOnWire(out.text) : resultJson(out.value, maxResultBytes, what());
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
  let out: CallResult;
  try {
    out = await call(replica, req, log);
  } finally {
    release();
  }
  const timings = { [`${req.fn}Ms`]: performance.now() - started };
  try {
    return { result: undefined, resultJson: wireResult(out, set.ref.limits.maxResultBytes, () => `${req.fn}()`), stdout: log.stdout, stderr: log.stderr, timings };
  } catch (err) {
    throw log.failed(err);
  }
}

async function call(replica: SandboxReplica, req: InvokeRequest, log: RequestLog): Promise<CallResult> {
  try {
    const args = typeof req.args === 'string' ? (JSON.parse(req.args) as unknown) : req.args;
    const out = await replica.call(req.fn, [args], log.budget, req.deadline);
    log.add(out);
    return out;
  } catch (err) {
    throw log.failed(err);
  }
}
