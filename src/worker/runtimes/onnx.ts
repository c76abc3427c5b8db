import { createRequire } from 'node:module';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { ServeError } from '../../errors.js';
import { NativeOrtSession } from './onnx-session.js';
import { readServingNotes, type ZipMapOutput } from '../publish/onnx-zipmap.js';
import { isDType } from '../../model/tensor.js';
import type { LoadedModel, ModelRuntime, RuntimeOptions, Tensor, TensorSpec } from './types.js';

const ORT_VERSION = (createRequire(import.meta.url)('onnxruntime-node/package.json') as { version: string }).version;
export const ONNX_BACKEND = `onnxruntime-node ${ORT_VERSION} (cpu)`;

type OrtValueMetadata = ort.InferenceSession.ValueMetadata;

/** onnxruntime-node metadata -> our spec. Named free dims come back as strings, unnamed as "". */
export function toTensorSpec(meta: OrtValueMetadata): TensorSpec {
  if (!meta.isTensor) return { name: meta.name, dtype: null, shape: null, kind: 'non-tensor' };
  const dtype = isDType(meta.type) ? meta.type : null;
  const dims = meta.shape as readonly (number | string)[];
  const shape = dims.map((d) => (typeof d === 'number' && d >= 0 ? d : -1));
  const names = dims.map((d) => (typeof d === 'string' && d !== '' ? d : null));
  const spec: TensorSpec = { name: meta.name, dtype, shape };
  if (dtype === null) return { ...spec, kind: `unsupported tensor type ${String(meta.type)}` };
  return names.some((n) => n !== null) ? { ...spec, dimNames: names } : spec;
}

function toOrtTensor(t: Tensor): ort.Tensor {
  // ort's type union is narrower than ours per dtype; the dtype table guarantees the pairing.
  return new ort.Tensor(t.dtype as ort.Tensor.Type, t.data as ort.Tensor.DataType, t.shape as number[]);
}

function fromOrtTensor(t: ort.Tensor): Tensor {
  if (!isDType(t.type)) throw new ServeError('INFERENCE_FAILED', `the model returned a tensor of unsupported type ${t.type}`);
  return { dtype: t.type, shape: [...t.dims], data: t.data as Tensor['data'] };
}

/** ORT messages carry server paths and C++ frames; keep only the part that speaks to the user. */
export function cleanOrtMessage(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text
    .replace(/^\[ONNXRuntimeError\]\s*:\s*\d+\s*:\s*\w+\s*:\s*/, '')
    .replace(/Load model from \S+ failed:/, '')
    .replace(/\/onnxruntime_src\/\S+:\d+ [^)]*\)\s*/g, '')
    .replace(/\/onnxruntime_src\/\S+:\d+\s*/g, '')
    .trim();
}

class OnnxModel implements LoadedModel {
  readonly backend = ONNX_BACKEND;
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
  private readonly fetches: Record<string, null>;
  private readonly fetchNames: string[];
  /** The fetched outputs that are served as they are (the others are ZipMaps' probability tensors). */
  private readonly servedFetches: string[];

  constructor(
    private readonly session: NativeOrtSession,
    private readonly zipmaps: readonly ZipMapOutput[],
  ) {
    this.inputs = session.inputMetadata.map(toTensorSpec);
    const specs = new Map(session.outputMetadata.map((m) => [m.name, toTensorSpec(m)]));
    const extra = new Set(zipmaps.map((z) => z.tensor));
    // A ZipMap output is served from its probability tensor (added to the serving copy at publish);
    // that tensor itself is not listed unless the original model already returned it.
    this.outputs = session.outputMetadata
      .filter((m) => !extra.has(m.name) || zipmaps.some((z) => z.output === m.name))
      .map((m) => {
        const zip = zipmaps.find((z) => z.output === m.name);
        if (!zip) return specs.get(m.name)!;
        return { name: m.name, dtype: 'float32', shape: [-1, zip.classes.length], classes: zip.classes } satisfies TensorSpec;
      });
    this.fetchNames = [...new Set([...this.outputs.filter((o) => o.dtype !== null && !o.classes).map((o) => o.name), ...zipmaps.map((z) => z.tensor)])];
    this.fetches = Object.fromEntries(this.fetchNames.map((n) => [n, null]));
    const served = new Set(this.outputs.map((o) => o.name));
    this.servedFetches = this.fetchNames.filter((n) => served.has(n));
  }

  async run(feeds: Readonly<Record<string, Tensor>>): Promise<Record<string, Tensor>> {
    return this.runSync(feeds);
  }

  /** onnxruntime's run is synchronous underneath (see onnx-session.ts): so is this. */
  runSync(feeds: Readonly<Record<string, Tensor>>): Record<string, Tensor> {
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const [name, tensor] of Object.entries(feeds)) ortFeeds[name] = toOrtTensor(tensor);
    let results: Record<string, ort.Tensor>;
    try {
      results = this.session.run(ortFeeds, this.fetches);
    } catch (err) {
      throw new ServeError('INFERENCE_FAILED', `onnxruntime could not run the model: ${cleanOrtMessage(err)}`, undefined, { cause: err });
    }
    // Only served outputs are ever set: deleting the others left an object in V8's slow
    // dictionary mode, which every later copy of it paid for (#14).
    const out: Record<string, Tensor> = {};
    for (const name of this.servedFetches) out[name] = fromOrtTensor(results[name]!);
    for (const zip of this.zipmaps) out[zip.output] = out[zip.tensor] ?? fromOrtTensor(results[zip.tensor]!);
    return out;
  }

  async dispose(): Promise<void> {
    this.session.dispose();
  }
}

export const onnxRuntime: ModelRuntime = {
  format: 'onnx',
  async load(dir: string, mainFile: string, options: RuntimeOptions): Promise<LoadedModel> {
    let session: NativeOrtSession;
    try {
      session = new NativeOrtSession(join(dir, mainFile), {
        intraOpNumThreads: options.intraOpThreads,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        graphOptimizationLevel: 'all',
      });
    } catch (err) {
      throw new ServeError('MODEL_INVALID', `not a loadable ONNX model: ${cleanOrtMessage(err)}`, undefined, { cause: err });
    }
    return new OnnxModel(session, (await readServingNotes(dir)).zipmaps);
  },
};
