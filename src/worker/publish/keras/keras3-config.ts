import { ServeError } from '../../../errors.js';
import { isLayerEntry, type LayerEntry } from './layer-classes.js';

/**
 * Keras 3 (`.keras`) configs say the same things as Keras 2 configs in a newer dialect; TF.js reads
 * only the Keras 2 one. The differences handled here, as keras 3.x writes them
 * (keras/src/saving/serialization_lib.py, keras/src/models/functional.py, keras/src/layers/layer.py):
 * - every object carries `module` and `registered_name`, layers also `build_config`, the model
 *   `compile_config`;
 * - dtypes are DTypePolicy objects instead of strings (from 3.2; 3.0 and 3.1 wrote strings);
 * - InputLayer has `batch_shape` instead of `batch_input_shape`;
 * - a functional layer's inbound nodes are call records `{ args, kwargs }` whose tensors point back
 *   through `keras_history: [layer, node, tensor]`, instead of `[[layer, node, tensor, kwargs], ...]`;
 * - `input_layers` / `output_layers` mirror the structure the model was built with: a single
 *   [layer, node, tensor], a list of them, or a dict of them;
 * - a nested Sequential is not a Functional in Keras 3, so its first call is node 0; TF.js (like
 *   Keras 2) gives every nested model a node 0 of its own, so references to it move up by one
 *   (functional.py get_config: `kept_nodes = 1` only for Functional operations);
 * - Layer.__call__ records the mask it passes on as a `mask` keyword argument, and Embedding/Masking
 *   compute that mask with raw ops (`keras.src.ops.numpy.NotEqual`, `Any`) that then appear as
 *   graph nodes. TF.js propagates masks itself, so those keyword arguments and op nodes are dropped;
 * - LeakyReLU's `alpha` is `negative_slope`, the swish activation is called `silu`, and the
 *   Identity layer is new (TF.js knows Identity only as an initializer);
 *   Keras 3's `hard_sigmoid` is relu6(x + 3) / 6, not Keras 2's (and TF.js's) 0.2 x + 0.5.
 */

const DROPPED_KEYS = new Set(['module', 'registered_name', 'build_config', 'compile_config', 'shared_object_id']);
const DTYPE_POLICIES = new Set(['DTypePolicy', 'FloatDTypePolicy', 'Policy', 'DTypePolicyMap']);
// Keras 3 activations TF.js has under another name, and those whose Keras 3 formula differs from
// the TF.js function of the same name (keras/src/activations/activations.py).
const RENAMED_ACTIVATIONS: Record<string, string> = { silu: 'swish' };
const CHANGED_ACTIVATIONS = new Set(['hard_sigmoid', 'hard_silu', 'hard_swish']);
const MODEL_CLASSES = new Set(['Functional', 'Model', 'Sequential']);

type Json = unknown;
type JsonObject = Record<string, Json>;

function isRecord(value: Json): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** "float32" from a DTypePolicy; mixed precision computes in float16, which tfjs lacks, so float32. */
function policyDtype(policy: JsonObject, layerName: string): string {
  const cls = String(policy['class_name']);
  const name = isRecord(policy['config']) ? String(policy['config']['name'] ?? 'float32') : 'float32';
  if (cls.startsWith('Quantized') || /int8|int4|float8/.test(name)) {
    throw new ServeError('MODEL_UNSUPPORTED', `layer "${layerName}" is quantized (dtype policy ${name}); TF.js cannot serve quantized Keras layers: save the model before quantize()`, { layer: layerName });
  }
  return name.startsWith('mixed_') ? 'float32' : name;
}

/**
 * DTypePolicy objects -> dtype strings, in any Keras config. tf.keras 2.4+ writes them too, for mixed
 * precision: `"dtype": {"class_name": "Policy", "config": {"name": "mixed_float16"}}`.
 */
export function dtypePoliciesToStrings(value: Json, layerName = ''): Json {
  if (Array.isArray(value)) return value.map((v) => dtypePoliciesToStrings(v, layerName));
  if (!isRecord(value)) return value;
  if (typeof value['class_name'] === 'string' && DTYPE_POLICIES.has(value['class_name'])) return policyDtype(value, layerName);
  if (typeof value['class_name'] === 'string' && value['class_name'].startsWith('Quantized')) return policyDtype(value, layerName);
  const name = typeof value['name'] === 'string' ? value['name'] : layerName;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, dtypePoliciesToStrings(v, name)]));
}

