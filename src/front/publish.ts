import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { normalizeX } from '../api/records.js';
import { ServeError } from '../errors.js';
import type { InspectResult } from '../protocol/messages.js';
import { checkName, type Store, type VersionManifest } from '../store/index.js';
import { evaluate } from './evaluate.js';
import type { UploadedPart } from './multipart.js';
import type { WorkerPool } from './workers.js';

export interface PublishDeps {
  readonly store: Store;
  readonly workers: WorkerPool;
}

/** How an upload is laid out in the version folder. */
interface Layout {
  readonly format: string;
  readonly mainFile: string;
  readonly files: readonly { part: UploadedPart; storedAs: string }[];
}

const MODEL_FIELDS = new Set(['file', 'files', 'model']);

/** Decides the format from the uploaded parts. */
function layoutOf(parts: readonly UploadedPart[]): Layout {
  const files = parts.filter((p) => MODEL_FIELDS.has(p.fieldname));
  if (files.length === 0) throw new ServeError('REQUEST_INVALID', 'publishing needs a model file in a multipart part named "file"', { field: 'file' });
  const ext = (p: UploadedPart) => extname(p.originalname).toLowerCase();
  if (files.length === 1 && (ext(files[0]!) === '.onnx' || ext(files[0]!) === '')) {
    return { format: 'onnx', mainFile: 'model.onnx', files: [{ part: files[0]!, storedAs: 'model.onnx' }] };
  }
  const names = files.map((f) => f.originalname).join(', ');
  throw new ServeError('MODEL_UNSUPPORTED', `cannot tell the model format of ${names}: inferbox serves ONNX (.onnx) files`, { field: 'file' });
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
    return JSON.parse(raw);
  } catch (err) {
    throw new ServeError('REQUEST_INVALID', `${field} is not valid JSON: ${(err as Error).message}`, { field });
  }
}

function optionalText(fields: Record<string, unknown>, field: string): string | null {
  const raw = fields[field];
  if (raw === undefined) return null;
  if (typeof raw !== 'string') throw new ServeError('REQUEST_INVALID', `${field} must be text`, { field });
  return raw;
}

/** The first row of x_test, checked against the model's inputs, becomes the stored sample. */
function sampleFrom(fields: Record<string, unknown>, signature: InspectResult): Record<string, unknown> | null {
  const xTest = parseJsonField(fields, 'x_test');
  parseJsonField(fields, 'y_test');
  if (xTest === undefined) return null;
  const { records } = normalizeX(xTest);
  const first = records[0];
  if (first === undefined) return null;
  const names = new Set(signature.inputs.map((i) => i.name));
  for (const key of Object.keys(first)) {
    if (!names.has(key)) throw new ServeError('REQUEST_INVALID', `x_test names input '${key}', but the model's inputs are ${[...names].join(', ')}`, { field: 'x_test' });
  }
  return { ...first };
}

/**
 * Publish: stage the parts, let a worker load the model (a file that does not load is refused
 * and nothing is kept), then commit the version in one rename.
 */
export async function publishModel(deps: PublishDeps, fields: Record<string, unknown>, parts: readonly UploadedPart[]): Promise<VersionManifest> {
  const staging = await deps.store.models.stage();
  try {
    const name = checkName('name', fields.name);
    const layout = layoutOf(parts);
    const files = [];
    for (const { part, storedAs } of layout.files) {
      if (part.path === undefined) throw new Error('publish parts must be on disk');
      const target = join(staging.dir, storedAs);
      await rename(part.path, target);
      files.push({ name: storedAs, bytes: part.size, sha256: await sha256File(target) });
    }
    // On the scratch worker: a file that crashes the native loader costs no deployed service.
    const inspect = { t: 'inspect', format: layout.format, dir: staging.dir, mainFile: layout.mainFile } as const;
    const signature = await deps.workers.request<InspectResult>(inspect, { worker: deps.workers.scratchIndex });
    // The upload's hash identifies the version; files the worker added for serving are listed too.
    const main = files.find((f) => f.name === layout.mainFile)!;
    for (const added of signature.written) {
      const path = join(staging.dir, added);
      files.push({ name: added, bytes: (await stat(path)).size, sha256: await sha256File(path) });
    }
    const xTest = parseJsonField(fields, 'x_test');
    const yTest = parseJsonField(fields, 'y_test');
    const miningFunction = optionalText(fields, 'mining_function');
    const stagedRef = { key: `staging:${staging.dir}`, name: `staging:${staging.dir}`, version: 0, format: layout.format, dir: staging.dir, mainFile: signature.mainFile, bytes: 1 };
    const evaluation = xTest !== undefined && yTest !== undefined ? await evaluate(deps.workers, stagedRef, xTest, yTest, signature.outputs, miningFunction) : null;
    return await staging.commit(name, {
      format: layout.format,
      mainFile: signature.mainFile,
      files,
      bytes: files.reduce((n, f) => n + f.bytes, 0),
      sha256: main.sha256,
      description: optionalText(fields, 'description') ?? '',
      miningFunction,
      evaluation,
      backend: signature.backend,
      inputs: [...signature.inputs],
      outputs: [...signature.outputs],
      sample: sampleFrom(fields, signature),
    });
  } catch (err) {
    await staging.discard();
    throw err;
  } finally {
    await Promise.all(parts.map((p) => (p.path ? rm(p.path, { force: true }) : undefined)));
  }
}
