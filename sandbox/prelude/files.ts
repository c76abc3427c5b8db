/**
 * Uploads as the script sees them: `args.files[field]` is a frozen file object whose bytes stay
 * in fileStates, out of the script's reach, so bytes() hands out copies and a script cannot
 * swap the buffer a later image() decodes. Image decoding runs on the host (host-calls.ts);
 * text() decodes here (utf8.ts).
 */
import { clean, copyWasJson, startCopy, Uncopyable } from './copy-out.js';
import { fileStates, type FileState } from './file-state.js';
import { bridgeError } from './errors.js';
import { canAnswerNow, decodeNow, decodeOnHost, queueImage } from './host-calls.js';
import {
  ArrayBufferByteLength, ArrayIsArray, isObjectLike, isPrimitive, isTypedArray, JSONStringify, MapCtor, ObjectCreate, ObjectDefineProperty,
  ObjectFreeze, ObjectGetOwnPropertyDescriptor, ObjectKeys, ObjectPrototype, PromiseCtor, PromiseThen, TypedArrayBuffer,
  StringCtor, TypedArrayByteOffset, TypedArrayLength, TypedArrayTag, TypeErrorCtor, Uint8ArrayCtor, WeakMapGet, WeakMapSet,
} from './intrinsics.js';
import { decodeUtf8 } from './utf8.js';

function stateOf(self: unknown, method: string): FileState {
  const state = isObjectLike(self) ? WeakMapGet(fileStates, self) : undefined;
  if (state === undefined) throw new TypeErrorCtor(`${method} must be called on a file of args.files, e.g. args.files[field].${method}`);
  return state;
}

/** The files' constructor, for `instanceof` and inspection only: files come from uploads. */
function InferboxFile(): never {
  throw new TypeErrorCtor('files come from uploads: read them from args.files');
}
const fileMethods = {
  bytes(this: unknown): Uint8Array {
    return new Uint8ArrayCtor(stateOf(this, 'bytes()').bytes);
  },
  text(this: unknown): string {
    return decodeUtf8(stateOf(this, 'text()').bytes);
  },
  image(this: unknown, imageOptions?: InferboxImageOptions): Promise<InferboxImage> {
    return new PromiseCtor<InferboxImage>((resolve, reject) => {
      const file = stateOf(this, 'image()');
      let options: unknown;
      try {
        // Rebuilt from own data here, inside the call's time limit: the host gets plain data.
        startCopy();
        options = isPrimitive(imageOptions) ? imageOptions : clean(imageOptions, new MapCtor());
      } catch (e) {
        if (!(e instanceof Uncopyable)) throw e;
        throw new TypeErrorCtor(`image(options): options must be plain data; found ${e.what} at options${e.path}`);
      }
      const pre = file.predecoded;
      if (pre !== undefined && canAnswerNow()) {
        const key = options === undefined ? '' : !isPrimitive(options) && copyWasJson() ? JSONStringify(options) : null;
        if (key === pre.key) {
          file.predecoded = undefined;
          resolve({ data: pre.data, shape: pre.shape });
          return;
        }
      }
      const now = decodeNow(file.bytes, options, file.field, file.name);
      if (now !== null) {
        if (isObjectLike(now) && typeof own(now, 'code') === 'string') {
          reject(bridgeError(own(now, 'code') as string, StringCtor(own(now, 'message')), own(now, 'details')));
        } else {
          resolve(now as InferboxImage);
        }
        return;
      }
      queueImage(() => {
        const decoded = decodeOnHost(file.bytes, options, file.field, file.name);
        PromiseThen(decoded, resolve, reject);
      });
    });
  },
  toJSON(this: unknown): { name: string; type: string; size: number } {
    const { name, type, size } = stateOf(this, 'toJSON()');
    return { name, type, size };
  },
};
// The methods sit, non-enumerable, on one frozen prototype: a script can neither replace them
// for every file nor find them among a file's keys (which are name, type, size and field).
const fileProto = ObjectCreate(ObjectPrototype) as object;
ObjectDefineProperty(fileProto, 'constructor', { value: InferboxFile });
ObjectDefineProperty(InferboxFile, 'prototype', { value: fileProto });
for (const key of ObjectKeys(fileMethods)) ObjectDefineProperty(fileProto, key, { value: (fileMethods as Record<string, unknown>)[key] });
ObjectFreeze(InferboxFile);
ObjectFreeze(fileProto);

/** An own data property's value: what the host copied in, never a getter the script planted on a prototype. */
function own(o: object, key: string): unknown {
  const descriptor = ObjectGetOwnPropertyDescriptor(o, key);
  return descriptor === undefined ? undefined : descriptor.value;
}
/** The host's decode ahead (ScriptBridge.predecode), read as the host made it. */
function predecodedOf(v: unknown): FileState['predecoded'] {
  if (!isObjectLike(v) || ArrayIsArray(v)) return undefined;
  const key = own(v, 'key');
  const data = own(v, 'data');
  const shape = own(v, 'shape');
  if (typeof key !== 'string' || !isTypedArray(data) || !ArrayIsArray(shape)) return undefined;
  const tag = TypedArrayTag(data);
  if (tag !== 'Float32Array' && tag !== 'Uint16Array' && tag !== 'Uint8Array') return undefined;
  return { key, data: data as Float32Array | Uint16Array | Uint8Array, shape: shape as number[] };
}
/**
 * Replaces each upload `{ name, type, size, bytes }` in `arg.files` by a file object. `arg` was
 * just copied in by the host: the script has not seen it, so its bytes become the file's own.
 */
export function wrapFiles(arg: unknown): void {
  if (!isObjectLike(arg) || ArrayIsArray(arg)) return;
  const files = own(arg, 'files');
  if (!isObjectLike(files) || ArrayIsArray(files)) return;
  const fields = ObjectKeys(files);
  for (let i = 0; i < fields.length; i++) {
    const field = fields[i]!;
    const upload = own(files, field);
    if (!isObjectLike(upload) || ArrayIsArray(upload)) continue;
    let bytes = own(upload, 'bytes') as Uint8Array;
    if (!isTypedArray(bytes) || TypedArrayTag(bytes) !== 'Uint8Array') continue;
    const name = own(upload, 'name');
    const type = own(upload, 'type');
    // A view on a larger buffer would hand that whole buffer to every copy: keep the view's bytes only.
    if (TypedArrayByteOffset(bytes) !== 0 || TypedArrayLength(bytes) !== ArrayBufferByteLength(TypedArrayBuffer(bytes))) {
      bytes = new Uint8ArrayCtor(bytes);
    }
    const state: FileState = {
      bytes,
      field,
      name: typeof name === 'string' ? name : '',
      type: typeof type === 'string' ? type : '',
      size: TypedArrayLength(bytes),
      predecoded: predecodedOf(own(upload, 'predecoded')),
    };
    const file = ObjectCreate(fileProto) as Record<string, unknown>;
    ObjectDefineProperty(file, 'name', { value: state.name, enumerable: true });
    ObjectDefineProperty(file, 'type', { value: state.type, enumerable: true });
    ObjectDefineProperty(file, 'size', { value: state.size, enumerable: true });
    ObjectDefineProperty(file, 'field', { value: field, enumerable: true });
    ObjectFreeze(file);
    WeakMapSet(fileStates, file, state);
    ObjectDefineProperty(files, field, { value: file, writable: true, enumerable: true, configurable: true });
  }
}
