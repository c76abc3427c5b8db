import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { normalizeX, type Record_ } from '../../api/records.js';
import { ServeError } from '../../errors.js';
import type { InspectResult } from '../../protocol/messages.js';
import { checkName, type Store, type VersionManifest } from '../../store/index.js';
import { parseJsonText } from '../body.js';
import { checkRequestSize, type RequestSizeLimits } from '../request-size.js';
import { evaluate } from './evaluate.js';
import type { UploadedPart } from '../multipart.js';
import type { WorkerPool } from './worker-pool.js';

export interface PublishDeps {
  readonly store: Store;
  readonly workers: WorkerPool;
  /** limits.maxModelBytes: also what an uploaded zip may inflate to. */
  readonly maxModelBytes: number;
  /** The server's records and values limits, applied to x_test before the model is staged. */
  readonly sizeLimits: RequestSizeLimits;
}

const MODEL_FIELDS = new Set(['file', 'files', 'model']);

/** Where the uploaded files go in the version folder: a lone .onnx file as model.onnx, all else under upload/. */
export const UPLOAD_DIR = 'upload';

/** A client's file name made safe to store: its base name, in plain characters, unique in the version. */
function storedName(original: string, taken: Set<string>): string {
  const base = basename(original.replaceAll('\\', '/')).replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '').slice(-100) || 'file';
  let name = base;
  for (let i = 2; taken.has(name.toLowerCase()); i++) name = `${i}-${base}`;
  taken.add(name.toLowerCase());
  return `${UPLOAD_DIR}/${name}`;
}

/** Decides where each model part is staged; the scratch worker tells the format from the bytes. */
function layoutOf(parts: readonly UploadedPart[]): { part: UploadedPart; storedAs: string }[] {
  const files = parts.filter((p) => MODEL_FIELDS.has(p.fieldname));
  if (files.length === 0) throw new ServeError('REQUEST_INVALID', 'publishing needs a model file in a multipart part named "file"', { field: 'file' });
  if (files.length === 1 && extname(files[0]!.originalname).toLowerCase() === '.onnx') return [{ part: files[0]!, storedAs: 'model.onnx' }];
  const taken = new Set<string>();
  return files.map((part) => ({ part, storedAs: storedName(part.originalname, taken) }));
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

function parseJsonField(fields: Record<string, unknown>, field: string): unknown {
  const raw = fields[field];
  if (raw === undefined || raw === '') return undefined;
  if (typeof raw !== 'string') throw new ServeError('REQUEST_INVALID', `${field} must be JSON text`, { field });
  try {
    return parseJsonText(raw, field, { field });
  } catch (err) {
    if (err instanceof ServeError) throw err;
    throw new ServeError('REQUEST_INVALID', `${field} is not valid JSON: ${(err as Error).message}`, { field });
  }
}

function optionalText(fields: Record<string, unknown>, field: string): string | null {
  const raw = fields[field];
  if (raw === undefined) return null;
  if (typeof raw !== 'string') throw new ServeError('REQUEST_INVALID', `${field} must be text`, { field });
  return raw;
}

/**
 * x_test as records (plain rows map to the model's inputs), checked against the input names; its
 * first record becomes the stored sample. Undefined when none was sent.
 */
function xTestRecords(xTest: unknown, signature: InspectResult): readonly Record_[] | undefined {
  if (xTest === undefined) return undefined;
  const { records } = normalizeX(xTest, signature.inputs, 'x_test');
  if (records.length === 0) throw new ServeError('REQUEST_INVALID', 'x_test must hold at least one row (or be left out)', { field: 'x_test' });
  const names = new Set(signature.inputs.map((i) => i.name));
  records.forEach((record, i) => {
    for (const key of Object.keys(record)) {
      if (!names.has(key)) throw new ServeError('REQUEST_INVALID', `x_test[${i}] names input '${key}', but the model's inputs are ${[...names].join(', ')}`, { field: 'x_test' });
    }
  });
  return records;
}

/**
 * Publish: stage the parts, let a worker load the model (a file that does not load is refused
 * and nothing is kept), then commit the version in one rename.
 */
export async function publishModel(deps: PublishDeps, fields: Record<string, unknown>, parts: readonly UploadedPart[]): Promise<VersionManifest> {
  const staging = await deps.store.models.stage();
  try {
    const name = checkName('name', fields.name);
    // x_test runs through the model at the end: refuse one over the limits before any work starts.
    const xTest = parseJsonField(fields, 'x_test');
    if (xTest !== undefined) checkRequestSize({ X: xTest }, deps.sizeLimits, 'x_test');
    const yTest = parseJsonField(fields, 'y_test');
    const layout = layoutOf(parts);
    const files = [];
    if (layout.some((l) => l.storedAs.startsWith(`${UPLOAD_DIR}/`))) await mkdir(join(staging.dir, UPLOAD_DIR));
    for (const { part, storedAs } of layout) {
      if (part.path === undefined) throw new Error('publish parts must be on disk');
      const target = join(staging.dir, storedAs);
      await rename(part.path, target);
      files.push({ name: storedAs, bytes: part.size, sha256: await sha256File(target) });
    }
    // On the scratch worker: detecting, unzipping and converting read untrusted bytes, and a file that
    // crashes a native loader costs no deployed service.
    const uploads = layout.map(({ part, storedAs }) => ({ stored: storedAs, filename: part.originalname }));
    const inspect = { t: 'inspect', dir: staging.dir, uploads, maxUnzippedBytes: deps.maxModelBytes } as const;
    const signature = await deps.workers.request<InspectResult>(inspect, { worker: deps.workers.scratchIndex });
    // The upload's hash identifies the version; files the worker added for serving are listed too.
    const primary = files.find((f) => f.name === signature.primary)!;
    for (const added of signature.written) {
      const path = join(staging.dir, added);
      files.push({ name: added, bytes: (await stat(path)).size, sha256: await sha256File(path) });
    }
    const miningFunction = optionalText(fields, 'mining_function');
    const records = xTestRecords(xTest, signature);
    const stagedRef = { key: `staging:${staging.dir}`, name: `staging:${staging.dir}`, version: 0, format: signature.format, dir: staging.dir, mainFile: signature.mainFile, bytes: 1 };
    // Every x_test row runs through the model, with or without y_test: a stored sample always predicts.
    const evaluation = records === undefined ? null : await evaluate(deps.workers, stagedRef, records, yTest, signature.outputs, miningFunction);
    return await staging.commit(name, {
      format: signature.format,
      sourceFormat: signature.sourceFormat,
      kerasVersion: signature.kerasVersion,
      mainFile: signature.mainFile,
      files,
      bytes: files.reduce((n, f) => n + f.bytes, 0),
      sha256: primary.sha256,
      description: optionalText(fields, 'description') ?? '',
      miningFunction,
      evaluation,
      backend: signature.backend,
      inputs: [...signature.inputs],
      outputs: [...signature.outputs],
      sample: records === undefined ? null : { ...records[0]! },
      ...(signature.preprocess ? { preprocess: signature.preprocess.block, preprocessSource: signature.preprocess.source } : {}),
    });
  } catch (err) {
    await staging.discard();
    throw err;
  } finally {
    await Promise.all(parts.map((p) => (p.path ? rm(p.path, { force: true }) : undefined)));
  }
}
