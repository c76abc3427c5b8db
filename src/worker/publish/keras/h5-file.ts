import { randomUUID } from 'node:crypto';
import type { Dataset, File as H5File, Group } from 'h5wasm';
import { ServeError } from '../../../errors.js';
import { fromHalf } from '../../../model/tensor.js';

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

/**
 * A list-of-strings attribute; h5wasm gives an empty Float64Array for an empty one. Keras splits a
 * list longer than HDF5's 64 KB header limit into `name0`, `name1`, ... (hdf5_format.py
 * save_attributes_to_hdf5_group), read back in order.
 */
export function stringListAttr(node: Group, name: string): string[] {
  const read = (key: string): string[] => {
    const value = node.attrs[key]!.value;
    if (typeof value === 'string') return [value];
    if (value instanceof Uint8Array) return [new TextDecoder().decode(value)];
    return Array.isArray(value) ? value.map((v) => (v instanceof Uint8Array ? new TextDecoder().decode(v) : String(v))) : [];
  };
  if (name in node.attrs) return read(name);
  const chunks: string[] = [];
  for (let i = 0; `${name}${i}` in node.attrs; i++) chunks.push(...read(`${name}${i}`));
  return chunks;
}

export function isGroup(entity: unknown): entity is Group {
  return typeof entity === 'object' && entity !== null && (entity as { type?: unknown }).type === 'Group';
}

export function isDataset(entity: unknown): entity is Dataset {
  return typeof entity === 'object' && entity !== null && (entity as { type?: unknown }).type === 'Dataset';
}

/** bfloat16 bit patterns (the high half of a float32) as float32. */
function fromBfloat16(bits: Uint16Array): Float32Array {
  const words = new Uint32Array(bits.length);
  for (let i = 0; i < bits.length; i++) words[i] = bits[i]! << 16;
  return new Float32Array(words.buffer);
}

function attrString(dataset: Dataset, name: string): string | undefined {
  if (!(name in dataset.attrs)) return undefined;
  const value = dataset.attrs[name]!.value;
  return typeof value === 'string' ? value : value instanceof Uint8Array ? new TextDecoder().decode(value) : undefined;
}

function arrayOf(dataset: Dataset): Float32Array | Int32Array {
  const value = dataset.value;
  // Keras 3 stores bfloat16 variables as 16-bit patterns with a `dtype` attribute
  // (keras/src/saving/saving_lib.py H5Entry).
  if (attrString(dataset, 'dtype') === 'bfloat16') {
    if (value instanceof Uint16Array || value instanceof Int16Array) return fromBfloat16(new Uint16Array(value.buffer, value.byteOffset, value.length));
    if (value instanceof Uint8Array) return fromBfloat16(new Uint16Array(value.slice().buffer));
  }
  if (value instanceof Float32Array) return value;
  if (value instanceof Float64Array) return Float32Array.from(value);
  // h5wasm hands float16 datasets over as their raw 16-bit patterns.
  if (value instanceof Uint16Array && dataset.metadata.type === 1) return Float32Array.from(value, fromHalf);
  if (value instanceof BigInt64Array || value instanceof BigUint64Array) return Int32Array.from(value, Number);
  // Integer datasets (an int32 counter, a StringLookup's ids); other HDF5 types (opaque, compound,
  // strings) are not weights TF.js can hold.
  if (dataset.metadata.type === 0 && ArrayBuffer.isView(value) && !(value instanceof DataView)) return Int32Array.from(value as ArrayLike<number>);
  if (typeof value === 'number') return Float32Array.of(value);
  throw new ServeError('MODEL_UNSUPPORTED', `weight "${dataset.path}" is stored as ${dataset.metadata.type === 1 ? `a ${dataset.metadata.size * 8}-bit float` : `HDF5 type class ${dataset.metadata.type}`}, which TF.js cannot hold`);
}

/** A dataset's values as float32 (float16/bfloat16/float64 converted) or int32 (other integers). */
export function readArray(dataset: Dataset): H5Array {
  const shape = dataset.shape ?? [];
  const data = arrayOf(dataset);
  const count = shape.reduce((n, d) => n * d, 1);
  if (data.length !== count) {
    throw new ServeError('MODEL_UNSUPPORTED', `weight "${dataset.path}" holds ${data.length} values for shape [${shape.join(',')}]: not a plain numeric array TF.js can hold`);
  }
  return { path: dataset.path, shape, data };
}
