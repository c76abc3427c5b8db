import type * as TF from '@tensorflow/tfjs';
import { ServeError } from '../../errors.js';
import { fromArtifacts, readTfjsArtifacts } from './tfjs-artifacts.js';
import { initTfjsBackend, type TfjsBackend } from './tfjs-backend.js';
import { fromTfTensor, stripOutputIndex, tfjsMessage, tfjsSpec, toTfTensor, zeroFeeds } from './tfjs-tensors.js';
import type { LoadedModel, ModelRuntime, Tensor, TensorSpec } from './types.js';

/** tfjs's messages for an op or kernel it lacks; these mean "valid model, cannot serve it here". */
const MISSING_OP = /Unknown op '([^']+)'|Custom op (\S+) is not registered|Kernel '([^']+)' not registered for backend '([^']+)'/;

function unsupportedOp(err: unknown, backend: TfjsBackend): ServeError | null {
  const match = MISSING_OP.exec(tfjsMessage(err));
  if (match === null) return null;
  const op = match[1] ?? match[2] ?? match[3]!;
  return new ServeError('MODEL_UNSUPPORTED', `the model uses op "${op}", which ${backend.name} cannot run`, { op }, { cause: err });
}

function inferenceFailed(err: unknown): ServeError {
  if (err instanceof ServeError) return err;
  return new ServeError('INFERENCE_FAILED', `TensorFlow.js could not run the model: ${tfjsMessage(err)}`, undefined, { cause: err });
}

/** Keras names outputs after their layers; a layer that yields several tensors gets "_1", "_2"... */
function outputNames(layerNames: readonly string[]): string[] {
  const seen = new Map<string, number>();
  return layerNames.map((name) => {
    const n = seen.get(name) ?? 0;
    seen.set(name, n + 1);
    return n === 0 ? name : `${name}_${n}`;
  });
}

class TfjsLayersModel implements LoadedModel {
  readonly backend: string;
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
  private disposed = false;

  constructor(
    private readonly tfjs: TfjsBackend,
    private readonly model: TF.LayersModel,
  ) {
    this.backend = tfjs.name;
    // Keras's own names: the input layer ("dense_1_input") and the output layer ("dense_4"),
    // not tfjs's symbolic tensor names ("dense_4/Softmax").
    // sourceLayer rather than inputLayers/outputLayers, which a Sequential leaves empty.
    this.inputs = model.inputs.map((t) => tfjsSpec(t.sourceLayer.name, t.dtype, t.shape));
    const names = outputNames(model.outputs.map((t) => t.sourceLayer.name));
    this.outputs = model.outputs.map((t, i) => tfjsSpec(names[i]!, t.dtype, t.shape));
  }

  async run(feeds: Readonly<Record<string, Tensor>>): Promise<Record<string, Tensor>> {
    return this.runSync(feeds);
  }

  /** predictOnBatch is synchronous. */
  runSync(feeds: Readonly<Record<string, Tensor>>): Record<string, Tensor> {
    const { tf } = this.tfjs;
    const out: Record<string, Tensor> = {};
    try {
      // tidy disposes the inputs, every intermediate and the outputs once their values are copied out.
      tf.tidy(() => {
        const xs = this.inputs.map((spec) => toTfTensor(tf, spec, feeds[spec.name]));
        const ys = this.model.predictOnBatch(xs.length === 1 ? xs[0]! : xs);
        (Array.isArray(ys) ? ys : [ys]).forEach((y, i) => (out[this.outputs[i]!.name] = fromTfTensor(y, this.tfjs.kind === 'cpu')));
      });
    } catch (err) {
      throw inferenceFailed(err);
    }
    return out;
  }

  async dispose(): Promise<void> {
    // tfjs throws on a second dispose; ours is idempotent like the other runtimes'.
    if (this.disposed) return;
    this.disposed = true;
    this.model.dispose();
  }
}

class TfjsGraphModel implements LoadedModel {
  readonly backend: string;
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
  /** Graphs with control flow or dynamic shapes only run through executeAsync; found at warm-up. */
  needsAsync = false;
  private disposed = false;

