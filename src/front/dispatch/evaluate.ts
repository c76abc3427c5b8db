import { resultValueOf } from '../predict-response.js';
import type { Record_ } from '../../api/records.js';
import { ServeError } from '../../errors.js';
import type { InvokeResult, ModelRef } from '../../protocol/messages.js';
import { PREDICT_FUNCTION, type TensorSpec } from '../../model/index.js';
import type { WorkerPool } from './worker-pool.js';

/**
 * How y_test was read: class labels (`[0, 2]`, `["cat"]`, `[[0], [2]]`), one-hot rows (Keras'
 * `to_categorical` output), rows of class probabilities (scored by their argmax), or regression
 * targets.
 */
export type YTestKind = 'labels' | 'one_hot' | 'probabilities' | 'values';

/** What DaaS shows on a model page: accuracy for classifiers, R² for regressors, on x_test/y_test. */
export interface Evaluation {
  readonly metric: 'accuracy' | 'r2';
  readonly value: number;
  readonly samples: number;
  readonly yTestKind: YTestKind;
}

const first = (v: unknown): unknown => (Array.isArray(v) ? first(v[0]) : v);
const flat = (v: unknown): unknown[] => (Array.isArray(v) ? v.flatMap(flat) : [v]);
const argmax = (values: readonly number[]): number => values.indexOf(Math.max(...values));

/** A record's predicted class: a label output (integer or string) if there is one, else the argmax of the first output. */
function predictedClass(record: Record<string, unknown>, outputs: readonly TensorSpec[]): unknown {
  const label = outputs.find((o) => o.dtype !== null && !o.classes && (o.dtype === 'string' || o.dtype.startsWith('int')));
  if (label) return first(record[label.name]);
  return argmax(flat(record[outputs.find((o) => o.dtype !== null)!.name]) as number[]);
}

interface Targets {
  readonly kind: YTestKind;
  /** One target per row: a class (label, or a vector's argmax as the model's class) or a number. */
  readonly values: readonly unknown[];
}

/**
 * y_test's kind and one target per row. Rows of one value are labels (or regression targets);
 * rows of several numbers are one-hot when each is 0/1 with a single 1, else probabilities; either
 * way their argmax is the class, named by the model's class list when it has one (a ZipMap's).
 */
function targetsOf(yTest: readonly unknown[], outputs: readonly TensorSpec[], miningFunction: string | null): Targets {
  const rows = yTest.map(flat);
  const width = rows[0]?.length ?? 1;
  rows.forEach((row, i) => {
    if (row.length !== width) throw new ServeError('REQUEST_INVALID', `y_test rows must all have the same length: y_test[0] has ${width} values, y_test[${i}] has ${row.length}`, { field: 'y_test' });
  });
  if (width === 1) {
    const values = rows.map((r) => r[0]);
    const regression = miningFunction === 'regression' || (miningFunction === null && values.some((y) => typeof y === 'number' && !Number.isInteger(y)));
    return { kind: regression ? 'values' : 'labels', values };
  }
  if (width === 0) throw new ServeError('REQUEST_INVALID', 'y_test rows must hold at least one value', { field: 'y_test' });
  rows.forEach((row, i) => {
    if (!row.every((v) => typeof v === 'number')) throw new ServeError('REQUEST_INVALID', `y_test[${i}] must be a label, or a row of ${width} numbers (one-hot or probabilities) like the rows before it`, { field: 'y_test' });
  });
  if (miningFunction === 'regression') return { kind: 'values', values: rows.map((r) => r[0]) };
  const numbers = rows as number[][];
  const oneHot = numbers.every((row) => row.every((v) => v === 0 || v === 1) && row.filter((v) => v === 1).length === 1);
  const classes = outputs.find((o) => o.classes)?.classes;
  return { kind: oneHot ? 'one_hot' : 'probabilities', values: numbers.map((row) => classes?.[argmax(row)] ?? argmax(row)) };
}

export function score(results: readonly Record<string, unknown>[], yTest: readonly unknown[], outputs: readonly TensorSpec[], miningFunction: string | null): Evaluation {
  const { kind, values } = targetsOf(yTest, outputs, miningFunction);
  if (kind !== 'values') {
    const right = results.filter((r, i) => String(predictedClass(r, outputs)) === String(values[i])).length;
    return { metric: 'accuracy', value: right / results.length, samples: results.length, yTestKind: kind };
  }
  const y = values.map(Number);
  const main = outputs.find((o) => o.dtype !== null)!.name;
  const yHat = results.map((r) => Number(first(r[main])));
  const mean = y.reduce((a, b) => a + b, 0) / y.length;
  const ssRes = y.reduce((s, v, i) => s + (v - yHat[i]!) ** 2, 0);
  const ssTot = y.reduce((s, v) => s + (v - mean) ** 2, 0);
  return { metric: 'r2', value: ssTot === 0 ? (ssRes === 0 ? 1 : 0) : 1 - ssRes / ssTot, samples: y.length, yTestKind: kind };
}

/**
 * Runs x_test (as records) through the staged model on the scratch worker, so that a sample the
 * model refuses refuses the publish instead of being stored (a deployment once answered 422 to
 * the payload its own deploy call returned), and scores it against y_test when there is one.
 */
export async function evaluate(workers: WorkerPool, model: ModelRef, records: readonly Record_[], yTest: unknown, outputs: readonly TensorSpec[], miningFunction: string | null): Promise<Evaluation | null> {
  if (yTest !== undefined && (!Array.isArray(yTest) || yTest.length !== records.length)) {
    throw new ServeError('REQUEST_INVALID', `y_test must be a list with one value per x_test row (${records.length})`, { field: 'y_test' });
  }
  let out: InvokeResult;
  try {
    out = await workers.request<InvokeResult>({ t: 'invoke', model, fn: PREDICT_FUNCTION, args: { X: records } }, { worker: workers.scratchIndex });
  } catch (err) {
    if (err instanceof ServeError && (err.status === 422 || err.status === 400)) throw new ServeError('REQUEST_INVALID', `x_test does not fit the model: ${err.message}`, { field: 'x_test' });
    throw err;
  } finally {
    await workers.request({ t: 'evict', name: model.name }, { worker: workers.scratchIndex }).catch(() => undefined);
  }
  if (yTest === undefined) return null;
  const results = resultValueOf(out) as Record<string, unknown>[];
  return score(results, yTest as unknown[], outputs, miningFunction);
}
