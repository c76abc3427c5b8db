import { ServeError } from '../../../errors.js';
import type { KerasInputPreprocessing, KerasPreprocessingLayer } from '../../../model/index.js';
import type { H5Array } from './h5-file.js';
import { KERAS_CENTER_CROP, KERAS_RESIZING } from '../../runtimes/keras-image-layers.js';
import { isLayerEntry, type LayerEntry } from './layer-classes.js';

/**
 * A Normalization layer's adapted statistics as the file stores them, found by the chain of layer
 * names from the top model down to the layer; null when the file has none for it.
 */
export type NormalizationWeightsReader = (path: readonly string[]) => { mean: H5Array; variance: H5Array } | null;

/** Keras's backend.epsilon(): Normalization divides by max(sqrt(variance), epsilon). */
const EPSILON = 1e-7;
const MODEL_CLASSES = new Set(['Sequential', 'Model', 'Functional']);

/** What a rewrite found: the config TF.js can build, and each Normalization's (x - mean) / sd by layer name. */
export interface TfjsRewrite {
  readonly config: LayerEntry;
  readonly normalizations: ReadonlyMap<string, { mean: number[]; sd: number[] }>;
}

const numbers = (v: unknown): number[] | null => {
  if (typeof v === 'number') return [v];
  if (Array.isArray(v)) {
    const flat = v.flat(Infinity);
    return flat.every((x) => typeof x === 'number') ? (flat as number[]) : null;
  }
  return null;
};

/** A scalar when every value is the same (one broadcast number serves any shape), else the vector. */
const compact = (values: number[]): number | number[] => (values.every((v) => v === values[0]) ? values[0]! : values);

/**
 * Keras's Normalization computes (x - mean) / max(sqrt(variance), epsilon); TF.js has no such
 * layer, so it becomes a Rescaling with scale 1/sd and offset -mean/sd, whose multiply and add
 * broadcast over the last axis as Keras's statistics do (axis=-1, the default). Statistics come
 * from the config (mean= and variance= given to the constructor) or, when adapted, from the file.
 */
function rewriteNormalization(entry: LayerEntry, path: readonly string[], read: NormalizationWeightsReader, found: Map<string, { mean: number[]; sd: number[] }>): LayerEntry {
  const c = entry.config;
  const name = String(c['name'] ?? 'normalization');
  const refuse = (why: string): never => {
    throw new ServeError('MODEL_UNSUPPORTED', `layer "${name}" is a Normalization layer ${why}`, { layer: name, class: 'Normalization' });
  };
  if (c['invert'] === true) refuse('with invert=True, which inferbox does not convert');
  const axis = Array.isArray(c['axis']) && c['axis'].length === 1 ? c['axis'][0] : c['axis'];
  if (axis !== -1 && axis !== null && axis !== undefined) refuse(`over axis ${JSON.stringify(c['axis'])}; only the last axis (axis=-1, the default) or none is converted`);
  let mean = numbers(c['mean']);
  let variance = numbers(c['variance']);
  if (mean === null || variance === null) {
    const stored = read([...path, name]);
    if (stored === null) refuse('without mean and variance in its config nor adapted statistics in the file');
    mean = [...stored!.mean.data];
    variance = [...stored!.variance.data];
  }
  if (mean.length !== variance.length && mean.length !== 1 && variance.length !== 1) refuse(`with ${mean.length} means and ${variance.length} variances`);
  const n = Math.max(mean.length, variance.length);
  const m = Array.from({ length: n }, (_, i) => mean![mean!.length === 1 ? 0 : i]!);
  const sd = Array.from({ length: n }, (_, i) => Math.max(Math.sqrt(variance![variance!.length === 1 ? 0 : i]!), EPSILON));
  found.set(name, { mean: m, sd });
  const config: Record<string, unknown> = { name, trainable: false, scale: compact(sd.map((s) => 1 / s)), offset: compact(m.map((x, i) => -x / sd[i]!)) };
  if (c['dtype'] !== undefined) config['dtype'] = c['dtype'];
  return { ...entry, class_name: 'Rescaling', config } as LayerEntry;
}

