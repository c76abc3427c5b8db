import { ServeError } from '../../errors.js';
import type { LabelsRef, OutputLabels } from '../../protocol/messages.js';
import { toJsonValues } from '../../model/tensor.js';
import type { Tensor } from '../runtimes/types.js';

/** One class of a labelled answer. */
export interface LabelScore {
  label: string;
  score: number;
}

/** Probabilities from logits; the maximum is subtracted first so large logits do not overflow exp(). */
function softmax(row: readonly number[]): number[] {
  let max = -Infinity;
  for (const v of row) if (v > max) max = v;
  const exps = row.map((v) => Math.exp(v - max));
  let sum = 0;
  for (const e of exps) sum += e;
  return exps.map((e) => e / sum);
}

/** Independent probabilities from per-class logits (multi-label outputs). */
function sigmoid(row: readonly number[]): number[] {
  return row.map((v) => 1 / (1 + Math.exp(-v)));
}

/** The top k of one row, best first; ties keep the class order. */
function topOf(row: readonly number[], names: readonly string[], k: number): LabelScore[] {
  const order = row.map((_, i) => i).sort((a, b) => row[b]! - row[a]! || a - b);
  return order.slice(0, k).map((i) => ({ label: names[i]!, score: row[i]! }));
}

/**
 * One labelled output of one record: the top k of its single row, or a list of those per row when
 * the record's output has several rows (a sequence of class scores, say).
 */
function labelTensor(tensor: Tensor, labels: OutputLabels, topK: number): LabelScore[] | LabelScore[][] {
  const width = labels.names.length;
  const values = toJsonValues(tensor);
  if (values.length === 0 || values.length % width !== 0 || typeof values[0] !== 'number') {
    throw new ServeError(
      'INFERENCE_FAILED',
      `output "${labels.output}" has shape [${tensor.shape.join(',')}] (${tensor.dtype}), which does not split into rows of its ${width} labels; PATCH the deployment's labels`,
    );
  }
  const rows: LabelScore[][] = [];
  for (let at = 0; at < values.length; at += width) {
    const row = values.slice(at, at + width) as number[];
    rows.push(topOf(labels.scores === 'softmax' ? softmax(row) : labels.scores === 'sigmoid' ? sigmoid(row) : row, labels.names, topK));
  }
  return rows.length === 1 ? rows[0]! : rows;
}

/** Replaces each labelled output of one record's JSON answer by its top labels (the others stay as they are). */
export function applyLabels(json: Record<string, unknown>, outputs: Readonly<Record<string, Tensor>>, labels: LabelsRef): Record<string, unknown> {
  for (const spec of labels.outputs) {
    const tensor = outputs[spec.output];
    if (tensor !== undefined) json[spec.output] = labelTensor(tensor, spec, labels.topK);
  }
  return json;
}
