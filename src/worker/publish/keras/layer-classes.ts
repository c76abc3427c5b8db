import { ServeError } from '../../../errors.js';
import type { Tfjs } from '../../runtimes/tfjs-backend.js';

/** A Keras layer entry in a model config: { class_name, config } (Keras 2 style, after translation). */
export interface LayerEntry {
  readonly class_name: string;
  readonly config: Record<string, unknown>;
}

export function isLayerEntry(value: unknown): value is LayerEntry {
  return typeof value === 'object' && value !== null && typeof (value as LayerEntry).class_name === 'string' &&
    typeof (value as LayerEntry).config === 'object' && (value as LayerEntry).config !== null;
}

/** Every layer entry in a model config, nested models and wrapped layers (Bidirectional, TimeDistributed) included. */
export function* walkLayers(entry: LayerEntry): Generator<LayerEntry> {
  yield entry;
  // Keras 2.0-2.1 wrote a Sequential's config as the bare list of its layers.
  const config: Record<string, unknown> = Array.isArray(entry.config) ? { layers: entry.config } : entry.config;
  const { layers, layer } = config;
  if (Array.isArray(layers)) for (const child of layers) if (isLayerEntry(child)) yield* walkLayers(child);
  if (isLayerEntry(layer)) yield* walkLayers(layer);
  if (isLayerEntry(config['backward_layer'])) yield* walkLayers(config['backward_layer']);
}

// Keras 1 layer options that Keras 2 renamed; a config using them was written by Keras 1 (Embedding
// kept `output_dim`).
const KERAS1_KEYS = ['output_dim', 'nb_filter', 'nb_row', 'border_mode', 'init', 'W_regularizer', 'b_regularizer', 'subsample', 'dim_ordering'];
// Keras 1 only; Keras 2 split it into Add, Concatenate, ... layers.
const KERAS1_CLASSES = new Set(['Merge', 'Highway', 'MaxoutDense', 'TimeDistributedDense']);

/** Refuses Keras 1 models, from the file's keras_version or, when it has none, the config's vocabulary. */
export function refuseKeras1(root: LayerEntry, kerasVersion: string | undefined): void {
  const major = kerasVersion === undefined ? undefined : /^(\d+)\./.exec(kerasVersion)?.[1];
  if (major === '1') {
    throw new ServeError('MODEL_UNSUPPORTED', `Keras 1 models are not supported (keras_version ${kerasVersion}): load it in Keras 2 and save it again`, { kerasVersion });
  }
  if (major !== undefined) return;
  for (const layer of walkLayers(root)) {
    const key = KERAS1_KEYS.find((k) => k in layer.config && !(k === 'output_dim' && layer.class_name === 'Embedding'));
    if (KERAS1_CLASSES.has(layer.class_name) || key !== undefined) {
      const why = key !== undefined ? `option "${key}"` : `class ${layer.class_name}`;
      throw new ServeError('MODEL_UNSUPPORTED', `Keras 1 models are not supported (layer "${String(layer.config['name'])}" uses the Keras 1 ${why}): load it in Keras 2 and save it again`);
    }
  }
}

// Keras's preprocessing augmentation layers: random at training time, identity at inference, and
// absent from TF.js (bar RandomWidth); refused so users strip them before exporting.
const AUGMENTATION = /^(Random[A-Z]\w*|RandAugment|AugMix|CutMix|MixUp|Solarization)$/;
// Keras 3 models nest these class names; TF.js calls them Model / Functional.
const MODEL_CLASSES = new Set(['Sequential', 'Model', 'Functional']);

/**
 * Refuses layers TF.js cannot build, naming the class: data augmentation, Lambda (Python code),
 * TFOpLambda, custom classes and anything else tfjs-layers has not registered.
 */
