import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';

/** A file part: its name as uploaded and its bytes. */
export interface FilePart {
  readonly name: string;
  readonly data: Uint8Array | Blob;
  readonly type?: string;
}

/** What a model upload may be given as: a path (file or folder), a part, a Blob/File, or a list of them. */
export type ModelSource = string | FilePart | Blob | readonly (string | FilePart | Blob)[];

export function toBlob(part: FilePart): Blob {
  return part.data instanceof Blob ? part.data : new Blob([part.data as Uint8Array<ArrayBuffer>], { type: part.type ?? 'application/octet-stream' });
}

/**
 * The parts of a model upload. A folder sends every file directly in it (a TF.js model.json with
 * its shards, or an unzipped Keras 3 model: config.json, model.weights.h5, metadata.json).
 */
export async function modelParts(source: ModelSource): Promise<FilePart[]> {
  const items = Array.isArray(source) ? (source as readonly (string | FilePart | Blob)[]) : [source as string | FilePart | Blob];
  const parts: FilePart[] = [];
  for (const item of items) {
    if (typeof item === 'string') {
      if ((await stat(item)).isDirectory()) {
        const names = (await readdir(item, { withFileTypes: true })).filter((e) => e.isFile()).map((e) => e.name).sort();
        for (const name of names) parts.push({ name, data: await readFile(join(item, name)) });
      } else parts.push({ name: basename(item), data: await readFile(item) });
    } else if (item instanceof Blob) {
      parts.push({ name: (item as Blob & { name?: string }).name ?? 'model', data: item });
    } else parts.push(item);
  }
  if (parts.length === 0) throw new TypeError('publish: no model file given');
  return parts;
}

/** A file for a predict or test form: a path, bytes with a name, or a Blob/File. */
export async function filePart(value: string | FilePart | Blob, field: string): Promise<FilePart> {
  if (typeof value === 'string') return { name: basename(value), data: await readFile(value) };
  if (value instanceof Blob) return { name: (value as Blob & { name?: string }).name ?? field, data: value };
  return value;
}
