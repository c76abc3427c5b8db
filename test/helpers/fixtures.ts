import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import onnxProto from 'onnx-proto';
import type { FilePart } from '../../src/client/index.js';

export const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));

export function fixturePath(relative: string): string {
  return `${FIXTURES}${relative}`;
}

export function fixtureFile(relative: string): FilePart {
  return { name: relative.split('/').at(-1)!, data: readFileSync(fixturePath(relative)) };
}

export const MNIST_ONNX = 'onnx-mnist8-cntk/mnist-8.onnx';
export const IRIS_ONNX = 'onnx-skl-logreg-iris-zipmap/logreg_iris.onnx';
export const KERAS_ADD_ONNX = 'onnx-keras-onnxmltools-add/keras_Add_ImageNet_small.onnx';

/** An ONNX TensorProto (.pb) as dims and float values (raw_data or float_data). */
export function readTensorProto(relative: string): { dims: number[]; values: number[] } {
  const t = onnxProto.onnx.TensorProto.decode(readFileSync(fixturePath(relative)));
  const dims = t.dims.map((d) => Number(d));
  if (t.rawData && t.rawData.length > 0) {
    const raw = t.rawData;
    const copy = new Uint8Array(raw.length);
    copy.set(raw);
    return { dims, values: [...new Float32Array(copy.buffer)] };
  }
  return { dims, values: [...t.floatData] };
}

/** Nests flat values into the given shape. */
export function nestValues(flat: readonly number[], shape: readonly number[]): unknown {
  if (shape.length <= 1) return [...flat];
  const stride = flat.length / shape[0]!;
  return Array.from({ length: shape[0]! }, (_, i) => nestValues(flat.slice(i * stride, (i + 1) * stride), shape.slice(1)));
}

export function flattenDeep(value: unknown): number[] {
  return Array.isArray(value) ? value.flatMap(flattenDeep) : [value as number];
}

export function argmax(values: readonly number[]): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}

/** Largest |a-b| / max(1, |b|) over two equal-length arrays. */
export function maxRelativeDiff(a: readonly number[], b: readonly number[]): number {
  if (a.length !== b.length) return Infinity;
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / Math.max(1, Math.abs(b[i]!)));
  return worst;
}

/** The iris model's answer for the seed's setosa sample [5.1, 3.5, 1.4, 0.2]: label 0, and class 0 most likely. */
export function assertSetosa(result: unknown): void {
  const records = result as { output_label: number[]; output_probability: Record<string, number>[] }[];
  if (records.length !== 1 || records[0]!.output_label[0] !== 0) throw new Error(`expected one setosa record, got ${JSON.stringify(result)}`);
  const p = records[0]!.output_probability[0]!;
  if (!(p['0']! > p['1']! && p['0']! > p['2']!)) throw new Error(`expected class 0 most likely, got ${JSON.stringify(p)}`);
}
