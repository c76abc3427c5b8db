import type * as TF from '@tensorflow/tfjs';
import { ServeError } from '../../../errors.js';
import { initTfjsBackend } from '../tfjs-backend.js';
import type { ConvertedKerasModel } from './artefacts.js';
import { buildLayersArtefacts } from './build-artefacts.js';
import { isDataset, isGroup, readArray, withH5File, type Group, type H5Array, type H5File } from './h5-file.js';
import { translateKeras3Config } from './keras3-config.js';
import { readZipEntries } from './zip.js';

const CONFIG = 'config.json';
const WEIGHTS = 'model.weights.h5';
const METADATA = 'metadata.json';

// Sub-objects whose variables come before the rest, in the order tfjs lists them (a Bidirectional's
// forward layer before its backward one; HDF5 itself lists group members alphabetically).
const SUB_OBJECT_ORDER = ['cell', 'forward_layer', 'backward_layer'];

function byKerasOrder(a: string, b: string): number {
  const rank = (k: string) => (SUB_OBJECT_ORDER.includes(k) ? SUB_OBJECT_ORDER.indexOf(k) : SUB_OBJECT_ORDER.length);
  return rank(a) - rank(b) || a.localeCompare(b);
}

/**
 * A Keras 3 object's variables: `<path>/vars/0..n` (numbered in creation order), then those of its
 * sub-objects (an RNN's `cell`, a Bidirectional's two layers).
 */
function collectVars(group: Group): H5Array[] {
  const arrays: H5Array[] = [];
  const vars = group.get('vars');
  if (isGroup(vars)) {
    const indices = vars.keys().sort((a, b) => Number(a) - Number(b));
    for (const index of indices) {
      const dataset = vars.get(index);
      if (isDataset(dataset)) arrays.push(readArray(dataset));
    }
  }
  for (const key of group.keys().filter((k) => k !== 'vars').sort(byKerasOrder)) {
    const child = group.get(key);
    if (isGroup(child)) arrays.push(...collectVars(child));
  }
  return arrays;
}

/**
 * Keras 3 weights file layout (keras/src/saving/saving_lib.py): `layers/<layer name>/vars/<i>`;
 * a nested model's layers sit under its own `layers/` group, walked in the nested model's order.
 */
function readLayerWeights(root: Group | H5File, layer: TF.layers.Layer): H5Array[] {
  const group = root.get(`layers/${layer.name}`);
  if (!isGroup(group)) return [];
  const nested = (layer as Partial<TF.LayersModel>).layers;
  if (nested === undefined) return collectVars(group);
  return nested.flatMap((sub) => (sub.weights.length === 0 ? [] : readLayerWeights(group, sub)));
}

function parseJsonEntry(bytes: Uint8Array, name: string): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch (err) {
    throw new ServeError('MODEL_INVALID', `${name} in the .keras file is not JSON: ${(err as Error).message}`, undefined, { cause: err });
  }
}

/**
 * Converts a Keras 3 `.keras` file (a zip of config.json, model.weights.h5 and metadata.json) into
 * TF.js layers artefacts, translating the config to the Keras 2 dialect TF.js reads. Sequential and
 * Functional models; the bytes are only read.
 * Throws MODEL_INVALID for files that are not such a model, MODEL_UNSUPPORTED for layers TF.js cannot
 * serve (named in the message).
 */
export async function convertKeras3(zipBytes: Uint8Array): Promise<ConvertedKerasModel> {
  const entries = readZipEntries(zipBytes, 'the .keras file', (name) => name === CONFIG || name === WEIGHTS || name === METADATA);
  const configBytes = entries.get(CONFIG);
  const weightBytes = entries.get(WEIGHTS);
  if (configBytes === undefined || weightBytes === undefined) {
    throw new ServeError('MODEL_INVALID', `the .keras file lacks ${configBytes === undefined ? CONFIG : WEIGHTS}: not a Keras 3 model file`);
  }
  const metadata = entries.has(METADATA) ? parseJsonEntry(entries.get(METADATA)!, METADATA) : {};
  const kerasVersion = typeof (metadata as { keras_version?: unknown }).keras_version === 'string' ? (metadata as { keras_version: string }).keras_version : undefined;
  const config = translateKeras3Config(parseJsonEntry(configBytes, CONFIG));
  const tfjs = await initTfjsBackend();
  return withH5File(weightBytes, `${WEIGHTS} in the .keras file`, (file) =>
    buildLayersArtefacts(tfjs, config, (layer) => readLayerWeights(file, layer), { kerasVersion: kerasVersion ?? 'unknown', backend: 'tensorflow' }),
  );
}
