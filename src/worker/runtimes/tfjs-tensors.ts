import type * as TF from '@tensorflow/tfjs';
import { ServeError } from '../../errors.js';
import { fromHalf } from '../../model/tensor.js';
import type { DType, Tensor, TensorSpec } from './types.js';
import type { Tfjs } from './tfjs-backend.js';

/** The tfjs dtypes a request can feed; complex64 has no counterpart in our tensors. */
type FeedableDType = 'float32' | 'int32' | 'bool' | 'string';

function isFeedable(dtype: unknown): dtype is FeedableDType {
  return dtype === 'float32' || dtype === 'int32' || dtype === 'bool' || dtype === 'string';
}

/** A spec from what tfjs knows of a tensor: null dims are free (-1); an unknown rank is a null shape. */
export function tfjsSpec(name: string, dtype: unknown, shape: readonly (number | null)[] | undefined | null): TensorSpec {
  const dims = shape === undefined || shape === null ? null : shape.map((d) => (d === null || d < 0 ? -1 : d));
  if (isFeedable(dtype)) return { name, dtype, shape: dims };
  return { name, dtype: null, shape: dims, kind: `unsupported tensor type ${String(dtype)}` };
}

/** Tensor names in tfjs graphs carry an output index ("MatMul:0"); users know them without it. */
export function stripOutputIndex(name: string): string {
  return name.endsWith(':0') ? name.slice(0, -2) : name;
}

function numericValues(tensor: Tensor): ArrayLike<number> {
  const { dtype, data } = tensor;
  if (dtype === 'string') throw new ServeError('INFERENCE_FAILED', 'a string tensor was fed to a numeric input');
  if (dtype === 'float16') return Array.from(data as Uint16Array, fromHalf);
  if (dtype === 'int64' || dtype === 'uint64') return Array.from(data as BigInt64Array, Number);
  return data as ArrayLike<number>;
}

/** A request tensor as a tfjs tensor of the dtype the model declares (tfjs has no 64-bit or small ints). */
export function toTfTensor(tf: Tfjs, spec: TensorSpec, tensor: Tensor | undefined): TF.Tensor {
  if (tensor === undefined) throw new ServeError('INFERENCE_FAILED', `no value was fed for input "${spec.name}"`);
  const shape = [...tensor.shape];
  switch (spec.dtype) {
    case 'string':
      if (tensor.dtype !== 'string') throw new ServeError('INFERENCE_FAILED', `input "${spec.name}" takes strings, got ${tensor.dtype}`);
      return tf.tensor(tensor.data as string[], shape, 'string');
    case 'int32': {
      const values = numericValues(tensor);
      return tf.tensor(values instanceof Int32Array ? values : Int32Array.from(values), shape, 'int32');
    }
    case 'bool':
      return tf.tensor(Uint8Array.from(numericValues(tensor), (v) => (v !== 0 ? 1 : 0)), shape, 'bool');
    default: {
      const values = numericValues(tensor);
      return tf.tensor(values instanceof Float32Array ? values : Float32Array.from(values), shape, 'float32');
    }
  }
}

/**
 * A tfjs tensor's values as our plain tensor; the caller disposes the tfjs tensor right after.
 * The wasm and tensorflow backends hand out a fresh copy from dataSync(); the CPU backend hands out
 * its own storage, which for an output that is a weight (a graph returning a Const) is still live,
 * so `copy` is set there: the frame encoder may transfer or reuse what we return.
 */
export function fromTfTensor(tensor: TF.Tensor, copy: boolean): Tensor {
  const shape = [...tensor.shape];
  const dtype: DType | null = isFeedable(tensor.dtype) ? tensor.dtype : null;
  if (dtype === null) throw new ServeError('INFERENCE_FAILED', `the model returned a ${tensor.dtype} tensor, which inferbox cannot return`);
  if (dtype === 'string') return { dtype, shape, data: tensor.dataSync() as unknown as string[] };
  if (dtype === 'bool') return { dtype, shape, data: Uint8Array.from(tensor.dataSync() as Uint8Array) };
  const data = tensor.dataSync() as Float32Array | Int32Array;
  return { dtype, shape, data: copy ? data.slice() : data } as Tensor;
}

/** Zero feeds for a warm-up run (free dimensions as 1), or null when a shape is unknown. */
export function zeroFeeds(specs: readonly TensorSpec[]): Record<string, Tensor> | null {
  const feeds: Record<string, Tensor> = {};
  for (const spec of specs) {
    if (spec.shape === null || spec.dtype === null) return null;
    const shape = spec.shape.map((d) => (d < 0 ? 1 : d));
    const size = shape.reduce((a, b) => a * b, 1);
    const data =
      spec.dtype === 'string' ? new Array<string>(size).fill('') : spec.dtype === 'int32' ? new Int32Array(size) : spec.dtype === 'bool' ? new Uint8Array(size) : new Float32Array(size);
    feeds[spec.name] = { dtype: spec.dtype, shape, data } as Tensor;
  }
  return feeds;
}

/** The first line of a tfjs error, which names the layer, op or kernel at fault. */
export function tfjsMessage(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0]!.trim();
}
