import { basename, dirname, extname, isAbsolute, join, normalize } from 'node:path/posix';
import { ServeError } from '../../errors.js';
import { isHdf5 } from './keras/h5-file.js';
import { isZip, listZipEntries, readZipEntries } from './keras/zip.js';
import { tfjsModelKind, type TfjsModelKind } from '../runtimes/tfjs-artifacts.js';

/** One uploaded file (a multipart part or a zip entry). */
export interface UploadPart {
  /** The client's file name; for zip entries the path inside the archive ("web_model/model.json"). */
  readonly filename: string;
  readonly bytes: Uint8Array;
}

/** What a publish upload holds, and so how to store it. */
export type ModelUpload =
  /** A Keras 2 HDF5 model: convert with convertKerasH5(file.bytes). */
  | { readonly kind: 'keras-h5'; readonly file: UploadPart }
  /** A Keras 3 `.keras` zip: convert with convertKeras3(file.bytes). */
  | { readonly kind: 'keras3'; readonly file: UploadPart }
  /**
   * A Keras 3 model saved unzipped (`model.save(dir, zipped=False)`, or a Hugging Face Hub
   * download): config.json, model.weights.h5 and metadata.json side by side; convertKeras3Files.
   */
  | { readonly kind: 'keras3-dir'; readonly config: UploadPart; readonly weights: UploadPart; readonly metadata: UploadPart | null }
  /** A TF.js model: store model.json and its shards as they are, beside each other; format "tfjs". */
  | { readonly kind: 'tfjs'; readonly tfjsFormat: TfjsModelKind; readonly modelJson: UploadPart; readonly shards: readonly UploadPart[] }
  /** An ONNX file (by its extension); format "onnx". */
  | { readonly kind: 'onnx'; readonly file: UploadPart }
  /** Any other zip: unzipModelUpload(file) and detect again on its entries. */
  | { readonly kind: 'zip'; readonly file: UploadPart };

function parseModelJson(part: UploadPart): { modelJson: Record<string, unknown>; kind: TfjsModelKind } | null {
  if (part.bytes[0] !== 0x7b /* { */ && !part.filename.endsWith('.json')) return null;
  try {
    const json = JSON.parse(new TextDecoder().decode(part.bytes)) as Record<string, unknown>;
    const kind = typeof json === 'object' && json !== null ? tfjsModelKind(json) : null;
    return kind === null ? null : { modelJson: json, kind };
  } catch {
    return null;
  }
}

/** The parts model.json names in its weightsManifest, matched by path beside model.json or by file name. */
function findShards(modelJson: Record<string, unknown>, jsonPart: UploadPart, parts: readonly UploadPart[]): UploadPart[] {
  const manifest = Array.isArray(modelJson['weightsManifest']) ? (modelJson['weightsManifest'] as { paths?: unknown }[]) : [];
  const paths = manifest.flatMap((group) => (Array.isArray(group.paths) ? group.paths.map(String) : []));
  const base = dirname(jsonPart.filename);
  return paths.map((path) => {
    const wanted = normalize(join(base, path));
    const part = parts.find((p) => normalize(p.filename) === wanted) ?? parts.find((p) => basename(p.filename) === basename(path));
    if (part === undefined) throw new ServeError('MODEL_INVALID', `${basename(jsonPart.filename)} lists weight file "${path}", which was not uploaded`);
    return part;
  });
}

/** config.json with model.weights.h5 beside it: a Keras 3 model saved without zipping. */
function keras3Folder(parts: readonly UploadPart[]): Extract<ModelUpload, { kind: 'keras3-dir' }> | null {
  for (const config of parts.filter((p) => basename(p.filename) === 'config.json')) {
    const beside = (name: string) => parts.find((p) => normalize(p.filename) === normalize(join(dirname(config.filename), name)));
    const weights = beside('model.weights.h5');
    if (weights !== undefined) return { kind: 'keras3-dir', config, weights, metadata: beside('metadata.json') ?? null };
  }
  return null;
}

const ACCEPTED = 'inferbox serves ONNX (.onnx), Keras (.h5 saved by Keras 2, .keras saved by Keras 3) and TF.js (model.json with its weight files), each alone or in a zip';

