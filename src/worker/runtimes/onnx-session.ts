/**
 * onnxruntime-node's native session, used directly. The package's InferenceSession wraps every
 * `run` in a promise and a setImmediate, although the native call underneath is synchronous and
 * blocks the thread either way. Holding the native session lets the worker run a model inside a
 * script's synchronous flow (one isolate entry per request) and skip an event-loop turn per run.
 *
 * This reaches into `onnxruntime-node/dist/binding.js`, which the package does not document; the
 * version is pinned in package.json and test/unit/onnx-runtime.test.ts covers what is used here.
 */
import { createRequire } from 'node:module';
import * as ort from 'onnxruntime-node';

/** What `onnxruntime-node/dist/binding.js` exports (see its binding.d.ts). */
interface NativeValueMetadata {
  readonly name: string;
  readonly isTensor: boolean;
  readonly symbolicDimensions: string[];
  readonly shape: number[];
  readonly type: number;
}
interface NativeSession {
  loadModel(path: string, options: ort.InferenceSession.SessionOptions): void;
  readonly inputMetadata: NativeValueMetadata[];
  readonly outputMetadata: NativeValueMetadata[];
  run(feeds: Record<string, ort.Tensor>, fetches: Record<string, null>, options: ort.InferenceSession.RunOptions): Record<string, ort.Tensor>;
  dispose(): void;
}
interface NativeBinding {
  readonly binding: { InferenceSession: new () => NativeSession };
  initOrt(): void;
}

const native = createRequire(import.meta.url)('onnxruntime-node/dist/binding.js') as NativeBinding;

/** The native type codes, as onnxruntime-node's backend.js maps them. */
const TYPE_NAMES: readonly (string | undefined)[] = [
  undefined, 'float32', 'uint8', 'int8', 'uint16', 'int16', 'int32', 'int64', 'string', 'bool', 'float16', 'float64', 'uint32', 'uint64',
];

/** The package's own metadata shape: free dimensions as their symbolic name ("" when unnamed). */
function toMetadata(m: NativeValueMetadata): ort.InferenceSession.ValueMetadata {
  if (!m.isTensor) return { name: m.name, isTensor: false };
  const type = TYPE_NAMES[m.type];
  if (type === undefined) throw new Error(`Unsupported data type: ${m.type}`);
  const shape = m.shape.map((dim, i) => (dim === -1 ? m.symbolicDimensions[i]! : dim));
  return { name: m.name, isTensor: true, type: type as ort.Tensor.Type, shape };
}

export class NativeOrtSession {
  readonly inputMetadata: readonly ort.InferenceSession.ValueMetadata[];
  readonly outputMetadata: readonly ort.InferenceSession.ValueMetadata[];
  private readonly session: NativeSession;
  private readonly noOptions: ort.InferenceSession.RunOptions = {};

  /** Loads synchronously; throws onnxruntime's own error for a file it cannot load. */
  constructor(path: string, options: ort.InferenceSession.SessionOptions) {
    native.initOrt();
    this.session = new native.binding.InferenceSession();
    this.session.loadModel(path, { executionProviders: ['cpu'], ...options });
    this.inputMetadata = this.session.inputMetadata.map(toMetadata);
    this.outputMetadata = this.session.outputMetadata.map(toMetadata);
  }

  /** Runs once, synchronously; `fetches` maps each wanted output name to null. */
  run(feeds: Record<string, ort.Tensor>, fetches: Record<string, null>): Record<string, ort.Tensor> {
    return this.session.run(feeds, fetches, this.noOptions);
  }

  dispose(): void {
    this.session.dispose();
  }
}
