/**
 * The contracts every model runtime implements. A runtime turns files on disk into a LoadedModel;
 * the worker binds request records to its inputs and reads its outputs. Nothing here knows HTTP.
 */

import type { ServingFormat, Tensor, TensorSpec } from '../../model/index.js';

export type { DType, DTypeMap, Tensor, TensorSpec } from '../../model/index.js';

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
  readonly format: ServingFormat;
  /**
   * Loads the model stored in `dir` (the version's directory) whose main file is `mainFile`.
   * Throws ServeError MODEL_INVALID / MODEL_UNSUPPORTED for files it cannot serve.
   */
  load(dir: string, mainFile: string, options: RuntimeOptions): Promise<LoadedModel>;
}
