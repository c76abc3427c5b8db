/**
 * Built-ins captured before the user's script runs ("primordials"). The bundle evaluates this
 * module first, when the host runs the prelude, so every binding here holds the original built-in
 * even after a script patches Array.prototype, Promise.prototype.then, JSON or Object.*: such a
 * script can break its own calls but not the prelude's plumbing.
 *
 * The rule for the other modules: call methods of built-ins only through these bindings (uncurried,
 * so `Map.prototype.get` is never looked up on an object at call time), and read a global only here.
 * The few exceptions (e.g. `.map` inside the tensor helpers) are on values the script handed to a
 * helper it called itself, where a patched prototype breaks only that script's own call.
 */

type Fn<T, A extends unknown[], R> = (this: T, ...args: A) => R;

export const G = globalThis as unknown as Record<string, unknown>;
/** `uncurry(Array.prototype.join)(list, ',')` is `list.join(',')` without reading `list.join`. */
const uncurry = Function.prototype.bind.bind(Function.prototype.call) as unknown as <T, A extends unknown[], R>(
  fn: Fn<T, A, R>,
) => (self: T, ...args: A) => R;
const getter = (o: object, k: PropertyKey) => Object.getOwnPropertyDescriptor(o, k)!.get as Fn<unknown, [], unknown>;

export const ReflectApply = Reflect.apply;
export const { create: ObjectCreate, keys: ObjectKeys, freeze: ObjectFreeze, is: ObjectIs } = Object;
export const { getPrototypeOf: ObjectGetPrototypeOf, setPrototypeOf: ObjectSetPrototypeOf } = Object;
export const { defineProperty: ObjectDefineProperty, getOwnPropertyNames: ObjectGetOwnPropertyNames } = Object;
export const ObjectGetOwnPropertyDescriptor = Object.getOwnPropertyDescriptor;
export const ObjectPrototype = Object.prototype;
export const ArrayIsArray = Array.isArray;
export const ArraySort = uncurry(Array.prototype.sort as Fn<unknown[], [(a: never, b: never) => number], unknown[]>);
export const ArrayJoin = uncurry(Array.prototype.join as Fn<unknown[], [string], string>);
export const ArrayBufferIsView = ArrayBuffer.isView;
export const ArrayBufferByteLength = uncurry(getter(ArrayBuffer.prototype, 'byteLength'));
const TypedArrayPrototype = ObjectGetPrototypeOf(Uint8Array.prototype) as object;
export const TypedArrayTag = uncurry(getter(TypedArrayPrototype, Symbol.toStringTag)) as (v: unknown) => string | undefined;
export const TypedArraySubarray = uncurry(Uint8Array.prototype.subarray) as unknown as <T>(v: T, a: number, b: number) => T;
export const TypedArrayLength = uncurry(getter(TypedArrayPrototype, 'length')) as (v: unknown) => number;
export const TypedArrayByteOffset = uncurry(getter(TypedArrayPrototype, 'byteOffset')) as (v: unknown) => number;
export const TypedArrayBuffer = uncurry(getter(TypedArrayPrototype, 'buffer')) as (v: unknown) => ArrayBuffer;
export const Uint8ArrayCtor = Uint8Array;
export const DateCtor = Date;
export const DateGetTime = uncurry(Date.prototype.getTime);
export const DateToISOString = uncurry(Date.prototype.toISOString);
export const MapCtor = Map;
export const MapGet = uncurry(Map.prototype.get) as <K, V>(m: Map<K, V>, k: K) => V | undefined;
export const MapSet = uncurry(Map.prototype.set) as <K, V>(m: Map<K, V>, k: K, v: V) => Map<K, V>;
export const MapHas = uncurry(Map.prototype.has) as <K>(m: Map<K, unknown>, k: K) => boolean;
export const MapDelete = uncurry(Map.prototype.delete) as <K>(m: Map<K, unknown>, k: K) => boolean;
export const MapClear = uncurry(Map.prototype.clear) as (m: Map<unknown, unknown>) => void;
export const MapForEach = uncurry(Map.prototype.forEach) as (m: unknown, cb: (v: unknown, k: unknown) => void) => void;
export const MapSize = uncurry(getter(Map.prototype, 'size'));
export const SetCtor = Set;
export const SetAdd = uncurry(Set.prototype.add) as (s: Set<unknown>, v: unknown) => Set<unknown>;
export const SetForEach = uncurry(Set.prototype.forEach) as (s: unknown, cb: (v: unknown) => void) => void;
export const SetSize = uncurry(getter(Set.prototype, 'size'));
export const SetHas = uncurry(Set.prototype.has) as (s: Set<unknown>, v: unknown) => boolean;
export const SetDelete = uncurry(Set.prototype.delete) as (s: Set<unknown>, v: unknown) => boolean;
export const SetClear = uncurry(Set.prototype.clear) as (s: Set<unknown>) => void;
export const WeakSetAdd = uncurry(WeakSet.prototype.add);
export const WeakSetHas = uncurry(WeakSet.prototype.has);
export const WeakMapGet = uncurry(WeakMap.prototype.get) as <V>(m: WeakMap<object, V>, k: object) => V | undefined;
export const WeakMapSet = uncurry(WeakMap.prototype.set) as <V>(m: WeakMap<object, V>, k: object, v: V) => unknown;
export const PromiseCtor = Promise;
export const PromiseThen = uncurry(Promise.prototype.then) as <T, R>(p: Promise<T>, ok: (v: T) => R, bad: (e: unknown) => R) => Promise<R>;
export const StringCtor = String;
export const StringFromCharCode = String.fromCharCode;
export const StringSlice = uncurry(String.prototype.slice);
export const StringCharCodeAt = uncurry(String.prototype.charCodeAt);
export const StringIndexOf = uncurry(String.prototype.indexOf);
export const StringSplit = uncurry(String.prototype.split as Fn<string, [string], string[]>);
export const SymbolToString = uncurry(Symbol.prototype.toString);
const RegExpExec = RegExp.prototype.exec;
export const NumberCtor = Number;
export const { parseFloat: NumberParseFloat, parseInt: NumberParseInt, isInteger: NumberIsInteger } = Number;
export const { exp: MathExp } = Math;
export const JSONStringify = JSON.stringify;
export const JSONParse = JSON.parse;
export const NumberIsFinite = Number.isFinite;
export const ErrorCtor = Error;
export const TypeErrorCtor = TypeError;
export const RangeErrorCtor = RangeError;
/** Called as a plain function, so it is an indirect (global-scope) eval: see load.ts. */
export const indirectEval = G['eval'] as (code: string) => unknown;