export function refuseUnservableLayers(root: LayerEntry, tf: Tfjs): void {
  refuseSilentDifferences(root);
  const registered = tf.serialization.SerializationMap.getMap().classNameMap;
  for (const layer of walkLayers(root)) {
    const cls = layer.class_name;
    const name = String(layer.config['name'] ?? cls);
    const refuse = (why: string) => {
      throw new ServeError('MODEL_UNSUPPORTED', `layer "${name}" is a ${cls} layer, ${why}`, { layer: name, class: cls });
    };
    if (AUGMENTATION.test(cls)) refuse('a data augmentation layer TF.js cannot serve: remove augmentation layers before saving the model');
    if (cls === 'Lambda') refuse('whose Python code cannot run outside Python: replace it with built-in layers');
    if (cls === 'TFOpLambda' || cls === 'SlicingOpLambda') refuse('a raw TensorFlow op TF.js layers cannot load: wrap the op in a built-in layer');
    if (!MODEL_CLASSES.has(cls) && !(cls in registered)) refuse('a custom or unknown layer class that TF.js does not provide');
  }
}

/** Layer options TF.js does not implement but would silently ignore, giving other answers than Keras. */
function silentDifference(layer: LayerEntry): string | null {
  const c = layer.config;
  const cls = layer.class_name;
  if (cls === 'GRU' && c['reset_after'] === true) {
    // tfjs-layers' GRUCell throws on reset_after; Keras's default since TF 2.0, and in Keras 3.
    return 'a GRU with reset_after=True (the Keras default since TF 2.0), which TF.js does not implement: export the model to ONNX (tf2onnx) instead';
  }
  if (/^Global(Average|Max)Pooling[123]D$/.test(cls) && c['keepdims'] === true) return 'a global pooling layer with keepdims=True, which TF.js ignores';
  if (cls === 'ReLU' && ((Number(c['negative_slope'] ?? 0) !== 0) || Number(c['threshold'] ?? 0) !== 0)) return 'a ReLU layer with negative_slope or threshold, which TF.js ignores';
  if (cls === 'LayerNormalization' && c['rms_scaling'] === true) return 'a LayerNormalization with rms_scaling=True, which TF.js ignores';
  if ((cls === 'Resizing' || cls === 'KerasResizing') && (c['pad_to_aspect_ratio'] === true || c['antialias'] === true)) return 'a Resizing layer with pad_to_aspect_ratio or antialias, which TF.js ignores';
  if (/^(Separable)?Conv[123]D(Transpose)?$/.test(cls) && Number(c['groups'] ?? 1) !== 1) return `a grouped convolution (groups=${String(c['groups'])}), which TF.js does not implement`;
  if (cls === 'Bidirectional' && isLayerEntry(c['backward_layer']) && isLayerEntry(c['layer'])) {
    // TF.js builds the backward layer as a copy of the forward one and ignores backward_layer.
    const comparable = (entry: LayerEntry) => JSON.stringify({ ...entry.config, name: null, go_backwards: null, zero_output_for_mask: null });
    if (comparable(c['backward_layer']) !== comparable(c['layer']) || c['backward_layer'].class_name !== c['layer'].class_name) {
      return 'a Bidirectional layer whose backward layer is configured differently from its forward layer, which TF.js cannot express';
    }
  }
  const inbound = (layer as { inbound_nodes?: unknown }).inbound_nodes;
  const nodes: unknown[] = Array.isArray(inbound) ? inbound : [];
  const trainingCall = nodes.flat().some((input) => Array.isArray(input) && typeof input[3] === 'object' && input[3] !== null && (input[3] as Record<string, unknown>)['training'] === true);
  if (trainingCall) return 'called with training=True in the saved graph, so Keras runs it in training mode (batch statistics, active dropout) even when predicting; TF.js predicts in inference mode: call it with training=False and save again';
  return null;
}

/**
 * Refuses layers whose saved options TF.js would ignore or compute differently, naming the layer:
 * serving them would answer differently from Keras without saying so.
 */
export function refuseSilentDifferences(root: LayerEntry): void {
  for (const layer of walkLayers(root)) {
    const why = silentDifference(layer);
    if (why === null) continue;
    const name = String(layer.config['name'] ?? layer.class_name);
    throw new ServeError('MODEL_UNSUPPORTED', `layer "${name}" is ${why}`, { layer: name, class: layer.class_name });
  }
}
