import { ServeError } from '../../errors.js';
import { elementCount, formatShape, toJsonValues, TYPED_ARRAY, type DType, type Tensor, type TensorSpec } from '../../model/index.js';

/**
 * The Open Inference Protocol's tensors in both transports (REST and gRPC): its datatype names, and
 * a tensor's bytes as the protocol carries them raw (Triton's binary tensor extension over REST,
 * `raw_input_contents` / `raw_output_contents` over gRPC). Raw bytes are the flat row-major values,
 * little-endian, without padding; a BYTES tensor is each element as a 4-byte little-endian length
 * and its bytes; a BOOL element is one byte.
 */

export const OIP_DATATYPE: { readonly [D in DType]: string } = {
  float32: 'FP32',
  float64: 'FP64',
  float16: 'FP16',
  int8: 'INT8',
  uint8: 'UINT8',
  int16: 'INT16',
  uint16: 'UINT16',
  int32: 'INT32',
  uint32: 'UINT32',
  int64: 'INT64',
  uint64: 'UINT64',
  bool: 'BOOL',
  string: 'BYTES',
};

/** The model dtype of each protocol datatype. */
export const DTYPE_OF: ReadonlyMap<string, DType> = new Map(Object.entries(OIP_DATATYPE).map(([dtype, name]) => [name, dtype as DType]));

/** A model's tensor as the protocol's metadata lists it; an unknown rank is one free dimension. */
export interface OipTensorMetadata {
  readonly name: string;
  readonly datatype: string;
  readonly shape: readonly number[];
}

/** The model's tensors that are tensors (a ZipMap's sequence of maps is left out: it cannot be fed or answered). */
export function tensorMetadata(specs: readonly TensorSpec[]): OipTensorMetadata[] {
  return specs.flatMap((s) => (s.dtype === null ? [] : [{ name: s.name, datatype: OIP_DATATYPE[s.dtype], shape: s.shape ?? [-1] }]));
}

/** One input as a transport read it: `data` is a flat typed array (raw bytes) or flat JSON values. */
export interface OipInput {
  readonly name: string;
  readonly datatype: string;
  readonly shape: readonly number[];
  readonly data: ArrayLike<unknown>;
}

/** Where a transport names a request's fields in its messages (`inputs[0].shape` over REST). */
export type FieldOf = (index: number, field: string) => string;

const BYTES_PER: { readonly [D in Exclude<DType, 'string'>]: number } = {
  float32: 4,
  float64: 8,
  float16: 2,
  int8: 1,
  uint8: 1,
  int16: 2,
  uint16: 2,
  int32: 4,
  uint32: 4,
  int64: 8,
  uint64: 8,
  bool: 1,
};

/** Each dtype's typed array, as a view over bytes (the same constructors as the model's TYPED_ARRAY). */
const TYPED = TYPED_ARRAY as unknown as { readonly [D in Exclude<DType, 'string'>]: new (buffer: ArrayBuffer, offset: number, length: number) => ArrayLike<unknown> };

/**
 * An input's raw bytes as its values: a typed array (FP16 as its raw 16-bit patterns, as the
 * workers take half floats), or strings for BYTES. `count` is the shape's element count.
 */
export function decodeRaw(bytes: Uint8Array, dtype: DType, count: number, field: string): ArrayLike<unknown> {
  if (dtype === 'string') {
    const out: string[] = [];
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let at = 0;
    while (at < bytes.length) {
      if (at + 4 > bytes.length) throw new ServeError('INPUT_SHAPE_MISMATCH', `${field}: BYTES data ends inside an element's 4-byte length`, { field });
      const n = view.getUint32(at, true);
      if (at + 4 + n > bytes.length) throw new ServeError('INPUT_SHAPE_MISMATCH', `${field}: a BYTES element of ${n} bytes runs past the data`, { field });
      out.push(Buffer.from(bytes.buffer, bytes.byteOffset + at + 4, n).toString('utf8'));
      at += 4 + n;
    }
    if (out.length !== count) throw new ServeError('INPUT_SHAPE_MISMATCH', `${field}: ${out.length} BYTES elements do not fill the shape's ${count}`, { field });
    return out;
  }
  const size = BYTES_PER[dtype];
  if (bytes.length !== count * size) {
    throw new ServeError('INPUT_SHAPE_MISMATCH', `${field}: ${bytes.length} bytes of ${OIP_DATATYPE[dtype]} data, but the shape needs ${count * size} (${count} elements of ${size} bytes)`, { field });
  }
  // A copy, aligned for the typed array (the bytes sit anywhere in the request body).
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  return new TYPED[dtype](copy.buffer, 0, count);
}