/**
 * Keras's Resizing as the KerasResizing class (runtimes/keras-image-layers.ts), which computes what
 * Keras does; interpolations and layouts it does not implement are refused, naming the layer.
 */
function rewriteResizing(entry: LayerEntry): LayerEntry {
  const c = entry.config;
  const name = String(c['name'] ?? 'resizing');
  const interpolation = c['interpolation'] ?? 'bilinear';
  const refuse = (why: string): never => {
    throw new ServeError('MODEL_UNSUPPORTED', `layer "${name}" is a Resizing layer ${why}`, { layer: name, class: 'Resizing' });
  };
  if (interpolation !== 'bilinear' && interpolation !== 'nearest') refuse(`with interpolation "${String(interpolation)}"; inferbox serves "bilinear" and "nearest"`);
  if (c['data_format'] === 'channels_first') refuse('with data_format "channels_first"; inferbox serves channels_last');
  return { ...entry, class_name: KERAS_RESIZING, config: { ...c, interpolation } } as LayerEntry;
}

/** Keras's CenterCrop as KerasCenterCrop (runtimes/keras-image-layers.ts); channels_first is refused. */
function rewriteCenterCrop(entry: LayerEntry): LayerEntry {
  const name = String(entry.config['name'] ?? 'center_crop');
  if (entry.config['data_format'] === 'channels_first') {
    throw new ServeError('MODEL_UNSUPPORTED', `layer "${name}" is a CenterCrop layer with data_format "channels_first"; inferbox serves channels_last`, { layer: name, class: 'CenterCrop' });
  }
  return { ...entry, class_name: KERAS_CENTER_CROP } as LayerEntry;
}

/**
 * The config with every Normalization (nested models included) replaced by the Rescaling that
 * computes it, every Resizing by KerasResizing and every CenterCrop by KerasCenterCrop.
 */
export function rewriteForTfjs(root: LayerEntry, read: NormalizationWeightsReader): TfjsRewrite {
  const found = new Map<string, { mean: number[]; sd: number[] }>();
  const visit = (entry: LayerEntry, path: readonly string[]): LayerEntry => {
    if (entry.class_name === 'Normalization') return rewriteNormalization(entry, path, read, found);
    if (entry.class_name === 'Resizing') return rewriteResizing(entry);
    if (entry.class_name === 'CenterCrop') return rewriteCenterCrop(entry);
    const config: Record<string, unknown> = Array.isArray(entry.config) ? { layers: entry.config } : entry.config;
    if (!MODEL_CLASSES.has(entry.class_name) || !Array.isArray(config['layers'])) return entry;
    // The top model's name is not part of a layer's path; a nested model's is.
    const inner = [...path, String(config['name'] ?? '')];
    const layers = (config['layers'] as unknown[]).map((l) => (isLayerEntry(l) ? visit(l, inner) : l));
    return { ...entry, config: Array.isArray(entry.config) ? layers : { ...config, layers } } as LayerEntry;
  };
  const topLayers = Array.isArray(root.config) ? root.config : root.config['layers'];
  if (!Array.isArray(topLayers)) return { config: root, normalizations: found };
  const layers = (topLayers as unknown[]).map((l) => (isLayerEntry(l) ? visit(l, []) : l));
  const config = { ...root, config: Array.isArray(root.config) ? layers : { ...root.config, layers } } as LayerEntry;
  return { config, normalizations: found };
}

const round = (x: number) => Number(x.toPrecision(6));
const show = (v: unknown) => JSON.stringify(Array.isArray(v) ? v.map((x) => (typeof x === 'number' ? round(x) : x)) : typeof v === 'number' ? round(v) : v);