  constructor(
    private readonly tfjs: TfjsBackend,
    private readonly model: TF.GraphModel,
    signature: Record<string, unknown> | undefined,
  ) {
    this.backend = tfjs.name;
    // inputNodes/outputNodes carry the signature keys when there is a signature (Keras input names
    // for a converted SavedModel); inputs/outputs list the same tensors in the same order.
    this.inputs = model.inputNodes.map((node, i) => graphSpec(node, model.inputs[i], signature?.['inputs']));
    this.outputs = model.outputNodes.map((node, i) => graphSpec(node, model.outputs[i], signature?.['outputs']));
  }

  async run(feeds: Readonly<Record<string, Tensor>>): Promise<Record<string, Tensor>> {
    return this.runSync(feeds) ?? this.runAsync(feeds);
  }

  /** execute() is synchronous, except for graphs that need executeAsync. */
  runSync(feeds: Readonly<Record<string, Tensor>>): Record<string, Tensor> | null {
    if (this.needsAsync) return null;
    const { tf } = this.tfjs;
    const nodes = this.model.inputNodes;
    const out: Record<string, Tensor> = {};
    try {
      tf.tidy(() => {
        const xs: TF.NamedTensorMap = {};
        this.inputs.forEach((spec, i) => (xs[nodes[i]!] = toTfTensor(tf, spec, feeds[spec.name])));
        this.collect(this.model.execute(xs, this.model.outputNodes), out);
      });
    } catch (err) {
      throw inferenceFailed(err);
    }
    return out;
  }

  private collect(ys: TF.Tensor | TF.Tensor[], out: Record<string, Tensor>): void {
    (Array.isArray(ys) ? ys : [ys]).forEach((y, i) => (out[this.outputs[i]!.name] = fromTfTensor(y, this.tfjs.kind === 'cpu')));
  }

  private async runAsync(feeds: Readonly<Record<string, Tensor>>): Promise<Record<string, Tensor>> {
    const { tf } = this.tfjs;
    const nodes = this.model.inputNodes;
    const out: Record<string, Tensor> = {};
    try {
      // tidy cannot span an await: dispose the feeds and results by hand.
      const xs: TF.NamedTensorMap = {};
      try {
        this.inputs.forEach((spec, i) => (xs[nodes[i]!] = toTfTensor(tf, spec, feeds[spec.name])));
        const ys = await this.model.executeAsync(xs, this.model.outputNodes);
        try {
          this.collect(ys, out);
        } finally {
          tf.dispose(ys);
        }
      } finally {
        tf.dispose(Object.values(xs));
      }
      return out;
    } catch (err) {
      throw inferenceFailed(err);
    }
  }

  async dispose(): Promise<void> {
    // tfjs throws on a second dispose; ours is idempotent like the other runtimes'.
    if (this.disposed) return;
    this.disposed = true;
    this.model.dispose();
  }
}

interface SignatureEntry {
  name?: string;
  dtype?: string;
  tensorShape?: { dim?: { size?: string | number }[]; unknownRank?: boolean };
}

/** A graph tensor's spec; converters leave output shapes out of the graph, so fall back to the signature. */
function graphSpec(node: string, info: TF.ModelTensorInfo | undefined, signature: unknown): TensorSpec {
  const name = stripOutputIndex(node);
  const entries = Object.entries((signature ?? {}) as Record<string, SignatureEntry>);
  const entry = entries.find(([key, e]) => key === node || e.name === node || stripOutputIndex(e.name ?? '') === name)?.[1];
  const dims = entry?.tensorShape?.unknownRank === true ? undefined : entry?.tensorShape?.dim?.map((d) => Number(d.size ?? -1));
  const shape = info?.shape ?? dims;
  const dtype = info?.dtype ?? (entry?.dtype === 'DT_INT32' || entry?.dtype === 'DT_INT64' ? 'int32' : entry?.dtype === 'DT_FLOAT' ? 'float32' : entry?.dtype);
  return tfjsSpec(name, dtype, shape);
}

/**
 * Ops in the part of the graph that computes the outputs which tfjs has no mapping for. Reads the
 * executor's parsed graph, which GraphModel does not expose in its types (tfjs-converter 4.x shape);
 * if that shape changes this finds nothing and the warm-up run still reports the op.
 */
