import { performance } from 'node:perf_hooks';
import { ServeError } from '../../errors.js';
import type { Record_ } from '../../api/records.js';
import { bindRecords, splitOutputs, type Batch } from './binding.js';
import { recordRun } from './inference-cost.js';
import { nest, toJsonValues } from '../../model/tensor.js';
import type { LoadedModel, Tensor } from '../runtimes/types.js';

/** Runs the model over records (stacked into batches where it can) and returns raw outputs per record. */
export async function runRecords(model: LoadedModel, records: readonly Record_[]): Promise<Record<string, Tensor>[]> {
  const started = performance.now();
  const batches = bindRecords(records, model.inputs, model.outputs);
  const perRecord = new Array<Record<string, Tensor>>(records.length);
  for (const batch of batches) scatter(batch, await model.run(batch.feeds), perRecord);
  recordRun(model, records.length, performance.now() - started);
  return perRecord;
}

/** runRecords without yielding to the event loop; null when the model cannot run synchronously. */
export function runRecordsSync(model: LoadedModel, records: readonly Record_[]): Record<string, Tensor>[] | null {
  const started = performance.now();
  const batches = bindRecords(records, model.inputs, model.outputs);
  const perRecord = new Array<Record<string, Tensor>>(records.length);
  for (const batch of batches) {
    const outputs = model.runSync(batch.feeds);
    if (outputs === null) return null;
    scatter(batch, outputs, perRecord);
  }
  recordRun(model, records.length, performance.now() - started);
  return perRecord;
}

function scatter(batch: Batch, outputs: Record<string, Tensor>, perRecord: Record<string, Tensor>[]): void {
  splitOutputs(batch, outputs).forEach((out, i) => {
    perRecord[batch.recordIndices[i]!] = out;
  });
}

/** A tensor as nested JSON arrays (numbers, booleans or strings). */
export function tensorToJson(tensor: Tensor): unknown {
  return nest(toJsonValues(tensor), tensor.shape);
}

/** Rows of a class-probability tensor as `{ label: probability }` maps (scikit-learn's ZipMap). */
function toClassMaps(tensor: Tensor, classes: readonly (number | string)[]): unknown {
  const values = toJsonValues(tensor);
  const width = classes.length;
  const rows = Math.floor(values.length / Math.max(1, width));
  return Array.from({ length: rows }, (_, r) => Object.fromEntries(classes.map((c, i) => [String(c), values[r * width + i]])));
}

/** One record's outputs as `{ name: nested arrays }`, in the model's output order. */
export function outputsToJson(model: LoadedModel, outputs: Readonly<Record<string, Tensor>>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const spec of model.outputs) {
    const tensor = outputs[spec.name];
    if (tensor !== undefined) out[spec.name] = spec.classes ? toClassMaps(tensor, spec.classes) : tensorToJson(tensor);
  }
  return out;
}

export function requireRecords(x: unknown): void {
  if (x === undefined) throw new ServeError('REQUEST_INVALID', 'args.X is required: a list of records [{ input: value }] or { columns, data }');
}
