import { performance } from 'node:perf_hooks';
import { ServeError } from '../../errors.js';
import type { Record_ } from '../../api/records.js';
import { bindRecords, splitOutputs, type Batch } from './binding.js';
import { estimateRunMs, recordRun } from './inference-cost.js';
import { nest, toJsonValues } from '../../model/tensor.js';
import type { LoadedModel, Tensor } from '../runtimes/types.js';

/**
 * A request's records run in slices of about this many milliseconds each (binding, model runs and
 * the `each` conversion), and the worker yields to its event loop between slices, so that other
 * deployments' calls on the same worker are served meanwhile (#14: one request of 493,446 records
 * once held a worker, and the calls queued behind it, for seconds).
 */
export const SLICE_MS = 10;
/** Most records in a request's first slice; the next ones are sized from what the last one took. */
const FIRST_SLICE_RECORDS = 64;
/** The first slice of a model never run yet: small, since a record may cost anything. */
const UNKNOWN_MODEL_FIRST_SLICE = 8;
/** Bounds the records bound at once, so a slice's tensors stay small whatever the timing says. */
const MAX_SLICE_RECORDS = 4096;

/**
 * The next slice's records from the last one's: as many as fit SLICE_MS at its pace, growing at most
 * 4x a step. The request's own pace, not the model's estimate (inference-cost.ts): that one is the
 * slowest recent per-record cost, which single-record calls with their fixed overhead keep high.
 */
function nextSliceRecords(records: number, ms: number): number {
  const fit = Math.floor((records * SLICE_MS) / Math.max(ms, 0.01));
  return Math.max(1, Math.min(MAX_SLICE_RECORDS, records * 4, fit));
}

/** The first slice from the model's estimate, which errs on the slow side: fine for a start. */
function firstSliceRecords(model: LoadedModel): number {
  const perRecordMs = estimateRunMs(model, 1);
  if (perRecordMs === undefined) return UNKNOWN_MODEL_FIRST_SLICE;
  return Math.max(1, Math.min(FIRST_SLICE_RECORDS, Math.floor(SLICE_MS / Math.max(perRecordMs, 0.001))));
}

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Where runRecords' time went, added up over its slices: for the stage histograms of /metrics. */
export interface StageClock {
  /** Records to tensors (validation included). */
  bindMs: number;
  /** Model runs. */
  runMs: number;
  /** Outputs split per record and converted by `each`. */
  convertMs: number;
}

/**
 * Runs the model over records (stacked into batches where it can), slice by slice with a yield to
 * the event loop between slices, and returns `each(outputs)` per record (the raw outputs by
 * default). `each` runs inside the slice that computed the record, so converting a big answer is
 * sliced too, and a slice's tensors can be collected as soon as it is done.
 */
export async function runRecords(model: LoadedModel, records: readonly Record_[]): Promise<Record<string, Tensor>[]>;
export async function runRecords<T>(model: LoadedModel, records: readonly Record_[], each: (outputs: Record<string, Tensor>) => T, clock?: StageClock): Promise<T[]>;
export async function runRecords<T>(model: LoadedModel, records: readonly Record_[], each?: (outputs: Record<string, Tensor>) => T, clock?: StageClock): Promise<T[]> {
  if (records.length === 0) bindRecords(records, model.inputs, model.outputs); // throws: no records
  const out = new Array<T>(records.length);
  const convert = each ?? ((outputs: Record<string, Tensor>) => outputs as T);
  let size = firstSliceRecords(model);
  for (let from = 0; from < records.length; ) {
    if (from > 0) await yieldToEventLoop();
    const started = performance.now();
    const to = Math.min(records.length, from + size);
    const slice = from === 0 && to === records.length ? records : records.slice(from, to);
    const batches = bindRecords(slice, model.inputs, model.outputs, from);
    let mark = performance.now();
    if (clock) clock.bindMs += mark - started;
    for (const batch of batches) {
      // Synchronous where the runtime can (every run does that first): a promise less per run.
      const outputs = model.runSync(batch.feeds) ?? (await model.run(batch.feeds));
      const ran = performance.now();
      splitOutputs(batch, outputs).forEach((o, i) => {
        out[from + batch.recordIndices[i]!] = convert(o);
      });
      if (clock) {
        const converted = performance.now();
        clock.runMs += ran - mark;
        clock.convertMs += converted - ran;
        mark = converted;
      }
    }
    const ms = performance.now() - started;
    recordRun(model, to - from, ms);
    size = nextSliceRecords(to - from, ms);
    from = to;
  }
  return out;
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
  if (x === undefined) throw new ServeError('REQUEST_INVALID', 'args.X is required: a list of records [{ input: value }], a list of rows [[...]] or { columns, data }');
}
