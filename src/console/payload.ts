import type { ModelVersionView, TensorView } from '../api/types.js';
import { exampleRecord, randomOf, zeroOf } from '../model/example-record.js';

/** Request bodies the test tabs start from. */

/** `{ "args": { "X": [record] } }`, pretty-printed with each innermost array on one line. */
export function bodyText(record: Record<string, unknown>): string {
  return JSON.stringify({ args: { X: [record] } }, null, 2).replace(/\[\s+([^[\]{}]*?)\s+\]/g, (_, inner: string) => `[${inner.replace(/\s*\n\s*/g, ' ')}]`);
}

/** The stored sample (the first row of x_test), or zeros of each input's shape. */
export function samplePayload(version: ModelVersionView): string {
  return bodyText(version.sample ?? exampleRecord(version.inputs, zeroOf));
}

/** Random values of each input's dtype and shape (free dimensions as 1). */
export function randomPayload(inputs: readonly TensorView[]): string {
  return bodyText(exampleRecord(inputs.filter((i) => i.dtype !== null), randomOf));
}

/** `[-1, 28, 28, 1]` as the seed shows it: `(, 28, 28, 1)`-style free dims kept as -1. */
export function shapeText(shape: readonly number[] | null): string {
  return shape === null ? 'unknown' : `[${shape.join(', ')}]`;
}

export function bytesText(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 ** 2) return `${(bytes / 1024).toFixed(1)} KB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 ** 2).toFixed(1)} MB`;
  return `${(bytes / 1024 ** 3).toFixed(2)} GB`;
}

export function timeText(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}
