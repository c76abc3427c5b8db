import { ServeError } from '../../../errors.js';
import { initTfjsBackend } from '../../runtimes/tfjs-backend.js';
import type { ConvertedKerasModel } from './artefacts.js';
import { buildLayersArtefacts } from './build-artefacts.js';
import { isDataset, isGroup, readArray, stringAttr, stringListAttr, withH5File, type Group, type H5Array } from './h5-file.js';
import { dtypePoliciesToStrings } from './keras3-config.js';
import { isLayerEntry, refuseKeras1, type LayerEntry } from './layer-classes.js';

/**
 * Keras 2 HDF5 layout (keras/saving/hdf5_format.py save_weights_to_hdf5_group): the root's
 * `model_config` attribute holds the architecture as JSON; `model_weights/<layer>` has a
 * `weight_names` attribute listing its datasets ("dense_6/kernel:0", "lstm/lstm_cell/kernel:0"),
 * relative to that group, in the layer's weight order (trainable, then non-trainable). A nested
 * model is one such group holding all its layers' weights ("sequential/dense/kernel:0" under
 * `model_weights/sequential`), all trainable ones first, as TF.js orders a nested model's weights.
 */
function readLayerWeights(weightsRoot: Group, layerName: string): H5Array[] {
  const group = weightsRoot.get(layerName);
  if (!isGroup(group)) return [];
  return stringListAttr(group, 'weight_names').map((name) => {
    const dataset = group.get(name);
    if (!isDataset(dataset)) throw new ServeError('MODEL_INVALID', `weight "${name}" of layer "${layerName}" is listed in the file but missing`);
    return { ...readArray(dataset), path: name };
  });
}

/**
 * A Normalization's adapted statistics: in its own group at the top, or in its nested model's group
 * as "<model>/<layer>/mean:0" and ".../variance:0".
 */
function readNormalizationStats(weightsRoot: Group, path: readonly string[]): { mean: H5Array; variance: H5Array } | null {
  const name = path.at(-1)!;
  const arrays = readLayerWeights(weightsRoot, path[0]!);
  const pick = (variable: string) => arrays.find((a) => {
    const parts = a.path.replace(/:\d+$/, '').split('/');
    return parts.at(-1) === variable && parts.at(-2) === name;
  });
  const mean = pick('mean');
  const variance = pick('variance');
  return mean === undefined || variance === undefined ? null : { mean, variance };
}

function parseModelConfig(text: string): LayerEntry {
  let config: unknown;
  try {
    config = JSON.parse(text);
  } catch (err) {
    throw new ServeError('MODEL_INVALID', `the model_config attribute is not JSON: ${(err as Error).message}`, undefined, { cause: err });
  }
  if (!isLayerEntry(config)) throw new ServeError('MODEL_INVALID', 'the model_config attribute does not describe a Keras model (no class_name/config)');
  // Mixed-precision models (tf.keras 2.4+) write dtype policy objects, which TF.js does not read.
  return dtypePoliciesToStrings(config) as LayerEntry;
}

/**
 * Converts a Keras 2 (tf.keras 2.x or keras 2.x) `.h5` file saved with `model.save()` into TF.js
 * layers artefacts. Sequential and Functional models; the bytes are only read.
 * Throws MODEL_INVALID for files that are not such a model, MODEL_UNSUPPORTED for Keras 1 files and
 * for layers TF.js cannot serve (named in the message).
 */
export async function convertKerasH5(bytes: Uint8Array): Promise<ConvertedKerasModel> {
  return withH5File(bytes, 'the Keras .h5 file', async (file) => {
    const configText = stringAttr(file, 'model_config');
    if (configText === undefined) {
      const weightsOnly = stringListAttr(file, 'layer_names').length > 0;
      throw new ServeError(
        'MODEL_INVALID',
        weightsOnly
          ? 'the .h5 file holds only weights (saved with save_weights()); save the whole model with model.save("model.h5")'
          : 'the .h5 file has no model_config attribute: not a Keras model saved with model.save()',
      );
    }
    const config = parseModelConfig(configText);
    const kerasVersion = stringAttr(file, 'keras_version');
    refuseKeras1(config, kerasVersion);
    const weightsRoot = file.get('model_weights');
    if (!isGroup(weightsRoot)) throw new ServeError('MODEL_INVALID', 'the .h5 file has no model_weights group: saved without weights?');
    const tfjs = await initTfjsBackend();
    return buildLayersArtefacts(tfjs, config, (layer) => readLayerWeights(weightsRoot, layer.name), (path) => readNormalizationStats(weightsRoot, path), {
      kerasVersion: kerasVersion ?? 'unknown',
      backend: stringAttr(file, 'backend') ?? 'tensorflow',
    });
  });
}
