import { performance } from 'node:perf_hooks';
import { normalizeX, orient, type NormalizedX, type Record_ } from '../../api/records.js';
import { ServeError } from '../../errors.js';
import type { InvokeArgs, InvokeRequest, InvokeResult } from '../../protocol/messages.js';
import { defaultImageFeeds } from '../images/index.js';
import type { ModelPool } from './model-pool.js';
import { outputsToJson, requireRecords, runRecords, type StageClock } from './run-records.js';
import { bindRecords, canBatch } from './binding.js';
import type { Batcher } from './batcher.js';
import { applyLabels } from './output-labels.js';
import type { LoadedModel } from '../runtimes/types.js';
import type { WorkerConfig } from '../../protocol/worker-config.js';
import { PREDICT_FUNCTION, type PreprocessBlock } from '../../model/index.js';

type Outputs = Parameters<typeof outputsToJson>[1];

export interface InvokeDeps {
  readonly pool: ModelPool;
  readonly config: WorkerConfig;
  readonly batcher: Batcher;
}

/** X as records; files under an image input's name join the first record (created when X is absent). */
async function recordsWithImageFiles(args: InvokeArgs, model: LoadedModel, maxPixels: number, preprocess: PreprocessBlock | undefined): Promise<NormalizedX> {
  if (args.files === undefined) return normalizeX(args.X, model.inputs);
  const feeds = await defaultImageFeeds(args.files, model.inputs, { maxPixels }, preprocess);
  if (args.X === undefined) return { records: [feeds], orientation: 'records' };
  if (!Array.isArray(args.X) || args.X.length === 0) throw new ServeError('REQUEST_INVALID', 'with files, X must be a list of records or rows (the files join the first)');
  const [first, ...rest] = normalizeX(args.X, model.inputs).records as Record_[];
  return { records: [{ ...first, ...feeds }, ...rest], orientation: 'records' };
}

/** One request without a script: records -> tensors -> model -> nested arrays, in the request's orientation. */
export async function invokeModel(req: InvokeRequest & { readonly args: InvokeArgs }, deps: InvokeDeps): Promise<InvokeResult> {
  if (req.fn !== PREDICT_FUNCTION) {
    throw new ServeError('FUNCTION_NOT_FOUND', `function '${req.fn}' needs a script that defines it; without a script only '${PREDICT_FUNCTION}' exists`);
  }
  if (req.args.files === undefined) requireRecords(req.args.X);
  const t0 = performance.now();
  // A loaded model without lru-cache's asynchronous fetch: the usual case, and a promise less.
  const lease = deps.pool.acquireLoaded(req.model) ?? (await deps.pool.acquire(req.model));
  const t1 = performance.now();
  try {
    const { records, orientation } = await recordsWithImageFiles(req.args, lease.model, deps.config.maxImagePixels, req.preprocess);
    const t2 = performance.now();
    const model = lease.model;
    const { batching } = req;
    if (batching !== undefined && records.length <= batching.maxBatchSize && canBatch(model.inputs, model.outputs)) {
      // Bound (so validated) here, per call, before it joins others: a bad call fails alone.
      const batches = bindRecords(records, model.inputs, model.outputs);
      const t3 = performance.now();
      const run = await deps.batcher.submit(batching, req.model.key, model, batches, records.length);
      const t4 = performance.now();
      const led = run.ledRows === undefined ? {} : { batchRows: run.ledRows };
      const timings = { ...loadTiming(t1 - t0), queueMs: run.queueMs, preprocessMs: t3 - t1, inferMs: run.inferMs };
      // The Open Inference Protocol's calls (tensors out) share runs with the deployment's other calls.
      if (req.tensors) return { result: { outputs: run.perRecord }, stdout: [], stderr: [], timings: { ...timings, postprocessMs: 0 }, ...led };
      const resultJson = JSON.stringify(orient(run.perRecord.map(eachOf(model, req)), orientation));
      return { result: undefined, resultJson, stdout: [], stderr: [], timings: { ...timings, postprocessMs: performance.now() - t4 }, ...led };
    }
    if (req.tensors) {
      const outputs = await runRecords(model, records);
      return { result: { outputs }, stdout: [], stderr: [], timings: { loadMs: t1 - t0, decodeMs: t2 - t1, inferMs: performance.now() - t2 } };
    }
    const each = eachOf(model, req);
    const clock: StageClock = { bindMs: 0, runMs: 0, convertMs: 0 };
    const results = await runRecords(model, records, each, clock);
    const t3 = performance.now();
    // As JSON text: one native stringify here, and the front sends it on without parsing it. The
    // frame codec would visit every value twice (its replacer here, its reviver in the front),
    // about 4 times the CPU on a big answer, in single blocks on both event loops (#14).
    const resultJson = JSON.stringify(orient(results, orientation));
    const postprocessMs = clock.convertMs + (performance.now() - t3);
    return { result: undefined, resultJson, stdout: [], stderr: [], timings: { ...loadTiming(t1 - t0), preprocessMs: t2 - t1 + clock.bindMs, inferMs: clock.runMs, postprocessMs } };
  } finally {
    lease.release();
  }
}

/** One record's outputs as the call answers them: JSON, with the deployment's labels applied. */
function eachOf(model: LoadedModel, req: InvokeRequest): (o: Outputs) => Record<string, unknown> {
  const { labels } = req;
  return labels === undefined ? (o: Outputs) => outputsToJson(model, o) : (o: Outputs) => applyLabels(outputsToJson(model, o), o, labels);
}

/** A model's load, when this call waited for one (its first in this worker): for the access log. */
function loadTiming(ms: number): { loadMs?: number } {
  return ms >= 0.5 ? { loadMs: ms } : {};
}