/** [layer, node, tensor] of a serialized KerasTensor, or null for anything else. */
function kerasHistory(value: Json): [string, number, number] | null {
  if (!isRecord(value) || value['class_name'] !== '__keras_tensor__' || !isRecord(value['config'])) return null;
  const history = value['config']['keras_history'];
  if (!Array.isArray(history) || typeof history[0] !== 'string') return null;
  return [history[0], Number(history[1] ?? 0), Number(history[2] ?? 0)];
}

/** Every KerasTensor in a call's args or kwargs, in order (Add and Concatenate take a list of them). */
function tensorsIn(value: Json): [string, number, number][] {
  const history = kerasHistory(value);
  if (history !== null) return [history];
  if (Array.isArray(value)) return value.flatMap(tensorsIn);
  if (isRecord(value) && value['class_name'] !== '__keras_tensor__') return Object.values(value).flatMap(tensorsIn);
  return [];
}

/** A raw Keras op in a functional graph (`x + 1`, `keras.ops.*`, a mask's NotEqual), not a layer. */
function isOpNode(entry: JsonObject): boolean {
  return typeof entry['module'] === 'string' && /^keras(\.src)?\.ops(\.|$)/.test(entry['module']);
}

function entryName(entry: JsonObject): string {
  const config = isRecord(entry['config']) ? entry['config'] : {};
  return String(entry['name'] ?? config['name'] ?? entry['class_name']);
}

/** A functional model's call records: the graph as Keras 3 writes it (Keras 2.13+ `.keras` files use node lists). */
function usesCallRecords(layers: JsonObject[]): boolean {
  return layers.some((l) => Array.isArray(l['inbound_nodes']) && l['inbound_nodes'].some((n) => isRecord(n) && 'args' in n));
}

interface GraphContext {
  /** Op nodes that only compute masks: dropped with the mask arguments that use them. */
  readonly maskOps: Set<string>;
  /** Nested Sequential models, whose node indices move up by one in TF.js. */
  readonly sequentials: Set<string>;
}

/**
 * The Keras 3 graph of one functional model, checked for what TF.js cannot express: op nodes whose
 * outputs feed layers (not just masks), and tensors passed as keyword arguments other than masks.
 */
function graphContext(layers: JsonObject[]): GraphContext {
  const ops = new Set(layers.filter(isOpNode).map(entryName));
  const sequentials = new Set(layers.filter((l) => l['class_name'] === 'Sequential').map(entryName));
  const maskOps = new Set<string>();
  for (const layer of layers) {
    if (isOpNode(layer)) continue;
    for (const node of Array.isArray(layer['inbound_nodes']) ? layer['inbound_nodes'] : []) {
      if (!isRecord(node) || !('args' in node)) continue;
      const opArg = tensorsIn(node['args']).find(([source]) => ops.has(source));
      if (opArg !== undefined) {
        const op = layers.find((l) => entryName(l) === opArg[0])!;
        throw new ServeError('MODEL_UNSUPPORTED', `layer "${entryName(layer)}" takes the output of "${opArg[0]}", a raw Keras operation (${String(op['class_name'])}) in the model graph, which TF.js layers cannot load: use a built-in layer instead of the operation`, { layer: opArg[0] });
      }
      const kwargs = isRecord(node['kwargs']) ? node['kwargs'] : {};
      for (const [key, value] of Object.entries(kwargs)) {
        const tensors = tensorsIn(value);
        if (tensors.length === 0) continue;
        if (key === 'mask' && tensors.every(([source]) => ops.has(source))) {
          tensors.forEach(([source]) => maskOps.add(source));
          continue;
        }
        throw new ServeError('MODEL_UNSUPPORTED', `layer "${entryName(layer)}" is called with a tensor as its "${key}" argument, which TF.js layers cannot load`, { layer: entryName(layer) });
      }
    }
  }
  // Ops feeding the mask ops (Masking computes any(not_equal(x, value))) are mask ops too.
  let grew = true;
  while (grew) {
    grew = false;
    for (const layer of layers) {
      if (!isOpNode(layer) || !maskOps.has(entryName(layer))) continue;
      for (const node of Array.isArray(layer['inbound_nodes']) ? layer['inbound_nodes'] : []) {
        for (const [source] of tensorsIn(node)) {
          if (ops.has(source) && !maskOps.has(source)) {
            maskOps.add(source);
            grew = true;
          }
        }
      }
    }
  }
  for (const layer of [...layers].reverse()) {
    if (isOpNode(layer) && !maskOps.has(entryName(layer))) {
      throw new ServeError('MODEL_UNSUPPORTED', `"${entryName(layer)}" is a raw Keras operation (${String(layer['class_name'])}) in the model graph, which TF.js layers cannot load: use a built-in layer instead of the operation`, { layer: entryName(layer) });
    }
  }
  return { maskOps, sequentials };
}