/** A regex whose exec cannot be patched through RegExp.prototype. */
const ownRegExp = (re: RegExp) => ObjectDefineProperty(re, 'exec', { value: RegExpExec });
export const IDENTIFIER = ownRegExp(/^[\p{ID_Start}$_][\p{ID_Continue}$\u200c\u200d]*$/u);
export const PLAIN_KEY = ownRegExp(/^[A-Za-z_$][\w$]*$/);
export const matches = (re: RegExp, s: string) => re.exec(s) !== null;

// ---- small tools built only on the captures above ---------------------------------------------

/** Arrays that leave the isolate: no prototype, so no inherited setter can touch their elements. */
export function newList<T>(): T[] {
  const list: T[] = [];
  ObjectSetPrototypeOf(list, null);
  return list;
}
/** Appends without Array.prototype.push (patchable) and without reading an iterator. */
export function push<T>(list: T[], value: T): void {
  list[list.length] = value;
}
export const isObjectLike = (v: unknown): v is object => (typeof v === 'object' && v !== null) || typeof v === 'function';
export const isTypedArray = (v: unknown): v is ArrayLike<number> => ArrayBufferIsView(v) && TypedArrayTag(v) !== undefined;
export const isPrimitive = (v: unknown) => (typeof v !== 'object' || v === null) && typeof v !== 'function' && typeof v !== 'symbol';
/** Whether `check` (an uncurried getter or method) accepts `v`: a brand check no Symbol.toStringTag can fake. */
export function brand(check: (v: unknown) => unknown, v: unknown): boolean {
  try {
    check(v);
    return true;
  } catch {
    return false;
  }
}
