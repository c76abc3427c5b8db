/**
 * The contracts every model runtime implements. A runtime turns files on disk into a LoadedModel;
 * the worker binds request records to its inputs and reads its outputs. Nothing here knows HTTP.
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

/** A model loaded into memory and ready to run. */
export interface LoadedModel {
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
  /** What executes it, e.g. "onnxruntime-node 1.30.0 (cpu)"; shown in metadata and /healthz. */
  readonly backend: string;
  /** Runs once. Only outputs whose spec has a dtype are fetched. */
  run(feeds: Readonly<Record<string, Tensor>>): Promise<Record<string, Tensor>>;
  /**
   * Runs once without yielding to the event loop, or answers null when this model cannot (a TF.js
   * graph with control flow); the answer is the same for every call. A script's predict flow runs the
   * model this way inside its one isolate entry.
   */
  runSync(feeds: Readonly<Record<string, Tensor>>): Record<string, Tensor> | null;
  dispose(): Promise<void>;
}

export interface RuntimeOptions {
  /** onnxruntime intra-op threads. */
  readonly intraOpThreads: number;
}

export interface ModelRuntime {
  /** The manifest `format` this runtime serves, e.g. "onnx". */
  readonly format: string;
  /**
   * Loads the model stored in `dir` (the version's directory) whose main file is `mainFile`.
   * Throws ServeError MODEL_INVALID / MODEL_UNSUPPORTED for files it cannot serve.
   */
  load(dir: string, mainFile: string, options: RuntimeOptions): Promise<LoadedModel>;
}
