import { ServeError } from '../../errors.js';
import { ONNX_BACKEND, onnxRuntime } from './onnx.js';
import type { ModelRuntime } from './types.js';

export type * from './types.js';
export { onnxRuntime, ONNX_BACKEND } from './onnx.js';

const RUNTIMES: ReadonlyMap<string, ModelRuntime> = new Map([[onnxRuntime.format, onnxRuntime]]);

/** The runtime serving a manifest `format`, or MODEL_UNSUPPORTED naming the formats there are. */
export function resolveRuntime(format: string): ModelRuntime {
  const runtime = RUNTIMES.get(format);
  if (runtime === undefined) {
    throw new ServeError('MODEL_UNSUPPORTED', `no runtime serves format "${format}" (available: ${[...RUNTIMES.keys()].join(', ')})`);
  }
  return runtime;
}

/** The backend each format runs on, for /healthz. */
export function runtimeBackends(): Record<string, string> {
  return { onnx: ONNX_BACKEND };
}
