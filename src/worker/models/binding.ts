import type { Record_ } from '../../api/records.js';
import { ServeError } from '../../errors.js';
import { elementCount, formatShape, sliceBatch, toHalf, TYPED_ARRAY } from '../../model/tensor.js';
import type { DType, DTypeMap, Tensor, TensorSpec } from '../runtimes/types.js';

/**
 * Records ⇄ tensors. Each record (see api/records.ts) becomes one set of feeds, and records are
 * stacked into one batch when every input and output has a free leading dimension.
 */

interface Flat {
  readonly shape: number[];
  readonly values: ArrayLike<unknown>;
}

function inferShape(value: unknown): number[] {
  const shape: number[] = [];
  let v = value;
  while (Array.isArray(v)) {
    shape.push(v.length);
    if (v.length === 0) break;
    v = v[0];
  }
  return shape;
}

/** `path` is the index stack down to `value`, pushed and popped in place: copied only for an error. */
function flattenInto(value: unknown, shape: readonly number[], dim: number, out: unknown[], name: string, path: number[]): void {
  if (dim === shape.length) {
    if (Array.isArray(value)) throw raggedError(name, path, 'a number', `an array of ${value.length}`);
    out.push(value);
    return;
  }
  if (!Array.isArray(value) || value.length !== shape[dim]) {
    const got = Array.isArray(value) ? `${value.length} items` : JSON.stringify(value) ?? String(value);
    throw raggedError(name, path, `${shape[dim]} items`, got);
  }
  if (dim === shape.length - 1) {
    // The innermost rows hold the scalars: no call per value.
    for (let i = 0; i < value.length; i++) {
      const v: unknown = value[i];
      if (Array.isArray(v)) throw raggedError(name, [...path, i], 'a number', `an array of ${v.length}`);
      out.push(v);
    }
    return;
  }
  for (let i = 0; i < value.length; i++) {
    path.push(i);
    flattenInto(value[i], shape, dim + 1, out, name, path);
    path.pop();
  }
}

function raggedError(name: string, path: readonly number[], expected: string, got: string): ServeError {
  const at = path.map((i) => `[${i}]`).join('');
  return new ServeError('INPUT_SHAPE_MISMATCH', `input '${name}' is not rectangular at ${name}${at}: expected ${expected}, got ${got}`, { input: name });
}

function isTypedArray(v: unknown): v is Exclude<DTypeMap[DType], string[]> {
  return ArrayBuffer.isView(v) && !(v instanceof DataView);
}

/** A value in any accepted form -> its shape and flat values. */
function flatten(spec: TensorSpec, value: unknown): Flat {
  if (isTypedArray(value)) {
    // A bare typed array is flat: its shape is the input's, with at most one free dimension inferred.
    return { shape: shapeForFlat(spec, value.length), values: value };
  }
  if (value !== null && typeof value === 'object' && !Array.isArray(value) && 'data' in value && 'shape' in value) {
    const { data, shape } = value as { data: unknown; shape: unknown };
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
      throw new ServeError('INPUT_SHAPE_MISMATCH', `input '${spec.name}': shape must be an array of non-negative integers`, { input: spec.name });
    }
    const values = isTypedArray(data) ? data : Array.isArray(data) ? (data as unknown[]).flat(Infinity) : null;
    if (values === null) throw new ServeError('INPUT_DTYPE_MISMATCH', `input '${spec.name}': data must be an array or a typed array`, { input: spec.name });
    if (values.length !== elementCount(shape)) {
      throw new ServeError('INPUT_SHAPE_MISMATCH', `input '${spec.name}': ${values.length} values do not fill shape ${formatShape(shape)}`, { input: spec.name });
    }
    return { shape: [...shape], values };
  }
  const shape = inferShape(value);
  const out: unknown[] = [];
  flattenInto(value, shape, 0, out, spec.name, []);
  return { shape, values: out };
}

function shapeForFlat(spec: TensorSpec, length: number): number[] {
  const shape = [...(spec.shape ?? [length])];
  const free = shape.flatMap((d, i) => (d === -1 ? [i] : []));
  if (free.length > 0 && shape[0] === -1) shape[0] = 1;
  const rest = shape.filter((d) => d !== -1);
  const known = elementCount(rest);
  const stillFree = shape.flatMap((d, i) => (d === -1 ? [i] : []));
  if (stillFree.length > 1) {
    throw new ServeError('INPUT_SHAPE_MISMATCH', `input '${spec.name}' expects ${formatShape(spec.shape)}: a flat array needs { data, shape }`, { input: spec.name });
  }
  if (stillFree.length === 1 && known > 0 && length % known === 0) shape[stillFree[0]!] = length / known;
  return shape;
}

/** Matches a value's shape to the spec, allowing an omitted leading batch dimension of 1. */
function conformShape(spec: TensorSpec, shape: readonly number[]): number[] {
  const expected = spec.shape;
  if (expected === null) return [...shape];
  const fits = (s: readonly number[]) => s.length === expected.length && s.every((d, i) => expected[i] === -1 || expected[i] === d);
  if (fits(shape)) return [...shape];
  const withBatch = [1, ...shape];
  if ((expected[0] === -1 || expected[0] === 1) && fits(withBatch)) return withBatch;
  throw new ServeError('INPUT_SHAPE_MISMATCH', `input '${spec.name}' expects ${formatShape(expected)}, got ${formatShape(shape)}`, {
    input: spec.name,
    expected,
    got: shape,
  });
}

