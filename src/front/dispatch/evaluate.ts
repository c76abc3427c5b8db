import { resultValueOf } from '../predict-response.js';
import { normalizeX } from '../../api/records.js';
import { ServeError } from '../../errors.js';
import type { InvokeResult, ModelRef } from '../../protocol/messages.js';
import { PREDICT_FUNCTION, type TensorSpec } from '../../model/index.js';
import type { WorkerPool } from './worker-pool.js';

/** What DaaS shows on a model page: accuracy for classifiers, R² for regressors, on x_test/y_test. */
export interface Evaluation {
  readonly metric: 'accuracy' | 'r2';
  readonly value: number;
  readonly samples: number;
}

const first = (v: unknown): unknown => (Array.isArray(v) ? first(v[0]) : v);
const flat = (v: unknown): unknown[] => (Array.isArray(v) ? v.flatMap(flat) : [v]);

/** A record's predicted class: a label output (integer or string) if there is one, else the argmax of the first output. */
function predictedClass(record: Record<string, unknown>, outputs: readonly TensorSpec[]): unknown {
  const label = outputs.find((o) => o.dtype !== null && !o.classes && (o.dtype === 'string' || o.dtype.startsWith('int')));
  if (label) return first(record[label.name]);
  const scores = flat(record[outputs.find((o) => o.dtype !== null)!.name]) as number[];
  return scores.indexOf(Math.max(...scores));
}

export function score(results: readonly Record<string, unknown>[], yTest: readonly unknown[], outputs: readonly TensorSpec[], miningFunction: string | null): Evaluation {
  const regression = miningFunction === 'regression' || (miningFunction === null && yTest.some((y) => typeof first(y) === 'number' && !Number.isInteger(first(y))));
  if (!regression) {
    const right = results.filter((r, i) => String(predictedClass(r, outputs)) === String(first(yTest[i]))).length;
    return { metric: 'accuracy', value: right / results.length, samples: results.length };
  }
  const y = yTest.map((v) => Number(first(v)));
  const main = outputs.find((o) => o.dtype !== null)!.name;
  const yHat = results.map((r) => Number(first(r[main])));
  const mean = y.reduce((a, b) => a + b, 0) / y.length;
  const ssRes = y.reduce((s, v, i) => s + (v - yHat[i]!) ** 2, 0);
  const ssTot = y.reduce((s, v) => s + (v - mean) ** 2, 0);
  return { metric: 'r2', value: ssTot === 0 ? (ssRes === 0 ? 1 : 0) : 1 - ssRes / ssTot, samples: y.length };
}

/** Runs x_test through the staged model on the scratch worker and scores it against y_test. */
export async function evaluate(workers: WorkerPool, model: ModelRef, xTest: unknown, yTest: unknown, outputs: readonly TensorSpec[], miningFunction: string | null): Promise<Evaluation> {
  const { records } = normalizeX(xTest);
  if (!Array.isArray(yTest) || yTest.length !== records.length) {
    throw new ServeError('REQUEST_INVALID', `y_test must be a list with one value per x_test row (${records.length})`, { field: 'y_test' });
  }
  let out: InvokeResult;
  try {
    out = await workers.request<InvokeResult>({ t: 'invoke', model, fn: PREDICT_FUNCTION, args: { X: records } }, { worker: workers.scratchIndex });
  } catch (err) {
    if (err instanceof ServeError && err.status === 422) throw new ServeError('REQUEST_INVALID', `x_test does not fit the model: ${err.message}`, { field: 'x_test' });
    throw err;
  } finally {
    await workers.request({ t: 'evict', name: model.name }, { worker: workers.scratchIndex }).catch(() => undefined);
  }
  const results = resultValueOf(out) as Record<string, unknown>[];
  return score(results, yTest, outputs, miningFunction);
}
