import { ServeError } from '../../../errors.js';
import { isLayerEntry, type LayerEntry } from './layer-classes.js';

/**
 * Keras 3 (`.keras`) configs say the same things as Keras 2 configs in a newer dialect; TF.js reads
 * only the Keras 2 one. The differences handled here (keras/src/saving/serialization_lib.py,
 * keras/src/models/functional.py):
 * - every object carries `module` and `registered_name`, layers also `build_config`;
 * - dtypes are DTypePolicy objects instead of strings;
 * - InputLayer has `batch_shape` instead of `batch_input_shape`;
 * - a functional layer's inbound nodes are call records `{ args: [KerasTensor...], kwargs }` whose
 *   tensors point back through `keras_history: [layer, node, tensor]`, instead of
 *   `[[layer, node, tensor, kwargs], ...]`;
 * - `input_layers` / `output_layers` may be a single [layer, node, tensor] or a dict of them.
 */

const DROPPED_KEYS = new Set(['module', 'registered_name', 'build_config', 'compile_config', 'shared_object_id']);
const DTYPE_POLICIES = new Set(['DTypePolicy', 'FloatDTypePolicy', 'Policy', 'DTypePolicyMap']);

type Json = unknown;
type Record_ = Record<string, Json>;

function isRecord(value: Json): value is Record_ {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** "float32" from a DTypePolicy; mixed precision computes in float16, which tfjs lacks, so float32. */
function policyDtype(policy: Record_): string {
  const name = isRecord(policy['config']) ? String(policy['config']['name'] ?? 'float32') : 'float32';
  return name.startsWith('mixed_') ? 'float32' : name;
}

/** [layer, node, tensor] of a serialized KerasTensor, or null for anything else. */
function kerasHistory(value: Json): [string, number, number] | null {
  if (!isRecord(value) || value['class_name'] !== '__keras_tensor__' || !isRecord(value['config'])) return null;
  const history = value['config']['keras_history'];
  if (!Array.isArray(history) || typeof history[0] !== 'string') return null;
  return [history[0], Number(history[1] ?? 0), Number(history[2] ?? 0)];
}

/** Every KerasTensor in a call's args, in order (Add and Concatenate take a list of them). */
function tensorsIn(value: Json): [string, number, number][] {
  const history = kerasHistory(value);
  if (history !== null) return [history];
  if (Array.isArray(value)) return value.flatMap(tensorsIn);
  return [];
}

/** Keras 3 call records -> Keras 2 inbound nodes: [[[layer, node, tensor, kwargs], ...], ...]. */
function translateInboundNodes(nodes: Json): Json {
  if (!Array.isArray(nodes)) return nodes;
  return nodes.map((node) => {
    if (!isRecord(node) || !('args' in node)) return translate(node);
    const kwargs = isRecord(node['kwargs']) ? node['kwargs'] : {};
    const plainKwargs = Object.fromEntries(Object.entries(kwargs).filter(([, v]) => tensorsIn(v).length === 0).map(([k, v]) => [k, translate(v)]));
    if (Object.values(kwargs).some((v) => tensorsIn(v).length > 0)) {
      throw new ServeError('MODEL_UNSUPPORTED', 'a layer is called with tensors as keyword arguments (e.g. mask=...), which TF.js layers cannot load');
    }
    return tensorsIn(node['args']).map(([layer, nodeIndex, tensorIndex]) => [layer, nodeIndex, tensorIndex, plainKwargs]);
  });
}

/** input_layers / output_layers as a list of [layer, node, tensor]. */
function translateEndpoints(value: Json): Json {
  if (Array.isArray(value) && typeof value[0] === 'string') return [value];
  if (isRecord(value)) return Object.values(value).map((v) => (Array.isArray(v) && typeof v[0] === 'string' ? v : translate(v)));
  return value;
}

function translate(value: Json): Json {
  if (Array.isArray(value)) return value.map(translate);
  if (!isRecord(value)) return value;
  if (typeof value['class_name'] === 'string' && DTYPE_POLICIES.has(value['class_name'])) return policyDtype(value);
  const out: Record_ = {};
  for (const [key, v] of Object.entries(value)) {
    if (DROPPED_KEYS.has(key)) continue;
    if (key === 'batch_shape') out['batch_input_shape'] = v;
    else if (key === 'inbound_nodes') out[key] = translateInboundNodes(v);
    else if (key === 'input_layers' || key === 'output_layers') out[key] = translateEndpoints(v);
    else out[key] = translate(v);
  }
  return out;
}

/** A Keras 3 model config (config.json of a `.keras` file) in the Keras 2 dialect TF.js reads. */
export function translateKeras3Config(config: unknown): LayerEntry {
  const translated = translate(config);
  if (!isLayerEntry(translated)) throw new ServeError('MODEL_INVALID', 'config.json does not describe a Keras model (no class_name/config)');
  return translated;
}
