import type { DType } from './tensor.js';

/**
 * One named input or output as the model file declares it.
 * @example { name: 'Input3', dtype: 'float32', shape: [1, 1, 28, 28] }
 * @example { name: 'input', dtype: 'float32', shape: [-1, 4], dimNames: ['batch_size', null] }
 */
export interface TensorSpec {
  readonly name: string;
  /** null for a value that is not a tensor (e.g. a ZipMap's sequence of maps). */
  readonly dtype: DType | null;
  /** -1 marks a free dimension. Empty for scalars; null when the rank is unknown or it is not a tensor. */
  readonly shape: readonly number[] | null;
  /** The symbolic names of free dimensions where the file has them ("batch_size"), else null. */
  readonly dimNames?: readonly (string | null)[];
  /** Set for values the runtime cannot return, e.g. "non-tensor". */
  readonly kind?: string;
  /**
   * Class labels of a probability output whose last dimension maps to them (a scikit-learn ZipMap):
   * each row is returned as `{ label: probability }`, as scikit-learn's predict_proba dicts.
   */
  readonly classes?: readonly (number | string)[];
}

/**
 * Why a model's runs cannot stack records along the first dimension, or null when they can: every
 * input and every tensor output must have a free (-1) leading dimension. Deployments' dynamic
 * batching and the worker's stacking of one request's records share this rule.
 * @example batchDimProblem([{ name: 'Input3', dtype: 'float32', shape: [1, 1, 28, 28] }], []) // "input 'Input3' has a fixed first dimension (1)"
 */
export function batchDimProblem(inputs: readonly TensorSpec[], outputs: readonly TensorSpec[]): string | null {
  const check = (kind: string, s: TensorSpec): string | null => {
    if (s.shape === null || s.shape.length === 0) return `${kind} '${s.name}' has no first dimension`;
    return s.shape[0] === -1 ? null : `${kind} '${s.name}' has a fixed first dimension (${s.shape[0]})`;
  };
  for (const s of inputs) {
    const problem = check('input', s);
    if (problem !== null) return problem;
  }
  for (const s of outputs) {
    if (s.dtype === null) continue;
    const problem = check('output', s);
    if (problem !== null) return problem;
  }
  return null;
}
