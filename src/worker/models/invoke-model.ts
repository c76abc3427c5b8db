import { performance } from 'node:perf_hooks';
import { normalizeX, orient, type Record_ } from '../../api/records.js';
import { ServeError } from '../../errors.js';
import type { InvokeArgs, InvokeRequest, InvokeResult } from '../../protocol/messages.js';
import { defaultImageFeeds } from '../images/index.js';
import type { ModelPool } from './model-pool.js';
import { outputsToJson, requireRecords, runRecords } from './run-records.js';
import type { LoadedModel } from '../runtimes/types.js';
import type { WorkerConfig } from '../../protocol/worker-config.js';
import { PREDICT_FUNCTION } from '../../model/index.js';

export interface InvokeDeps {
  readonly pool: ModelPool;
  readonly config: WorkerConfig;
}

/** Files under an image input's name join the first record (created when X is absent). */
async function withImageFiles(args: InvokeArgs, model: LoadedModel, maxPixels: number): Promise<unknown> {
  if (args.files === undefined) return args.X;
  const feeds = await defaultImageFeeds(args.files, model.inputs, { maxPixels });
  if (args.X === undefined) return [feeds];
  if (!Array.isArray(args.X) || args.X.length === 0) throw new ServeError('REQUEST_INVALID', 'with files, X must be a list of records (the files join the first)');
  const [first, ...rest] = args.X as Record_[];
  return [{ ...first, ...feeds }, ...rest];
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
    const { records, orientation } = normalizeX(await withImageFiles(req.args, lease.model, deps.config.maxImagePixels));
    const t2 = performance.now();
    const results = await runRecords(lease.model, records, (o) => outputsToJson(lease.model, o));
    const t3 = performance.now();
    // As JSON text: one native stringify here, and the front sends it on without parsing it. The
    // frame codec would visit every value twice (its replacer here, its reviver in the front),
    // about 4 times the CPU on a big answer, in single blocks on both event loops (#14).
    const resultJson = JSON.stringify(orient(results, orientation));
    return { result: undefined, resultJson, stdout: [], stderr: [], timings: { loadMs: t1 - t0, decodeMs: t2 - t1, inferMs: t3 - t2 } };
  } finally {
    lease.release();
  }
}