function dtypeError(spec: TensorSpec, index: number, value: unknown, why = ''): ServeError {
  const shown = typeof value === 'string' ? JSON.stringify(value) : String(value);
  return new ServeError('INPUT_DTYPE_MISMATCH', `input '${spec.name}' expects ${spec.dtype} values, got ${shown} at flat index ${index}${why}`, {
    input: spec.name,
    expected: spec.dtype,
  });
}

/**
 * A finite number too large for a float32 or float16 input would become Infinity in the tensor
 * (1e308 made iris answer null probabilities). NaN and Infinity themselves pass: JSON cannot send
 * them, and a script may mean them (some models read NaN as a missing value).
 */
const OVERFLOWS = ' (beyond its range: it would become Infinity)';

/** Writes flat values into `out` from `offset`, coercing to the spec's dtype. */
function writeValues(spec: TensorSpec, values: ArrayLike<unknown>, out: DTypeMap[DType], offset: number): void {
  const dtype = spec.dtype!;
  const n = values.length;
  if (dtype === 'string') {
    for (let i = 0; i < n; i++) {
      const v = values[i];
      if (typeof v !== 'string') throw dtypeError(spec, i, v);
      (out as string[])[offset + i] = v;
    }
    return;
  }
  if (dtype === 'float32' || dtype === 'float64') {
    if (isTypedArray(values) && !(values instanceof BigInt64Array || values instanceof BigUint64Array)) {
      (out as Float32Array).set(values as Float32Array, offset);
      return;
    }
    const narrow = dtype === 'float32';
    for (let i = 0; i < n; i++) {
      const v = values[i];
      const num = typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : null;
      if (num === null) throw dtypeError(spec, i, v);
      if (narrow && !Number.isFinite(Math.fround(num)) && Number.isFinite(num)) throw dtypeError(spec, i, v, OVERFLOWS);
      (out as Float32Array)[offset + i] = num;
    }
    return;
  }
  if (dtype === 'float16') {
    // A Uint16Array is taken as half floats' raw bits, as image() and tensors carry them (tensor.ts).
    if (values instanceof Uint16Array) {
      (out as Uint16Array).set(values, offset);
      return;
    }
    for (let i = 0; i < n; i++) {
      const v = values[i];
      if (typeof v !== 'number') throw dtypeError(spec, i, v);
      const half = toHalf(v);
      if ((half & 0x7fff) === 0x7c00 && Number.isFinite(v)) throw dtypeError(spec, i, v, OVERFLOWS);
      (out as Uint16Array)[offset + i] = half;
    }
    return;
  }
  if (dtype === 'bool') {
    for (let i = 0; i < n; i++) {
      const v = values[i];
      if (v === true || v === 1) (out as Uint8Array)[offset + i] = 1;
      else if (v === false || v === 0) (out as Uint8Array)[offset + i] = 0;
      else throw dtypeError(spec, i, v);
    }
    return;
  }
  if (dtype === 'int64' || dtype === 'uint64') {
    for (let i = 0; i < n; i++) {
      const v = values[i];
      let big: bigint;
      if (typeof v === 'bigint') big = v;
      else if (typeof v === 'number' && Number.isInteger(v)) big = BigInt(v);
      else if (typeof v === 'string' && /^-?\d+$/.test(v)) big = BigInt(v); // int64 outputs beyond 2^53 come back as strings
      else throw dtypeError(spec, i, v);
      (out as BigInt64Array)[offset + i] = big;
    }
    return;
  }
  // Remaining integer types: exact integers within the type's range.
  const ctor = TYPED_ARRAY[dtype];
  const probe = new ctor(1) as Int32Array;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    const num = typeof v === 'bigint' ? Number(v) : v;
    if (typeof num !== 'number' || !Number.isInteger(num)) throw dtypeError(spec, i, v);
    probe[0] = num;
    if (probe[0] !== num) throw dtypeError(spec, i, v);
    (out as Int32Array)[offset + i] = num;
  }
}

function allocate(dtype: DType, length: number): DTypeMap[DType] {
  return dtype === 'string' ? new Array<string>(length) : new TYPED_ARRAY[dtype](length);
}

/** One model run: its feeds and which records (and how many rows of each) it carries. */
export interface Batch {
  readonly feeds: Record<string, Tensor>;
  readonly recordIndices: readonly number[];
  readonly rows: readonly number[];
}

/** Input names by model signature: built once, not per request. */
const inputNames = new WeakMap<readonly TensorSpec[], ReadonlySet<string>>();