function endpoint([layer, node, tensor]: [string, number, number], graph: GraphContext): [string, number, number] {
  return [layer, graph.sequentials.has(layer) ? node + 1 : node, tensor];
}

/** Keras 3 call records -> Keras 2 inbound nodes: [[[layer, node, tensor, kwargs], ...], ...]. */
function translateInboundNodes(nodes: Json, graph: GraphContext | null, kerasMajor: number): Json {
  if (!Array.isArray(nodes)) return nodes;
  return nodes.map((node) => {
    if (!isRecord(node) || !('args' in node) || graph === null) return translate(node, kerasMajor);
    const kwargs = isRecord(node['kwargs']) ? node['kwargs'] : {};
    // `mask` is dropped even when null: TF.js passes each layer the mask of its input itself.
    const plainKwargs = Object.fromEntries(Object.entries(kwargs).filter(([k, v]) => k !== 'mask' && tensorsIn(v).length === 0).map(([k, v]) => [k, translate(v, kerasMajor)]));
    return tensorsIn(node['args']).map((history) => [...endpoint(history, graph), plainKwargs]);
  });
}

/** input_layers / output_layers as a list of [layer, node, tensor], in the order Keras flattens them. */
function translateEndpoints(value: Json, graph: GraphContext | null): Json {
  const isEndpoint = (v: Json): v is [string, number, number] => Array.isArray(v) && typeof v[0] === 'string';
  const flat = (v: Json): [string, number, number][] => {
    if (isEndpoint(v)) return [v];
    if (Array.isArray(v)) return v.flatMap(flat);
    // keras.tree flattens dicts in sorted key order.
    if (isRecord(v)) return Object.keys(v).sort().flatMap((k) => flat(v[k]));
    return [];
  };
  return flat(value).map((e) => (graph === null ? e : endpoint(e, graph)));
}

function translateActivation(value: Json, layerName: string, kerasMajor: number): Json {
  // keras.activations.serialize() writes a name; a registered function object holds it in `config`.
  let name = value;
  if (isRecord(value) && value['class_name'] === 'function' && typeof value['config'] === 'string' && String(value['module'] ?? 'keras').startsWith('keras')) name = value['config'];
  if (typeof name !== 'string') return name;
  if (kerasMajor >= 3 && CHANGED_ACTIVATIONS.has(name)) {
    throw new ServeError('MODEL_UNSUPPORTED', `layer "${layerName}" uses the ${name} activation, which Keras 3 computes from relu6(x + 3) / 6 while TF.js's computes 0.2 x + 0.5: TF.js would give other answers`, { layer: layerName });
  }
  return RENAMED_ACTIVATIONS[name] ?? name;
}

function translateModelLayers(layers: JsonObject[], kerasMajor: number): { layers: Json[]; graph: GraphContext | null } {
  layers.filter((l) => !isOpNode(l)).forEach(refuseCustomLayer);
  const graph = usesCallRecords(layers) ? graphContext(layers) : null;
  const kept = layers.filter((l) => graph === null || !graph.maskOps.has(entryName(l)));
  return { layers: kept.map((l) => translateLayer(l, graph, kerasMajor)), graph };
}

/**
 * A layer class registered by the user (`registered_name` "package>Name") or defined outside Keras:
 * refused even when it borrows a built-in class name, as its code may differ from the built-in's.
 */
function refuseCustomLayer(entry: JsonObject): void {
  const registered = entry['registered_name'];
  const module = entry['module'];
  const custom = (typeof registered === 'string' && registered.includes('>')) || (typeof module === 'string' && !/^(tf_)?keras(\.|$)/.test(module));
  if (!custom) return;
  const name = entryName(entry);
  const cls = String(entry['class_name']);
  throw new ServeError('MODEL_UNSUPPORTED', `layer "${name}" is a ${cls} layer, a custom or unknown layer class that TF.js does not provide (${typeof registered === 'string' ? `registered as "${registered}"` : `from module ${String(module)}`})`, { layer: name, class: cls });
}

function translateLayer(value: JsonObject, graph: GraphContext | null, kerasMajor: number): Json {
  const layerName = entryName(value);
  // Keras 3's Identity layer passes its input through; TF.js's "Identity" is an initializer.
  if (value['class_name'] === 'Identity' && String(value['module'] ?? '').startsWith('keras') && isRecord(value['config']) && 'name' in value['config']) {
    const { name, trainable, dtype } = value['config'];
    value = { ...value, class_name: 'Activation', config: { name, trainable, dtype, activation: 'linear' } };
  }
  const out: JsonObject = {};
  for (const [key, v] of Object.entries(value)) {
    if (DROPPED_KEYS.has(key)) continue;
    if (key === 'inbound_nodes') out[key] = translateInboundNodes(v, graph, kerasMajor);
    else if (key === 'config' && isRecord(v)) out[key] = translateLayerConfig(v, String(value['class_name']), layerName, kerasMajor);
    else out[key] = translate(v, kerasMajor);
  }
  return out;
}

