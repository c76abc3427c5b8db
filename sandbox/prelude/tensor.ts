/**
 * The script's tensor helpers: argmax, softmax, topk, reshape, tensor (see script-api.d.ts).
 * They take what model.run answers ({ data, shape }), nested arrays or typed arrays, and work per
 * row (the last dimension). Values are the script's own and so is the call: where a helper uses
 * a method of the script's array (`.map`, `.slice`) a patched prototype breaks only that call;
 * anything the helpers return leaves the isolate through copy-out.ts like any other result.
 */
import {
  ArrayIsArray, ArrayJoin, ArraySort, ArrayBufferIsView, isObjectLike, isTypedArray, MathExp, NumberCtor, NumberIsInteger,
  push, RangeErrorCtor, StringCtor, TypedArraySubarray, TypedArrayTag, TypeErrorCtor,
} from './intrinsics.js';

type Numbers = ArrayLike<number>;
const isRows = (v: unknown): v is unknown[] => ArrayIsArray(v) && v.length > 0 && (ArrayIsArray(v[0]) || isTypedArray(v[0]));
const isTensorObject = (v: unknown): v is InferboxTensor =>
  isObjectLike(v) && !ArrayIsArray(v) && !ArrayBufferIsView(v) && ArrayIsArray((v as InferboxTensor).shape);
function flatten(v: unknown, into: unknown[]): unknown[] {
  if (isTypedArray(v)) for (let i = 0; i < v.length; i++) push(into, v[i]);
  else if (ArrayIsArray(v)) for (let i = 0; i < v.length; i++) flatten(v[i], into);
  else push(into, v);
  return into;
}
function tensorRows(t: InferboxTensor): Numbers[] {
  const data = t.data as Numbers;
  const width = t.shape.length === 0 ? data.length : NumberCtor(t.shape[t.shape.length - 1]);
  const rows: Numbers[] = [];
  for (let start = 0; start < data.length || rows.length === 0; start += width || 1) {
    rows[rows.length] = isTypedArray(data) ? TypedArraySubarray(data, start, start + width) : (data as number[]).slice(start, start + width);
    if (width === 0) break;
  }
  return rows;
}
/** Applies a per-row function; one row gives its result alone unless keepNesting. */
function overRows<R>(v: unknown, fn: (row: Numbers) => R, who: string, keepNesting: boolean): R | R[] {
  if (isTensorObject(v)) {
    const rows = tensorRows(v);
    return rows.length === 1 && !keepNesting ? fn(rows[0]!) : rows.map(fn);
  }
  if (isRows(v)) {
    if (v.length === 1 && !keepNesting) return overRows(v[0], fn, who, keepNesting);
    return v.map((row) => overRows(row, fn, who, keepNesting)) as R[];
  }
  if (isTypedArray(v) || ArrayIsArray(v)) return fn(v as Numbers);
  throw new TypeErrorCtor(`${who}(): expected an array, a typed array or { data, shape }`);
}
function argmaxRow(row: Numbers): number {
  if (row.length === 0) throw new RangeErrorCtor('argmax(): the array is empty');
  let best = 0;
  let bestValue = NumberCtor(row[0]);
  for (let i = 1; i < row.length; i++) {
    const x = NumberCtor(row[i]);
    if (x > bestValue || (bestValue !== bestValue && x === x)) { best = i; bestValue = x; }
  }
  return best;
}
/** Keeps a Float32Array a Float32Array (and any other typed array becomes Float64Array). */
function softmaxRow(row: Numbers): Numbers {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) if (NumberCtor(row[i]) > max) max = NumberCtor(row[i]);
  const tag = isTypedArray(row) ? TypedArrayTag(row) : undefined;
  const out: number[] | Float32Array | Float64Array =
    tag === undefined ? new Array<number>(row.length) : tag === 'Float32Array' ? new Float32Array(row.length) : new Float64Array(row.length);
  let sum = 0;
  for (let i = 0; i < row.length; i++) {
    const e = MathExp(NumberCtor(row[i]) - max);
    out[i] = e;
    sum += e;
  }
  for (let i = 0; i < row.length; i++) out[i] = out[i]! / sum;
  return out;
}
/** The k largest, highest first; NaN ranks last and ties keep index order (a stable answer). */
function topkRow(row: Numbers, k: number): { index: number; value: number }[] {
  const order: number[] = [];
  for (let i = 0; i < row.length; i++) order[i] = i;
  const value = (i: number) => { const x = NumberCtor(row[i]); return x === x ? x : -Infinity; };
  ArraySort(order, ((a: number, b: number) => value(b) - value(a) || a - b) as (a: never, b: never) => number);
  const out: { index: number; value: number }[] = [];
  for (let i = 0; i < k && i < order.length; i++) out[i] = { index: order[i]!, value: NumberCtor(row[order[i]!]) };
  return out;
}
/** `shape` as dimensions for `size` values; one -1 stands for whatever fits, as in NumPy. */
function resolveShape(shape: unknown, size: number, who: string): number[] {
  if (!ArrayIsArray(shape)) throw new TypeErrorCtor(`${who}(): shape must be an array of integers`);
  const dims: number[] = [];
  let free = -1;
  let known = 1;
  for (let i = 0; i < shape.length; i++) {
    const d: unknown = shape[i];
    if (d === -1 && free === -1) { free = i; dims[i] = -1; continue; }
    if (typeof d !== 'number' || !NumberIsInteger(d) || d < 0) throw new TypeErrorCtor(`${who}(): bad dimension ${StringCtor(d)} in shape [${ArrayJoin(shape, ',')}]`);
    dims[i] = d;
    known *= d;
  }
  if (free !== -1 && known > 0 && size % known === 0) dims[free] = size / known;
  else if (free === -1 && known === size) return dims;
  if (free === -1 || known === 0 || size % known !== 0) {
    throw new RangeErrorCtor(`${who}(): ${size} values do not fit shape [${ArrayJoin(shape, ',')}]`);
  }
  return dims;
}
function nest(flat: ArrayLike<unknown>, dims: number[], offset: number, dim: number): unknown {
  if (dims.length === 0) return flat[offset];
  const size = dims[dim]!;
  let stride = 1;
  for (let i = dim + 1; i < dims.length; i++) stride *= dims[i]!;
  const out: unknown[] = [];
  for (let i = 0; i < size; i++) out[i] = dim === dims.length - 1 ? flat[offset + i] : nest(flat, dims, offset + i * stride, dim + 1);
  return out;
}

/** Installed as globals by globals.ts. */
export const helpers = {
  argmax: (values: unknown) => overRows(values, argmaxRow, 'argmax', false),
  softmax: (values: unknown) => overRows(values, softmaxRow, 'softmax', true),
  topk(values: unknown, k: unknown = 1) {
    if (typeof k !== 'number' || !NumberIsInteger(k) || k < 0) throw new TypeErrorCtor('topk(): k must be a non-negative integer');
    return overRows(values, (row) => topkRow(row, k), 'topk', false);
  },
  reshape(values: unknown, shape: unknown) {
    const flat = isTypedArray(values) ? values : flatten(values, []);
    return nest(flat, resolveShape(shape, flat.length, 'reshape'), 0, 0);
  },
  tensor(data: unknown, shape: unknown) {
    const flat = isTypedArray(data) ? data : ArrayIsArray(data) ? flatten(data, []) : undefined;
    if (flat === undefined) throw new TypeErrorCtor('tensor(): data must be an array or a typed array');
    return { data: flat, shape: resolveShape(shape, flat.length, 'tensor') };
  },
};