/** An output tensor's values as raw bytes. */
export function encodeRaw(tensor: Tensor): Buffer {
  if (tensor.dtype === 'string') {
    const parts = (tensor.data as string[]).flatMap((s) => {
      const body = Buffer.from(s, 'utf8');
      const length = Buffer.alloc(4);
      length.writeUInt32LE(body.length, 0);
      return [length, body];
    });
    return Buffer.concat(parts);
  }
  const data = tensor.data as Exclude<Tensor['data'], string[]>;
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/** An output tensor's values as the JSON `data` list: flat, row-major; FP16 as numbers; INT64 beyond 2^53 as decimal strings. */
export function jsonValues(tensor: Tensor): unknown[] {
  return toJsonValues(tensor);
}

type Feed = { data: ArrayLike<unknown>; shape: readonly number[] };

/**
 * Checks the request's inputs against the model's and returns them as the records the workers bind
 * (`{ input: { data, shape } }`, src/worker/models/binding.ts): the protocol sends the whole batch
 * as one tensor per input, so one record, except for a model whose inputs fix their first
 * dimension at 1 (many ONNX exports): a batch of n is then n records, run one by one as /api/v1
 * runs them, and the outputs are joined again (joinOutputs). The values themselves (a string in
 * FP32 data...) are checked by the worker, as for every call.
 */
export function recordsOf(inputs: readonly OipInput[], specs: readonly TensorSpec[], fieldOf: FieldOf): Record<string, Feed>[] {
  const record: Record<string, Feed> = {};
  const byName = new Map(specs.map((s) => [s.name, s]));
  const expected = () => specs.map((s) => `'${s.name}'`).join(', ');
  const fixedOne = specs.length > 0 && specs.every((s) => s.shape !== null && s.shape.length > 0 && s.shape[0] === 1);
  inputs.forEach((input, i) => {
    const spec = byName.get(input.name);
    if (spec === undefined) throw new ServeError('INPUT_UNKNOWN', `${fieldOf(i, 'name')} is '${input.name}', but the model's inputs are ${expected()}`, { input: input.name });
    if (record[input.name] !== undefined) throw new ServeError('REQUEST_INVALID', `input '${input.name}' is given twice`, { field: fieldOf(i, 'name') });
    if (spec.dtype === null) throw new ServeError('MODEL_UNSUPPORTED', `input '${spec.name}' is not a tensor (${spec.kind ?? 'unknown type'})`);
    const datatype = OIP_DATATYPE[spec.dtype];
    if (input.datatype !== datatype) {
      throw new ServeError('INPUT_DTYPE_MISMATCH', `input '${input.name}' has datatype ${JSON.stringify(input.datatype)}, but the model expects ${datatype}`, { input: input.name, expected: datatype });
    }
    const fits = spec.shape === null || (spec.shape.length === input.shape.length && spec.shape.every((d, j) => d === -1 || d === input.shape[j] || (j === 0 && fixedOne)));
    if (!fits) {
      throw new ServeError('INPUT_SHAPE_MISMATCH', `input '${input.name}' has shape ${formatShape(input.shape)}, but the model expects ${formatShape(spec.shape)} (-1: any size)`, {
        input: input.name,
        expected: spec.shape,
        got: input.shape,
      });
    }
    const count = elementCount(input.shape);
    if (input.data.length !== count) {
      throw new ServeError('INPUT_SHAPE_MISMATCH', `input '${input.name}' has ${input.data.length} values, but its shape ${formatShape(input.shape)} holds ${count}`, { input: input.name });
    }
    record[input.name] = { data: input.data, shape: input.shape };
  });
  for (const spec of specs) {
    if (record[spec.name] === undefined && spec.dtype !== null) {
      throw new ServeError('INPUT_MISSING', `the request has no input '${spec.name}' (${OIP_DATATYPE[spec.dtype]} ${formatShape(spec.shape)})`, { input: spec.name });
    }
  }
  const batch = Object.values(record)[0]?.shape[0] ?? 1;
  if (!fixedOne || batch === 1) return [record];
  for (const [name, feed] of Object.entries(record)) {
    if (feed.shape[0] !== batch) {
      throw new ServeError('INPUT_SHAPE_MISMATCH', `input '${name}' has a batch of ${feed.shape[0]}, another input ${batch}: every input needs the same first dimension`, { input: name });
    }
  }
  return Array.from({ length: batch }, (_, r) =>
    Object.fromEntries(
      Object.entries(record).map(([name, feed]) => {
        const per = feed.data.length / batch;
        return [name, { data: sliceOf(feed.data, r * per, (r + 1) * per), shape: [1, ...feed.shape.slice(1)] }];
      }),
    ),
  );
}

function sliceOf(data: ArrayLike<unknown>, start: number, end: number): ArrayLike<unknown> {
  return (data as unknown[] | Float32Array).slice(start, end) as ArrayLike<unknown>;
}

/** Each record's outputs joined along the first dimension into one tensor per output (the inverse of recordsOf's split). */
export function joinOutputs(perRecord: readonly Readonly<Record<string, Tensor>>[]): Record<string, Tensor> {
  if (perRecord.length === 1) return { ...perRecord[0]! };
  const out: Record<string, Tensor> = {};
  for (const name of Object.keys(perRecord[0] ?? {})) {
    const parts = perRecord.map((r) => r[name]!);
    const first = parts[0]!;
    const rows = parts.reduce((n, p) => n + (p.shape[0] ?? 1), 0);
    const length = parts.reduce((n, p) => n + p.data.length, 0);
    let data: Tensor['data'];
    if (first.dtype === 'string') {
      data = parts.flatMap((p) => p.data as string[]);
    } else {
      const joined = new (first.data.constructor as new (n: number) => Float32Array)(length);
      let at = 0;
      for (const p of parts) {
        joined.set(p.data as Float32Array, at);
        at += p.data.length;
      }
      data = joined as Tensor['data'];
    }
    out[name] = { dtype: first.dtype, shape: first.shape.length === 0 ? [parts.length] : [rows, ...first.shape.slice(1)], data } as Tensor;
  }
  return out;
}
