import { readFile, stat, writeFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { ServeError } from '../../errors.js';
import type { PreparedUpload, SourceFormat, StagedUpload } from '../../protocol/messages.js';
import { detectModelUpload, unzipModelUpload, type ModelUpload, type UploadPart } from './detect-upload.js';
import { convertKeras3, convertKeras3Files, convertKerasH5, writeTfjsArtefacts, TFJS_MODEL_FILE, TFJS_WEIGHTS_FILE, type ConvertedKerasModel } from './keras/index.js';
import { prepareOnnxForServing } from './onnx-zipmap.js';

/** The name an ONNX model is served under when it came in a zip or without the .onnx extension. */
const ONNX_MODEL_FILE = 'model.onnx';

/** A staged upload read into memory, remembering where it is stored. */
interface StagedPart extends UploadPart {
  readonly stored: string;
}

async function prepareOnnx(dir: string, stored: string, bytes: Uint8Array | null, primary: string): Promise<PreparedUpload> {
  // An ONNX file found inside a zip, or uploaded under another name, is written where it is served from.
  if (bytes !== null && stored !== ONNX_MODEL_FILE) await writeFile(join(dir, ONNX_MODEL_FILE), bytes);
  const copied = bytes !== null && stored !== ONNX_MODEL_FILE;
  const serving = await prepareOnnxForServing(dir, copied ? ONNX_MODEL_FILE : stored).catch(() => ({ mainFile: copied ? ONNX_MODEL_FILE : stored, written: [] as string[], metadataProps: {} }));
  return { format: 'onnx', sourceFormat: 'onnx', kerasVersion: null, primary, mainFile: serving.mainFile, written: [...(copied ? [ONNX_MODEL_FILE] : []), ...serving.written], metadataProps: serving.metadataProps };
}

async function prepareKeras(dir: string, sourceFormat: SourceFormat, converted: ConvertedKerasModel, primary: string): Promise<PreparedUpload> {
  const { mainFile, files } = await writeTfjsArtefacts(dir, converted);
  return { format: 'tfjs', sourceFormat, kerasVersion: converted.kerasVersion, primary, mainFile, written: files, kerasPreprocessing: converted.preprocessing };
}

/**
 * A TF.js upload is stored as sent (under upload/) and served from one model.json + weights.bin:
 * the shards concatenated in manifest order (the byte stream tfjs assembles anyway) and the manifest
 * rewritten to name that one file. Shard names the client chose never reach a path we open.
 */
async function prepareTfjs(dir: string, upload: Extract<ModelUpload, { kind: 'tfjs' }>, primary: string): Promise<PreparedUpload> {
  const json = JSON.parse(new TextDecoder().decode(upload.modelJson.bytes)) as Record<string, unknown>;
  const groups = Array.isArray(json['weightsManifest']) ? (json['weightsManifest'] as { weights?: unknown }[]) : [];
  const weights = groups.flatMap((g) => (Array.isArray(g.weights) ? g.weights : []));
  const written = [TFJS_MODEL_FILE];
  if (upload.shards.length > 0) {
    await writeFile(join(dir, TFJS_WEIGHTS_FILE), Buffer.concat(upload.shards.map((s) => s.bytes)));
    written.push(TFJS_WEIGHTS_FILE);
  }
  const serving = { ...json, weightsManifest: upload.shards.length > 0 ? [{ paths: [TFJS_WEIGHTS_FILE], weights }] : [] };
  await writeFile(join(dir, TFJS_MODEL_FILE), JSON.stringify(serving));
  const sourceFormat = upload.tfjsFormat === 'graph-model' ? 'tfjs-graph' : 'tfjs-layers';
  return { format: 'tfjs', sourceFormat, kerasVersion: null, primary, mainFile: TFJS_MODEL_FILE, written };
}

/**
 * The publish-time step between "files arrived" and "a runtime can load them": tells the format from
 * the bytes, converts Keras files to TF.js artefacts, opens zips, and writes the serving files beside
 * the uploads in the staging folder `dir`. Runs on the scratch worker: h5wasm, fflate and the
 * converters read untrusted bytes. The uploads are left as they are.
 */
export async function prepareUpload(dir: string, uploads: readonly StagedUpload[], maxUnzippedBytes: number): Promise<PreparedUpload> {
  const only = uploads.length === 1 ? uploads[0]! : undefined;
  // Told as what it is, not as a runtime's complaint ("ModelProto does not have a graph") or an unknown format.
  if (only !== undefined && (await stat(join(dir, only.stored))).size === 0) {
    throw new ServeError('MODEL_INVALID', `the uploaded file "${only.filename}" is empty (0 bytes)`, { field: 'file' });
  }
  // A lone .onnx file is served in place; reading a large one into memory to sniff it would be waste.
  if (only !== undefined && extname(only.filename).toLowerCase() === '.onnx') return prepareOnnx(dir, only.stored, null, only.stored);

  const parts: StagedPart[] = await Promise.all(uploads.map(async (u) => ({ filename: u.filename, stored: u.stored, bytes: new Uint8Array(await readFile(join(dir, u.stored))) })));
  let upload = detectModelUpload(parts);
  // The version's identity is the file the user sent: the zip itself, model.json, or the one model file.
  const primary = (upload.kind === 'tfjs' ? (upload.modelJson as StagedPart) : upload.kind === 'keras3-dir' ? (upload.config as StagedPart) : (upload.file as StagedPart)).stored;
  if (upload.kind === 'zip') {
    const zip = upload.file;
    const entries = unzipModelUpload(zip, maxUnzippedBytes);
    const inner = entries.length === 0 ? null : detectModelUpload(entries);
    if (inner === null || inner.kind === 'zip') {
      throw new ServeError('MODEL_UNSUPPORTED', `${zip.filename} holds no model (${inner === null ? 'it is empty' : 'only another zip'}); zip model.json with its weight files, a .keras, an .h5 or an .onnx file`, { field: 'file' });
    }
    upload = inner;
  }
  switch (upload.kind) {
    case 'onnx':
      return prepareOnnx(dir, 'stored' in upload.file ? String(upload.file.stored) : '', upload.file.bytes, primary);
    case 'keras-h5':
      return prepareKeras(dir, 'keras-h5', await convertKerasH5(upload.file.bytes), primary);
    case 'keras3':
      return prepareKeras(dir, 'keras3', await convertKeras3(upload.file.bytes), primary);
    case 'keras3-dir': {
      const { config, weights, metadata } = upload;
      return prepareKeras(dir, 'keras3', await convertKeras3Files({ config: config.bytes, weights: weights.bytes, ...(metadata === null ? {} : { metadata: metadata.bytes }) }), primary);
    }
    case 'tfjs':
      return prepareTfjs(dir, upload, primary);
  }
}