/**
 * A Sequential's layers with an InputLayer first: Keras 3 puts one there when it builds the model
 * (models/sequential.py build), but a config can still carry only `build_input_shape`, which TF.js
 * does not read.
 */
function withInputLayer(layers: JsonObject[], config: JsonObject): JsonObject[] {
  const first = layers[0];
  const firstConfig = first !== undefined && isRecord(first['config']) ? first['config'] : {};
  if (first === undefined || first['class_name'] === 'InputLayer' || 'batch_shape' in firstConfig || 'batch_input_shape' in firstConfig || !Array.isArray(config['build_input_shape'])) return layers;
  const name = `${String(config['name'] ?? 'sequential')}_input`;
  return [{ class_name: 'InputLayer', config: { batch_shape: config['build_input_shape'], dtype: 'float32', name } }, ...layers];
}

function translateLayerConfig(config: JsonObject, className: string, layerName: string, kerasMajor: number): Json {
  if (MODEL_CLASSES.has(className) && Array.isArray(config['layers'])) {
    const entries = config['layers'].filter(isRecord);
    const { layers, graph } = translateModelLayers(className === 'Sequential' ? withInputLayer(entries, config) : entries, kerasMajor);
    const out: JsonObject = {};
    for (const [key, v] of Object.entries(config)) {
      if (key === 'layers') out[key] = layers;
      else if (key === 'input_layers' || key === 'output_layers') out[key] = translateEndpoints(v, graph);
      else out[key] = translate(v, kerasMajor);
    }
    return out;
  }
  const out: JsonObject = {};
  for (const [key, v] of Object.entries(config)) {
    if (key === 'quantization_config') {
      if (v !== null) throw new ServeError('MODEL_UNSUPPORTED', `layer "${layerName}" is quantized; TF.js cannot serve quantized Keras layers`, { layer: layerName });
      continue;
    }
    if ((key === 'layer' || key === 'backward_layer') && isRecord(v)) refuseCustomLayer(v);
    if (key === 'batch_shape') out['batch_input_shape'] = v;
    else if (key === 'dtype' && isRecord(v) && typeof v['class_name'] === 'string') out[key] = policyDtype(v, layerName);
    else if (key === 'negative_slope' && className === 'LeakyReLU') out['alpha'] = v;
    else if (key === 'activation' || key === 'recurrent_activation') out[key] = translateActivation(v, layerName, kerasMajor);
    else out[key] = translate(v, kerasMajor);
  }
  return out;
}

function translate(value: Json, kerasMajor: number): Json {
  if (Array.isArray(value)) return value.map((v) => translate(v, kerasMajor));
  if (!isRecord(value)) return value;
  if (typeof value['class_name'] === 'string' && (DTYPE_POLICIES.has(value['class_name']) || value['class_name'].startsWith('Quantized'))) return policyDtype(value, '');
  // A layer entry (a wrapped layer, a nested model): translated as a layer, without a graph of its own.
  if (typeof value['class_name'] === 'string' && isRecord(value['config'])) return translateLayer(value, null, kerasMajor);
  const out: JsonObject = {};
  for (const [key, v] of Object.entries(value)) {
    if (DROPPED_KEYS.has(key)) continue;
    out[key] = translate(v, kerasMajor);
  }
  return out;
}

/**
 * A Keras 3 model config (config.json of a `.keras` file) in the Keras 2 dialect TF.js reads.
 * `kerasVersion` is metadata.json's: Keras 2.13-2.15 also wrote `.keras` files, in Keras 2 terms.
 * Throws MODEL_UNSUPPORTED naming the layer for what TF.js would compute differently or cannot load.
 */
export function translateKeras3Config(config: unknown, kerasVersion?: string): LayerEntry {
  const major = Number(/^(\d+)\./.exec(kerasVersion ?? '')?.[1] ?? 3);
  const translated = isRecord(config) && typeof config['class_name'] === 'string' && isRecord(config['config']) ? translateLayer(config, null, major) : translate(config, major);
  if (!isLayerEntry(translated)) throw new ServeError('MODEL_INVALID', 'config.json does not describe a Keras model (no class_name/config)');
  return translated;
}
