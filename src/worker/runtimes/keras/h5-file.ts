import { randomUUID } from 'node:crypto';
import type { Dataset, File as H5File, Group } from 'h5wasm';
import { ServeError } from '../../../errors.js';
import { fromHalf } from '../tensor.js';

export type { Dataset, Group, H5File };

/** The 8-byte HDF5 signature; Keras files carry it at offset 0 (no user block). */
const HDF5_SIGNATURE = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];

export function isHdf5(bytes: Uint8Array): boolean {
  return HDF5_SIGNATURE.every((b, i) => bytes[i] === b);
}

/** A weight array read from HDF5, as float32 or int32 (tfjs has no other weight types). */
export interface H5Array {
  /** Its path in the file, for messages and name matching. */
  readonly path: string;
  readonly shape: readonly number[];
  readonly data: Float32Array | Int32Array;
}

/**
 * Opens HDF5 bytes with h5wasm (the HDF5 C library compiled to WebAssembly) in its in-memory file
 * system, so uploads never touch the disk. Uses the ESM build, not 'h5wasm/node', whose file system
 * is the real disk. The file lives only for `use`.
 */
export async function withH5File<T>(bytes: Uint8Array, what: string, use: (file: H5File) => T | Promise<T>): Promise<T> {
  if (!isHdf5(bytes)) throw new ServeError('MODEL_INVALID', `${what} is not an HDF5 file (no HDF5 signature)`);
  const h5wasm = await import('h5wasm');
  const module = await h5wasm.ready;
  // HDF5 failures then throw (with HDF5's diagnostic as the message) instead of printing to stderr
  // and handing back an invalid id.
  module.activate_throwing_error_handler();
  const name = `/upload-${randomUUID()}.h5`;
  // A plain Uint8Array view: MEMFS keeps `data.slice()`, which for a Buffer shares the caller's
  // memory (Buffer#slice does not copy); Uint8Array#slice copies, so the upload stays untouched.
  module.FS.writeFile(name, new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  let file: H5File;
  try {
    file = new h5wasm.File(name, 'r');
  } catch (err) {
    module.FS.unlink(name);
    throw new ServeError('MODEL_INVALID', `${what} is not a readable HDF5 file: ${hdf5Reason(err)}`, undefined, { cause: err });
  }
  try {
    return await use(file);
  } catch (err) {
    if (err instanceof ServeError) throw err;
    throw new ServeError('MODEL_INVALID', `${what} could not be read: ${hdf5Reason(err)}`, undefined, { cause: err });
  } finally {
    file.close();
    module.FS.unlink(name);
  }
}

/** HDF5's error stack names the innermost cause last ("... in H5F__super_read(): truncated file: ..."). */
function hdf5Reason(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  const causes = [...text.matchAll(/ in [\w.]+\(\): (.+)$/gm)].map((m) => m[1]!.trim());
  return causes.at(-1) ?? text.split('\n')[0]!;
}

/** A string attribute (Keras writes them as fixed or variable length strings, or bytes). */
export function stringAttr(node: Group, name: string): string | undefined {
  if (!(name in node.attrs)) return undefined;
  const value = node.attrs[name]!.value;
  if (typeof value === 'string') return value;
  if (value instanceof Uint8Array) return new TextDecoder().decode(value);
  return undefined;
}

/** A list-of-strings attribute; h5wasm gives an empty Float64Array for an empty one. */
export function stringListAttr(node: Group, name: string): string[] {
  if (!(name in node.attrs)) return [];
  const value = node.attrs[name]!.value;
  if (typeof value === 'string') return [value];
  return Array.isArray(value) ? value.map(String) : [];
}

export function isGroup(entity: unknown): entity is Group {
  return typeof entity === 'object' && entity !== null && (entity as { type?: unknown }).type === 'Group';
}

export function isDataset(entity: unknown): entity is Dataset {
  return typeof entity === 'object' && entity !== null && (entity as { type?: unknown }).type === 'Dataset';
}

/** A dataset's values as float32 (float16/float64 converted) or int32 (other integers). */
export function readArray(dataset: Dataset): H5Array {
  const value = dataset.value;
  const shape = dataset.shape ?? [];
  const path = dataset.path;
  if (value instanceof Float32Array) return { path, shape, data: value };
  if (value instanceof Float64Array) return { path, shape, data: Float32Array.from(value) };
  // h5wasm hands float16 datasets over as their raw 16-bit patterns.
  if (value instanceof Uint16Array && dataset.metadata.type === 1) return { path, shape, data: Float32Array.from(value, fromHalf) };
  if (value instanceof BigInt64Array || value instanceof BigUint64Array) return { path, shape, data: Int32Array.from(value, Number) };
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) return { path, shape, data: Int32Array.from(value as ArrayLike<number>) };
  if (typeof value === 'number') return { path, shape, data: Float32Array.of(value) };
  throw new ServeError('MODEL_INVALID', `weight "${path}" holds ${typeof value} values, not numbers`);
}
