/**
 * Results leave the isolate rebuilt from own data properties only: null-prototype records and
 * lists, typed arrays, Date, Map and Set. isolated-vm copies a result outside the call's time
 * limit, so what it copies must run no user code (no getters, no proxies, no toJSON); the copy
 * made here runs any such code inside the limit instead. While copying it also finds out whether
 * the value is plain JSON: then it leaves as one JSON text, cheaper to hand over than objects.
 */
import type { PreludeEnvelope } from './api.js';
import { takeLogs } from './console.js';
import { failure } from './errors.js';
import { fileStates } from './file-state.js';
import { jsonOf } from './format.js';
import {
  ArrayBufferByteLength, ArrayBufferIsView, ArrayIsArray, brand, DateCtor, DateGetTime, ErrorCtor, isPrimitive, JSONStringify,
  MapClear, MapCtor, MapForEach, MapGet, MapHas, MapSet, MapSize, matches, newList, NumberIsFinite, ObjectCreate,
  ObjectGetPrototypeOf, ObjectKeys, ObjectPrototype, ObjectSetPrototypeOf, PLAIN_KEY, SetAdd, SetClear, SetCtor, SetDelete, SetForEach, SetHas, SetSize, StringCtor, TypeErrorCtor, WeakMapGet,
} from './intrinsics.js';

/** Thrown (and caught) while copying: what could not leave, and where in the value it was. */
export class Uncopyable {
  constructor(readonly what: string, public path = '', readonly cyclic = false) {}
}
/**
 * The objects being copied right now, from the value's root down to the current one: an object
 * met again while it is on this path closes a cycle, which no JSON answer can hold (an object met
 * again elsewhere is only shared, and leaves as the same copy).
 */
const onPath = new SetCtor<object>();
/**
 * Whether the copy being made is plain JSON, which then leaves as text: no undefined, BigInt,
 * NaN or Infinity, typed arrays, Date, Map or Set, and no object reached twice (a cycle or a shared
 * object, which JSON would break or duplicate). Reset by each copyOut().
 */
let copyIsJson = true;
/** Whether the last copyOut() made plain JSON (its result may then be sent as JSON text). */
export const copyWasJson = (): boolean => copyIsJson;
/** Starts a copy made with clean() whose JSON-ness copyWasJson() then tells. */
export function startCopy(): void {
  copyIsJson = true;
}

