import { ServeError } from '../../errors.js';
import { ONNX_BACKEND, onnxRuntime } from './onnx.js';
import { tfjsBackendName } from './tfjs-backend.js';
import { tfjsRuntime } from './tfjs.js';
import type { ServingFormat } from '../../model/index.js';
import type { ModelRuntime } from './types.js';

export type * from './types.js';
export { onnxRuntime, ONNX_BACKEND } from './onnx.js';
export { tfjsRuntime } from './tfjs.js';
export { initTfjsBackend, tfjsBackendName } from './tfjs-backend.js';

/** One runtime per serving format of src/model/formats.ts: a format without its runtime does not compile. */
const BY_FORMAT: Readonly<Record<ServingFormat, ModelRuntime>> = { onnx: onnxRuntime, tfjs: tfjsRuntime };
const RUNTIMES: ReadonlyMap<string, ModelRuntime> = new Map(Object.entries(BY_FORMAT));

/** The runtime serving a manifest `format`, or MODEL_UNSUPPORTED naming the formats there are. */
export function resolveRuntime(format: string): ModelRuntime {
  const runtime = RUNTIMES.get(format);
  if (runtime === undefined) {
    throw new ServeError('MODEL_UNSUPPORTED', `no runtime serves format "${format}" (available: ${[...RUNTIMES.keys()].join(', ')})`);
  }
  return runtime;
}

/**
 * The backend each format runs on, for /healthz. tfjs starts lazily (importing it costs ~0.6 s per
 * worker), so until a tfjs model has loaded in this process its entry says so; await
 * initTfjsBackend() first for the definite name.
 */
export function runtimeBackends(): Record<ServingFormat, string> {
  return { onnx: ONNX_BACKEND, tfjs: tfjsBackendName() };
}
