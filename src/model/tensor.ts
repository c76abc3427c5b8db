/**
 * Tensors as both processes see them: dtypes, the typed array of each, shapes, half floats, and the
 * JSON form of a tensor's values. Pure: no runtime, no I/O.
 */

/** Element types a tensor can carry, and the typed array that carries each. */
export interface DTypeMap {
  float32: Float32Array;
  float64: Float64Array;
  /** IEEE half floats travel as their raw 16-bit patterns. */
  float16: Uint16Array;
  int8: Int8Array;
  uint8: Uint8Array;
  int16: Int16Array;
  uint16: Uint16Array;
  int32: Int32Array;
  uint32: Uint32Array;
  int64: BigInt64Array;
  uint64: BigUint64Array;
  /** One byte per element, 0 or 1. */
  bool: Uint8Array;
  string: string[];
}
export type DType = keyof DTypeMap;

export interface Tensor<D extends DType = DType> {
  readonly dtype: D;
  /** Concrete dimensions, row-major. */
  readonly shape: readonly number[];
  readonly data: DTypeMap[D];
}


type NumericCtor = new (length: number) => Exclude<DTypeMap[DType], string[]>;

/** The typed array constructor of each dtype (strings are plain arrays). */
export const TYPED_ARRAY: { readonly [D in Exclude<DType, 'string'>]: NumericCtor } = {
  float32: Float32Array,
  float64: Float64Array,
  float16: Uint16Array,
  int8: Int8Array,
  uint8: Uint8Array,
  int16: Int16Array,
  uint16: Uint16Array,
  int32: Int32Array,
  uint32: Uint32Array,
  int64: BigInt64Array,
  uint64: BigUint64Array,
  bool: Uint8Array,
};

export const DTYPES: readonly DType[] = [...Object.keys(TYPED_ARRAY), 'string'] as DType[];

export function isDType(value: unknown): value is DType {
  return typeof value === 'string' && (DTYPES as readonly string[]).includes(value);
}

export function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function formatShape(shape: readonly number[] | null): string {
  return shape === null ? 'unknown' : `[${shape.join(',')}]`;
}

// IEEE 754 half <-> single, via a shared scratch buffer (no allocation per element).
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function toHalf(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0); // Inf / NaN
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow -> Inf
  if (e <= 0) {
    if (e < -10) return sign; // underflow -> 0
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    if ((mant >>> (shift - 1)) & 1) half += 1; // round half up
    return sign | half;
  }
  let half = sign | (e << 10) | (mant >>> 13);
  if (mant & 0x1000) half += 1; // round; a carry into the exponent is still correct
  return half;
}

export function fromHalf(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant === 0 ? sign * Infinity : NaN;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** Plain JS numbers (or strings/booleans) for JSON, from a tensor's flat data. */
export function toJsonValues(tensor: Tensor): unknown[] {
  const { dtype, data } = tensor;
  const out = new Array<unknown>(data.length);
  if (dtype === 'float16') {
    for (let i = 0; i < data.length; i++) out[i] = fromHalf((data as Uint16Array)[i]!);
  } else if (dtype === 'int64' || dtype === 'uint64') {
    // JSON has no 64-bit integers: exact values as numbers, larger ones as decimal strings.
    for (let i = 0; i < data.length; i++) {
      const v = (data as BigInt64Array)[i]!;
      out[i] = v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(v) : v.toString();
    }
  } else if (dtype === 'bool') {
    for (let i = 0; i < data.length; i++) out[i] = (data as Uint8Array)[i] !== 0;
  } else {
    for (let i = 0; i < data.length; i++) out[i] = (data as ArrayLike<unknown>)[i];
  }
  return out;
}

/** Nests flat values into arrays of the given shape (a scalar shape [] returns the value itself). */
export function nest(flat: readonly unknown[], shape: readonly number[], offset = 0, dim = 0): unknown {
  if (shape.length === 0) return flat[offset];
  const size = shape[dim]!;
  if (dim === shape.length - 1) return flat.slice(offset, offset + size);
  const stride = elementCount(shape.slice(dim + 1));
  const out = new Array<unknown>(size);
  for (let i = 0; i < size; i++) out[i] = nest(flat, shape, offset + i * stride, dim + 1);
  return out;
}

/** The rows [start, end) along the first dimension, sharing no memory with the source. */
export function sliceBatch(tensor: Tensor, start: number, end: number): Tensor {
  const rowSize = elementCount(tensor.shape.slice(1));
  const data = tensor.data.slice(start * rowSize, end * rowSize) as Tensor['data'];
  return { dtype: tensor.dtype, shape: [end - start, ...tensor.shape.slice(1)], data };
}