/** Formats people upload by mistake, told by their bytes, with what to do instead. */
function knownOtherFormat(file: UploadPart, zipEntries: readonly string[] | null): string | null {
  if (zipEntries?.some((n) => n === 'data.pkl' || n.endsWith('/data.pkl'))) return 'a PyTorch checkpoint (torch.save); export it with torch.onnx.export and publish the .onnx';
  if (zipEntries?.some((n) => basename(n) === 'model.weights.npz') && zipEntries.some((n) => basename(n) === 'config.json')) return 'a Keras 3 model saved with weights_format="npz"; save it with the default, model.save("model.keras")';
  if (zipEntries?.some((n) => n === 'saved_model.pb' || n.endsWith('/saved_model.pb'))) return 'a TensorFlow SavedModel; convert it with tensorflowjs_converter or tf2onnx';
  if (file.bytes[0] === 0x80 && file.bytes[1] !== undefined && file.bytes[1] >= 2 && file.bytes[1] <= 5) return 'a Python pickle (pickle, joblib or torch.save); pickles run code when loaded, so they are never served: export to ONNX (skl2onnx, torch.onnx.export)';
  if (String.fromCharCode(...file.bytes.subarray(4, 8)) === 'TFL3') return 'a TensorFlow Lite model; publish the Keras or ONNX model it came from';
  return null;
}

function unsupported(file: UploadPart, zipEntries: readonly string[] | null): ServeError {
  const other = knownOtherFormat(file, zipEntries);
  const what = other === null ? 'not a model format inferbox recognises' : other;
  return new ServeError('MODEL_UNSUPPORTED', `"${file.filename}" is ${what}; ${ACCEPTED}`, { field: 'file' });
}

/**
 * Tells what a publish upload is from its bytes (names only break ties): a Keras .h5 (HDF5
 * signature), a Keras 3 .keras (a zip with config.json and model.weights.h5), a TF.js model.json
 * (JSON with modelTopology) with its weight shards, an .onnx file (or a file without an extension,
 * which is tried as ONNX), or another zip to open. Throws MODEL_UNSUPPORTED, naming the format when
 * it is a known other one (PyTorch, pickle, SavedModel, TFLite), and MODEL_INVALID when a TF.js
 * shard is missing.
 */
export function detectModelUpload(parts: readonly UploadPart[]): ModelUpload {
  if (parts.length === 0) throw new ServeError('MODEL_INVALID', 'no model file was uploaded', { field: 'file' });
  for (const part of parts) {
    const parsed = parseModelJson(part);
    if (parsed !== null) return { kind: 'tfjs', tfjsFormat: parsed.kind, modelJson: part, shards: findShards(parsed.modelJson, part, parts) };
  }
  if (parts.length > 1) {
    const keras3 = keras3Folder(parts);
    if (keras3 !== null) return keras3;
    const onnx = parts.filter((p) => extname(p.filename).toLowerCase() === '.onnx');
    if (onnx.length === 1) return { kind: 'onnx', file: onnx[0]! };
    const names = parts.map((p) => p.filename).join(', ');
    throw new ServeError('MODEL_UNSUPPORTED', `${parts.length} files (${names}) hold no TF.js model.json and not exactly one .onnx file; upload one model file, a zip, or model.json with its weight files`, { field: 'file' });
  }
  const file = parts[0]!;
  if (isHdf5(file.bytes)) return { kind: 'keras-h5', file };
  if (isZip(file.bytes)) {
    const names = listZipEntries(file.bytes, file.filename);
    if (names.includes('config.json') && names.includes('model.weights.h5')) return { kind: 'keras3', file };
    const other = knownOtherFormat(file, names);
    if (other !== null) throw unsupported(file, names);
    return { kind: 'zip', file };
  }
  const ext = extname(file.filename).toLowerCase();
  if ((ext === '.onnx' || ext === '') && knownOtherFormat(file, null) === null) return { kind: 'onnx', file };
  throw unsupported(file, null);
}

/**
 * The files of an uploaded zip (folders and macOS metadata left out), for detectModelUpload.
 * Entries whose path would leave the archive ("../x", "/etc/x") are refused.
 */
export function unzipModelUpload(zip: UploadPart, maxBytes?: number): UploadPart[] {
  const wanted = (name: string) => !name.endsWith('/') && !name.startsWith('__MACOSX/') && basename(name) !== '.DS_Store';
  const entries = readZipEntries(zip.bytes, zip.filename, wanted, maxBytes);
  return [...entries].map(([filename, bytes]) => {
    const normal = normalize(filename);
    if (normal.startsWith('../') || normal === '..' || isAbsolute(normal)) {
      throw new ServeError('MODEL_INVALID', `${zip.filename} holds "${filename}", a path outside the archive`);
    }
    return { filename: normal, bytes };
  });
}
