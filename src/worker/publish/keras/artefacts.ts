import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { io } from '@tensorflow/tfjs';
import type { KerasInputPreprocessing } from '../../../model/index.js';

/** The file names a converted model is stored under; tfjsRuntime.load(dir, TFJS_MODEL_FILE) serves them. */
export const TFJS_MODEL_FILE = 'model.json';
export const TFJS_WEIGHTS_FILE = 'weights.bin';

/** A TF.js layers-format model.json, as tfjs's own converter writes it. */
export interface TfjsLayersModelJson {
  readonly format: 'layers-model';
  readonly generatedBy: string;
  readonly convertedBy: string;
  readonly modelTopology: { readonly keras_version: string; readonly backend: string; readonly model_config: object };
  readonly weightsManifest: readonly { readonly paths: readonly string[]; readonly weights: readonly io.WeightsManifestEntry[] }[];
}

/** A Keras model converted to TF.js layers format, in memory. */
export interface ConvertedKerasModel {
  readonly modelJson: TfjsLayersModelJson;
  /** All weights, concatenated in weightSpecs order (little-endian float32/int32). */
  readonly weightData: ArrayBuffer;
  readonly weightSpecs: readonly io.WeightsManifestEntry[];
  /** The Keras version that wrote the original, e.g. "2.2.4-tf", "3.4.1"; "unknown" when the file does not say. */
  readonly kerasVersion: string;
  /** The preprocessing layers (Rescaling, Normalization, Resizing, CenterCrop) each input passes through first. */
  readonly preprocessing: readonly KerasInputPreprocessing[];
}

/**
 * Writes model.json and weights.bin into `dir` (which must exist) and returns the file names written.
 * The caller keeps the original upload beside them untouched; writes are plain, so `dir` should be a
 * staging directory that is renamed into place once complete.
 * @example const { mainFile } = await writeTfjsArtefacts(stagingDir, await convertKerasH5(bytes));
 */
export async function writeTfjsArtefacts(dir: string, converted: ConvertedKerasModel): Promise<{ mainFile: string; files: string[] }> {
  await writeFile(join(dir, TFJS_WEIGHTS_FILE), new Uint8Array(converted.weightData));
  await writeFile(join(dir, TFJS_MODEL_FILE), JSON.stringify(converted.modelJson));
  return { mainFile: TFJS_MODEL_FILE, files: [TFJS_MODEL_FILE, TFJS_WEIGHTS_FILE] };
}
