import type * as TF from '@tensorflow/tfjs';
import { ServeError } from '../../../errors.js';
import { PACKAGE_VERSION } from '../../../package-info.js';
import type { TfjsBackend } from '../../runtimes/tfjs-backend.js';
import { TFJS_WEIGHTS_FILE, type ConvertedKerasModel } from './artefacts.js';
import type { H5Array } from './h5-file.js';
import { refuseUnservableLayers, type LayerEntry } from './layer-classes.js';
import { leadingPreprocessing, rewriteForTfjs, type NormalizationWeightsReader } from './preprocessing-layers.js';

/** The arrays the file stores for one layer (nested models' layers included), in the file's order. */
export type LayerWeightsReader = (layer: TF.layers.Layer) => readonly H5Array[];

export interface KerasOrigin {
  readonly kerasVersion: string;
  readonly backend: string;
}

// Layers whose kernels Keras 2 flips when loading a file saved with the Theano backend, which
// convolves where TensorFlow cross-correlates (hdf5_format.py preprocess_weights_for_loading:
// conv_utils.convert_kernel on weights[0], and weights[1] of a ConvLSTM2D).
const CONV_LAYERS = new Set(['Conv1D', 'Conv2D', 'Conv3D', 'Conv2DTranspose', 'ConvLSTM2D']);

/** The kernel variables Keras would flip, through nested models and wrappers. */
function convKernels(layer: TF.layers.Layer): TF.LayerVariable[] {
  const nested = (layer as Partial<TF.LayersModel>).layers;
  if (nested !== undefined) return nested.flatMap(convKernels);
  const wrapped = (layer as { layer?: TF.layers.Layer; forwardLayer?: TF.layers.Layer; backwardLayer?: TF.layers.Layer });
  if (wrapped.forwardLayer !== undefined && wrapped.backwardLayer !== undefined) return [...convKernels(wrapped.forwardLayer), ...convKernels(wrapped.backwardLayer)];
  if (wrapped.layer !== undefined) return convKernels(wrapped.layer);
  const cls = layer.getClassName();
  if (!CONV_LAYERS.has(cls)) return [];
  return layer.weights.slice(0, cls === 'ConvLSTM2D' ? 2 : 1);
}

/** conv_utils.convert_kernel: every axis reversed but the last two (input and output channels). */
function flipSpatial(array: H5Array): H5Array {
  const shape = array.shape;
  const spatial = shape.slice(0, -2);
  const block = (shape.at(-2) ?? 1) * (shape.at(-1) ?? 1);
  const out = new (array.data.constructor as Float32ArrayConstructor)(array.data.length);
  const positions = spatial.reduce((n, d) => n * d, 1);
  for (let p = 0; p < positions; p++) {
    // p's coordinates, each mirrored, give the source position.
    let rest = p;
    let mirrored = 0;
    let stride = 1;
    for (let axis = spatial.length - 1; axis >= 0; axis--) {
      const size = spatial[axis]!;
      const coordinate = rest % size;
      rest = Math.floor(rest / size);
      mirrored += (size - 1 - coordinate) * stride;
      stride *= size;
    }
    out.set(array.data.subarray(mirrored * block, (mirrored + 1) * block), p * block);
  }
  return { ...array, data: out };
}

/**
 * The config as served: initialisers, regularisers and constraints only matter for training, and
 * Keras names some that TF.js lacks (Keras 3's OrthogonalInitializer, OrthogonalRegularizer), so
 * initialisers become Zeros and the others null. Zeros also keeps building cheap: Orthogonal and
 * friends on large matrices cost seconds on the CPU backend, for values that are thrown away.
 */
function forInference(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(forInference);
  if (typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    if (key.endsWith('_initializer') && v !== null) out[key] = { class_name: 'Zeros', config: {} };
    else if ((key.endsWith('_regularizer') || key.endsWith('_constraint')) && v !== null) out[key] = null;
    else out[key] = forInference(v);
  }
  return out;
}

async function buildModel(tf: TfjsBackend['tf'], config: LayerEntry): Promise<TF.LayersModel> {
  try {
    // The config came from JSON, so it is tfjs's PyJsonDict in all but type.
    return await tf.models.modelFromJSON({ modelTopology: config as unknown as TF.serialization.ConfigDict });
  } catch (err) {
    // The file is a Keras model; tfjs declining to build it means a feature it lacks.
    const message = (err instanceof Error ? err.message : String(err)).split('\n')[0];
    throw new ServeError('MODEL_UNSUPPORTED', `TensorFlow.js cannot build this Keras model: ${message}`, undefined, { cause: err });
  }
}

