import { performance } from 'node:perf_hooks';
import { ServeError } from '../errors.js';
import type { InvokeRequest, InvokeResult } from '../protocol/messages.js';
import { normalizeX, orient } from '../api/records.js';
import type { ModelPool } from './pool.js';
import { outputsToJson, requireRecords, runRecords } from './predict.js';

export interface InvokeDeps {
  readonly pool: ModelPool;
}

/** One request without a script: records -> tensors -> model -> nested arrays, in the request's orientation. */
export async function invokeModel(req: InvokeRequest, deps: InvokeDeps): Promise<InvokeResult> {
  if (req.fn !== 'predict') {
    throw new ServeError('FUNCTION_NOT_FOUND', `function '${req.fn}' needs a script that defines it; without a script only 'predict' exists`);
  }
  requireRecords(req.args.X);
  const { records, orientation } = normalizeX(req.args.X);
  const t0 = performance.now();
  const lease = await deps.pool.acquire(req.model);
  const t1 = performance.now();
  try {
    const outputs = await runRecords(lease.model, records);
    const t2 = performance.now();
    const result = orient(outputs.map((o) => outputsToJson(lease.model, o)), orientation);
    return { result, stdout: [], stderr: [], timings: { loadMs: t1 - t0, inferMs: t2 - t1 } };
  } finally {
    lease.release();
  }
}