/** One preprocessing layer as a step: what it does, and for Resizing its size; null when it is not one. */
function stepOf(entry: LayerEntry, normalizations: TfjsRewrite['normalizations']): KerasPreprocessingLayer | null {
  const c = entry.config;
  const name = String(c['name'] ?? entry.class_name);
  switch (entry.class_name) {
    case 'Rescaling':
      return { class: 'Rescaling', name, does: `x * ${show(c['scale'] ?? 1)} + ${show(c['offset'] ?? 0)}` };
    case 'Normalization': {
      const stats = normalizations.get(name);
      return { class: 'Normalization', name, does: stats === undefined ? '(x - mean) / sqrt(variance)' : `(x - ${show(stats.mean)}) / ${show(stats.sd)}` };
    }
    case 'Resizing':
    case 'CenterCrop': {
      const height = Number(c['height']);
      const width = Number(c['width']);
      if (!(height > 0 && width > 0)) return null;
      const crop = entry.class_name === 'CenterCrop' || c['crop_to_aspect_ratio'] === true;
      return { class: entry.class_name, name, does: `${entry.class_name === 'Resizing' ? 'resize' : 'center crop'} to ${height}x${width}`, size: { height, width, crop } };
    }
    default:
      return null;
  }
}

/** The preprocessing layers a Sequential starts with, into nested Sequentials; `whole` when every layer is one. */
function sequentialLeading(entry: LayerEntry, normalizations: TfjsRewrite['normalizations']): { steps: KerasPreprocessingLayer[]; whole: boolean } {
  const config: Record<string, unknown> = Array.isArray(entry.config) ? { layers: entry.config } : entry.config;
  const layers = (Array.isArray(config['layers']) ? config['layers'] : []).filter(isLayerEntry).filter((l) => l.class_name !== 'InputLayer');
  const steps: KerasPreprocessingLayer[] = [];
  for (const layer of layers) {
    if (layer.class_name === 'Sequential') {
      const inner = sequentialLeading(layer, normalizations);
      steps.push(...inner.steps);
      if (!inner.whole) return { steps, whole: false };
      continue;
    }
    const step = stepOf(layer, normalizations);
    if (step === null) return { steps, whole: false };
    steps.push(step);
  }
  return { steps, whole: true };
}

/** Names of the tensors a Keras 2-dialect node list consumes: [[["name", 0, 0, {}], ...], ...]. */
function inboundNames(entry: LayerEntry): string[] {
  const nodes = (entry as { inbound_nodes?: unknown }).inbound_nodes;
  if (!Array.isArray(nodes)) return [];
  return nodes.flat().filter((i): i is unknown[] => Array.isArray(i) && typeof i[0] === 'string').map((i) => i[0] as string);
}

/**
 * The preprocessing layers each model input passes through first (Rescaling, Normalization,
 * Resizing, CenterCrop, in order, into nested Sequentials), before any other layer: what the model
 * does itself to what it is fed. `input` is the input layer's name; for a Sequential, `sequentialInput`.
 */
export function leadingPreprocessing(root: LayerEntry, normalizations: TfjsRewrite['normalizations'], sequentialInput: string): KerasInputPreprocessing[] {
  if (root.class_name === 'Sequential') {
    const { steps } = sequentialLeading(root, normalizations);
    return steps.length > 0 ? [{ input: sequentialInput, layers: steps }] : [];
  }
  const config = root.config;
  const layers = (Array.isArray(config['layers']) ? config['layers'] : []).filter(isLayerEntry);
  const out: KerasInputPreprocessing[] = [];
  for (const input of layers.filter((l) => l.class_name === 'InputLayer')) {
    const inputName = String(input.config['name'] ?? (input as { name?: unknown }).name ?? '');
    const steps: KerasPreprocessingLayer[] = [];
    let current = inputName;
    for (;;) {
      // Only a chain counts: the tensor feeds exactly one layer, which takes nothing else.
      const consumers = layers.filter((l) => inboundNames(l).includes(current));
      if (consumers.length !== 1 || new Set(inboundNames(consumers[0]!)).size !== 1) break;
      const next = consumers[0]!;
      const nested = next.class_name === 'Sequential' ? sequentialLeading(next, normalizations) : null;
      const step = nested === null ? stepOf(next, normalizations) : null;
      if (nested !== null) steps.push(...nested.steps);
      if (step !== null) steps.push(step);
      if ((nested === null && step === null) || (nested !== null && !nested.whole)) break;
      current = String(next.config['name'] ?? '');
    }
    if (steps.length > 0) out.push({ input: inputName, layers: steps });
  }
  return out;
}