function unknownGraphOps(model: TF.GraphModel): string[] {
  interface Node { op: string; category?: string; inputs?: Node[] }
  const graph = (model as unknown as { executor?: { graph?: { outputs?: Node[] } } }).executor?.graph;
  const stack = [...(graph?.outputs ?? [])];
  const seen = new Set<Node>();
  const ops = new Set<string>();
  while (stack.length > 0) {
    const node = stack.pop()!;
    if (seen.has(node)) continue;
    seen.add(node);
    if (node.category === undefined) ops.add(node.op);
    stack.push(...(node.inputs ?? []));
  }
  return [...ops];
}

async function loadLayers(tfjs: TfjsBackend, handler: TF.io.IOHandler): Promise<TfjsLayersModel> {
  try {
    return new TfjsLayersModel(tfjs, await tfjs.tf.loadLayersModel(handler, { strict: true }));
  } catch (err) {
    const message = tfjsMessage(err);
    const unknown = /Unknown (layer|activation|initializer|regularizer|constraint): ([^.\s]+)/.exec(message);
    if (unknown !== null) {
      throw new ServeError('MODEL_UNSUPPORTED', `the model uses ${unknown[1]} class "${unknown[2]}", which TensorFlow.js does not provide`, { class: unknown[2] }, { cause: err });
    }
    throw new ServeError('MODEL_INVALID', `not a loadable TF.js layers model: ${message}`, undefined, { cause: err });
  }
}

async function loadGraph(tfjs: TfjsBackend, handler: TF.io.IOHandler, signature: Record<string, unknown> | undefined): Promise<TfjsGraphModel> {
  let model: TF.GraphModel;
  try {
    model = await tfjs.tf.loadGraphModel(handler);
  } catch (err) {
    throw unsupportedOp(err, tfjs) ?? new ServeError('MODEL_INVALID', `not a loadable TF.js graph model: ${tfjsMessage(err)}`, undefined, { cause: err });
  }
  const unknown = unknownGraphOps(model);
  if (unknown.length > 0) {
    model.dispose();
    const list = unknown.map((op) => `"${op}"`).join(', ');
    throw new ServeError('MODEL_UNSUPPORTED', `the model uses op${unknown.length > 1 ? 's' : ''} ${list}, which TensorFlow.js cannot run`, { ops: unknown });
  }
  return new TfjsGraphModel(tfjs, model, signature);
}

/**
 * One run on zeros at load: compiles the backend's kernels before the first request, tells whether a
 * graph needs executeAsync, and surfaces ops the backend lacks as MODEL_UNSUPPORTED at publish time.
 * Other failures are left to real requests: zeros are not a valid input for every model.
 */
async function warmUp(model: TfjsLayersModel | TfjsGraphModel, tfjs: TfjsBackend): Promise<void> {
  const feeds = zeroFeeds(model.inputs);
  if (feeds === null) return;
  try {
    await model.run(feeds);
  } catch (err) {
    const cause = err instanceof ServeError ? (err.cause ?? err) : err;
    if (model instanceof TfjsGraphModel && !model.needsAsync && /executeAsync/.test(tfjsMessage(cause))) {
      model.needsAsync = true;
      return warmUp(model, tfjs);
    }
    const unsupported = unsupportedOp(cause, tfjs);
    if (unsupported !== null) throw unsupported;
  }
}

/** Serves TF.js layers and graph models (model.json + weight shards) on the process's tfjs backend. */
export const tfjsRuntime: ModelRuntime = {
  format: 'tfjs',
  async load(dir: string, mainFile: string): Promise<LoadedModel> {
    const tfjs = await initTfjsBackend();
    const { kind, artifacts } = await readTfjsArtifacts(dir, mainFile);
    const handler = fromArtifacts(artifacts);
    const model = kind === 'layers-model' ? await loadLayers(tfjs, handler) : await loadGraph(tfjs, handler, artifacts.signature);
    try {
      await warmUp(model, tfjs);
    } catch (err) {
      await model.dispose();
      throw err;
    }
    return model;
  },
};