/** Strips Keras's ":0" tensor suffix: "dense_6/kernel:0" -> "dense_6/kernel". */
function weightName(path: string): string {
  return path.replace(/:\d+$/, '');
}

/**
 * The stored array for each of a layer's tfjs variables: by name where the file has names that end
 * with tfjs's ("dense_6/kernel"), else by position (Keras 3 files number their variables).
 */
function matchWeights(layer: TF.layers.Layer, stored: readonly H5Array[]): H5Array[] {
  const variables = layer.weights;
  if (stored.length !== variables.length) {
    throw new ServeError('MODEL_UNSUPPORTED', `layer "${layer.name}" has ${stored.length} weight arrays in the file but TF.js builds ${variables.length}`, { layer: layer.name });
  }
  return variables.map((v, i) => {
    const named = stored.filter((s) => weightName(s.path) === v.originalName || weightName(s.path).endsWith(`/${v.originalName}`));
    const array = named.length === 1 ? named[0]! : stored[i]!;
    const fileShape = `[${array.shape.join(',')}]`;
    if (fileShape !== `[${v.shape.join(',')}]`) {
      throw new ServeError('MODEL_UNSUPPORTED', `weight "${v.originalName}" of layer "${layer.name}" is ${fileShape} in the file but TF.js expects [${v.shape.join(',')}]`, { layer: layer.name });
    }
    return array;
  });
}

function asDtype(data: Float32Array | Int32Array, dtype: string): Float32Array | Int32Array {
  if (dtype === 'int32') return data instanceof Int32Array ? data : Int32Array.from(data);
  return data instanceof Float32Array ? data : Float32Array.from(data);
}

/**
 * Turns a Keras 2-style model config plus the file's weights into TF.js layers artefacts: builds the
 * model in tfjs (which also proves tfjs can serve it), pairs each variable with its stored array, and
 * writes the weights under tfjs's own names so tfjs loads them strictly.
 */
export async function buildLayersArtefacts(
  tfjs: TfjsBackend,
  kerasConfig: LayerEntry,
  readLayerWeights: LayerWeightsReader,
  readNormalization: NormalizationWeightsReader,
  origin: KerasOrigin,
): Promise<ConvertedKerasModel> {
  const rewrite = rewriteForTfjs(kerasConfig, readNormalization);
  refuseUnservableLayers(rewrite.config, tfjs.tf);
  const config = forInference(rewrite.config) as LayerEntry;
  const model = await buildModel(tfjs.tf, config);
  // A nested model's group in a Keras 2 file still lists a converted Normalization's statistics,
  // which its Rescaling does not take as weights.
  const converted = [...rewrite.normalizations.keys()];
  const ownArrays = (arrays: readonly H5Array[]) =>
    converted.length === 0 ? arrays : arrays.filter((a) => !converted.some((name) => a.path.startsWith(`${name}/`) || a.path.includes(`/${name}/`)));
  try {
    const weightSpecs: TF.io.WeightsManifestEntry[] = [];
    const chunks: Uint8Array[] = [];
    const flipped = new Set(origin.backend === 'theano' ? model.layers.flatMap(convKernels) : []);
    for (const layer of model.layers) {
      if (layer.weights.length === 0) continue;
      const arrays = matchWeights(layer, ownArrays(readLayerWeights(layer))).map((a, i) => (flipped.has(layer.weights[i]!) ? flipSpatial(a) : a));
      layer.weights.forEach((v, i) => {
        const data = asDtype(arrays[i]!.data, v.dtype);
        weightSpecs.push({ name: v.originalName, shape: v.shape.map(Number), dtype: v.dtype === 'int32' ? 'int32' : 'float32' });
        chunks.push(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      });
    }
    const weightData = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
    let offset = 0;
    for (const chunk of chunks) {
      weightData.set(chunk, offset);
      offset += chunk.byteLength;
    }
    return {
      modelJson: {
        format: 'layers-model',
        generatedBy: `keras v${origin.kerasVersion}`,
        convertedBy: `inferbox ${PACKAGE_VERSION}`,
        modelTopology: { keras_version: origin.kerasVersion, backend: origin.backend, model_config: config },
        weightsManifest: [{ paths: [TFJS_WEIGHTS_FILE], weights: weightSpecs }],
      },
      weightData: weightData.buffer,
      weightSpecs,
      kerasVersion: origin.kerasVersion,
      preprocessing: leadingPreprocessing(kerasConfig, rewrite.normalizations, model.inputs[0]?.sourceLayer.name ?? ''),
    };
  } finally {
    model.dispose();
  }
}