function primitive(v: unknown): unknown {
  if (typeof v === 'number' ? !NumberIsFinite(v) : v === undefined || typeof v === 'bigint') copyIsJson = false;
  return v;
}
function cleanChild(v: unknown, seen: Map<object, unknown>, key: string | number): unknown {
  try {
    return clean(v, seen);
  } catch (e) {
    if (e instanceof Uncopyable) e.path = `${typeof key === 'number' ? `[${key}]` : matches(PLAIN_KEY, key) ? `.${key}` : `[${jsonOf(key)}]`}${e.path}`;
    throw e;
  }
}
/** A copy of `v` that is safe to hand to the host; throws Uncopyable for functions and symbols. */
export function clean(v: unknown, seen: Map<object, unknown>): unknown {
  if (isPrimitive(v)) return primitive(v);
  if (typeof v === 'function') throw new Uncopyable('a function');
  if (typeof v === 'symbol') throw new Uncopyable('a symbol');
  const o = v as object;
  if (MapHas(seen, o)) {
    if (SetHas(onPath, o)) throw new Uncopyable('a cyclic value', '', true);
    copyIsJson = false;
    return MapGet(seen, o);
  }
  SetAdd(onPath, o);
  try {
    return cleanObject(o, seen);
  } finally {
    SetDelete(onPath, o);
  }
}
function cleanObject(o: object, seen: Map<object, unknown>): unknown {
  if (ArrayIsArray(o)) return cleanList(o, seen);
  // Plain objects (the common case) skip the brand checks below: each of those throws for a
  // plain object, and exceptions made copying a small result cost ~50 µs instead of a few.
  const proto = ObjectGetPrototypeOf(o);
  if ((proto === ObjectPrototype || proto === null) && WeakMapGet(fileStates, o) === undefined) return cleanRecord(o, seen);
  copyIsJson = false; // below: typed arrays, Date, Map, Set (files and errors are records, but rare)
  if (ArrayBufferIsView(o) || brand(ArrayBufferByteLength, o)) return o;
  if (brand(DateGetTime, o)) return new DateCtor(DateGetTime(o as Date));
  if (brand(MapSize, o)) {
    const map = new MapCtor<unknown, unknown>();
    MapSet(seen, o, map);
    MapForEach(o, (value, key) => MapSet(map, cleanChild(key, seen, '<map key>'), cleanChild(value, seen, StringCtor(key))));
    return map;
  }
  if (brand(SetSize, o)) {
    const set = new SetCtor<unknown>();
    MapSet(seen, o, set);
    SetForEach(o, (value) => SetAdd(set, cleanChild(value, seen, '<set item>')));
    return set;
  }
  const record = ObjectCreate(null) as Record<string, unknown>;
  MapSet(seen, o, record);
  const file = WeakMapGet(fileStates, o);
  if (file !== undefined) {
    // Never the bytes: a file leaves the sandbox as what the upload said about it.
    record['name'] = file.name;
    record['type'] = file.type;
    record['size'] = file.size;
    return record;
  }
  if (o instanceof ErrorCtor) {
    record['name'] = StringCtor(o.name);
    record['message'] = StringCtor(o.message);
    return record;
  }
  return fillRecord(record, o, seen);
}
function cleanList(o: unknown[], seen: Map<object, unknown>): unknown[] {
  const list = newList<unknown>();
  MapSet(seen, o, list);
  for (let i = 0; i < o.length; i++) {
    const x: unknown = o[i];
    list[i] = isPrimitive(x) ? primitive(x) : cleanChild(x, seen, i);
  }
  return list;
}
function cleanRecord(o: object, seen: Map<object, unknown>): Record<string, unknown> {
  const record = ObjectCreate(null) as Record<string, unknown>;
  MapSet(seen, o, record);
  return fillRecord(record, o, seen);
}
function fillRecord(record: Record<string, unknown>, o: object, seen: Map<object, unknown>): Record<string, unknown> {
  const keys = ObjectKeys(o);
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    const x = (o as Record<string, unknown>)[key];
    record[key] = isPrimitive(x) ? primitive(x) : cleanChild(x, seen, key);
  }
  return record;
}

/** One map for every copy-out, emptied after each: no allocation per call. */
const seenInCopy = new MapCtor<object, unknown>();
/** What `fnName` returned, as data that may leave the isolate; sets copyWasJson(). Throws a TypeError for what cannot leave. */
export function copyOut(fnName: string, value: unknown): unknown {
  copyIsJson = true;
  try {
    return isPrimitive(value) ? primitive(value) : clean(value, seenInCopy);
  } catch (e) {
    if (!(e instanceof Uncopyable)) throw e;
    if (e.cyclic) throw new TypeErrorCtor(`${fnName}() returned a cyclic value at result${e.path}; a result must not contain itself (JSON has no cycles)`);
    throw new TypeErrorCtor(`${fnName}() returned ${e.what} at result${e.path}; only data (JSON values, typed arrays, Date, Map, Set) can leave the sandbox`);
  } finally {
    MapClear(seenInCopy);
    SetClear(onPath);
  }
}
/** The envelope for a call that returned `value`: JSON text in the common case, else 'ok' (or the copy's failure). */
export function settled(fnName: string, value: unknown): PreludeEnvelope {
  try {
    const copy = copyOut(fnName, value);
    const logs = takeLogs();
    return copyIsJson && logs === null ? JSONStringify(copy) : { kind: 'ok', value: copy, logs };
  } catch (e) {
    return failure(e);
  }
}
/** For promise handlers: a rejection of `pending` would reach isolated-vm, so nothing may throw. */
export function settledSafely(fnName: string, value: unknown, rejected = false): PreludeEnvelope {
  try {
    return unthenable(rejected ? failure(value) : settled(fnName, value));
  } catch {
    return unthenable({ kind: 'threw', name: 'Error', message: 'the sandbox could not complete the call', report: '', code: null, logs: takeLogs() });
  }
}
/**
 * An envelope that settles a promise must not be a thenable: resolving a promise with an object
 * looks up its `then`, and a script that set Object.prototype.then would get the envelope and could
 * settle the host's promise with whatever it likes. A null prototype leaves nothing to inherit.
 */
export function unthenable(envelope: PreludeEnvelope): PreludeEnvelope {
  if (typeof envelope === 'object' && envelope !== null) ObjectSetPrototypeOf(envelope, null);
  return envelope;
}