function checkNames(records: readonly Record_[], inputs: readonly TensorSpec[], firstIndex: number): void {
  let names = inputNames.get(inputs);
  if (names === undefined) inputNames.set(inputs, (names = new Set(inputs.map((i) => i.name))));
  records.forEach((record, i) => {
    const r = firstIndex + i;
    for (const key of Object.keys(record)) {
      if (!names.has(key)) {
        throw new ServeError('INPUT_UNKNOWN', `record ${r} names input '${key}', but the model's inputs are ${[...names].map((n) => `'${n}'`).join(', ')}`, { input: key });
      }
    }
    for (const spec of inputs) {
      if (record[spec.name] === undefined) {
        throw new ServeError('INPUT_MISSING', `record ${r} has no value for input '${spec.name}' (expects ${spec.dtype} ${formatShape(spec.shape)})`, { input: spec.name });
      }
    }
  });
}

/** True when records can be stacked: every input and output has a free leading dimension. */
export function canBatch(inputs: readonly TensorSpec[], outputs: readonly TensorSpec[]): boolean {
  const leadingFree = (s: TensorSpec) => s.shape !== null && s.shape.length > 0 && s.shape[0] === -1;
  return inputs.every(leadingFree) && outputs.filter((o) => o.dtype !== null).every(leadingFree);
}

/**
 * Validates every record against the inputs and groups them into runs. `firstIndex` is the first
 * record's index in the request, for messages, when `records` is a slice of it.
 */
export function bindRecords(records: readonly Record_[], inputs: readonly TensorSpec[], outputs: readonly TensorSpec[], firstIndex = 0): Batch[] {
  const unsupported = inputs.find((i) => i.dtype === null);
  if (unsupported) throw new ServeError('MODEL_UNSUPPORTED', `input '${unsupported.name}' is not a tensor (${unsupported.kind ?? 'unknown type'})`);
  if (records.length === 0) throw new ServeError('REQUEST_INVALID', 'args.X holds no records');
  checkNames(records, inputs, firstIndex);
  if (records.length === 1) return [bindOne(records[0]!, inputs)];
  const flats = records.map((record) =>
    inputs.map((spec) => {
      const flat = flatten(spec, record[spec.name]);
      return { shape: conformShape(spec, flat.shape), values: flat.values };
    }),
  );
  const batchable = records.length > 1 && canBatch(inputs, outputs);
  const groups: number[][] = [];
  for (let r = 0; r < records.length; r++) {
    const last = groups.at(-1);
    const sameTail = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => i === 0 || d === b[i]);
    if (batchable && last && flats[last[0]!]!.every((f, i) => sameTail(f.shape, flats[r]![i]!.shape))) last.push(r);
    else groups.push([r]);
  }
  return groups.map((group) => {
    const feeds: Record<string, Tensor> = {};
    inputs.forEach((spec, i) => {
      const parts = group.map((r) => flats[r]![i]!);
      const total = parts.reduce((n, p) => n + p.values.length, 0);
      const data = allocate(spec.dtype!, total);
      let offset = 0;
      for (const p of parts) {
        writeValues(spec, p.values, data, offset);
        offset += p.values.length;
      }
      const rows = parts.reduce((n, p) => n + (p.shape[0] ?? 1), 0);
      const shape = parts.length === 1 ? parts[0]!.shape : [rows, ...parts[0]!.shape.slice(1)];
      feeds[spec.name] = { dtype: spec.dtype!, shape, data } as Tensor;
    });
    const firstInput = inputs[0];
    const rows = group.map((r) => (firstInput ? (flats[r]![0]!.shape[0] ?? 1) : 1));
    return { feeds, recordIndices: group, rows };
  });
}

/** bindRecords of one record (a call's usual size), without the grouping of records into runs. */
function bindOne(record: Record_, inputs: readonly TensorSpec[]): Batch {
  // Every input's shape first, then the values: the errors come in the same order as for many records.
  const flats = inputs.map((spec) => {
    const flat = flatten(spec, record[spec.name]);
    return { shape: conformShape(spec, flat.shape), values: flat.values };
  });
  const feeds: Record<string, Tensor> = {};
  inputs.forEach((spec, i) => {
    const { shape, values } = flats[i]!;
    const data = allocate(spec.dtype!, values.length);
    writeValues(spec, values, data, 0);
    feeds[spec.name] = { dtype: spec.dtype!, shape, data } as Tensor;
  });
  return { feeds, recordIndices: [0], rows: [flats[0]?.shape[0] ?? 1] };
}

/** Splits a batch's outputs back into one set per record, in the batch's record order. */
export function splitOutputs(batch: Batch, outputs: Readonly<Record<string, Tensor>>): Record<string, Tensor>[] {
  if (batch.recordIndices.length === 1) return [{ ...outputs }];
  const total = batch.rows.reduce((a, b) => a + b, 0);
  const perRecord: Record<string, Tensor>[] = batch.rows.map(() => ({}));
  for (const [name, tensor] of Object.entries(outputs)) {
    if (tensor.shape[0] !== total) {
      throw new ServeError('INFERENCE_FAILED', `output '${name}' has ${tensor.shape[0]} rows for a batch of ${total}; send one record per request`);
    }
    let start = 0;
    batch.rows.forEach((n, i) => {
      perRecord[i]![name] = sliceBatch(tensor, start, start + n);
      start += n;
    });
  }
  return perRecord;
}
