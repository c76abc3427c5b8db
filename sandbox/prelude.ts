/**
 * The prelude: compiled once into every isolate, run in its one context before the user's script.
 * It installs the globals of script-api.d.ts and returns (as the script's completion value) the
 * setup function. Only the host holds References to what setup returns; no global leads to them.
 *
 * Rules this file keeps, because user code shares the context:
 * - built-ins are captured before the user script runs ("primordials"), so a script that patches
 *   Array.prototype or Promise.prototype.then can break its own calls but not this plumbing;
 * - everything handed back to the host is "clean": primitives, typed arrays, and objects/arrays
 *   built here with only own data properties (null prototypes), so copying it out of the isolate
 *   never runs user code (isolated-vm copies results outside the call's timeout);
 * - no exception escapes to the host: isolated-vm would read its message/stack (user getters,
 *   Error.prepareStackTrace) with no timeout.
 */

interface PreludeOptions {
  readonly maxLogLines: number;
  readonly maxLogBytes: number;
  /** The user script's filename in stack traces, e.g. "script.js". */
  readonly scriptFilename: string;
}
interface PreludeLogs {
  out: string[];
  err: string[];
  /** 0: nothing dropped; 1 or 2: output was dropped, first on stdout (1) or stderr (2). */
  dropped: 0 | 1 | 2;
}
type PreludeEnvelope =
  | { kind: 'ok'; value: unknown; logs: PreludeLogs | null }
  /** The common case, cheaper to hand over than an object: ok, nothing printed, the value as JSON text. */
  | string
  | { kind: 'pending' }
  | { kind: 'missing'; logs: PreludeLogs | null }
  | { kind: 'rejected'; message: string; logs: PreludeLogs | null }
  | { kind: 'threw'; name: string; message: string; report: string; code: string | null; logs: PreludeLogs | null };
/**
 * The model step's answer: one row per record (postprocess's argument, the outputs in order; or the
 * record itself when there is no postprocess), the output names postprocess's arrays zip with, and
 * whether the request came as a split table.
 */
interface FlowRows {
  rows: unknown[];
  names: string[];
  split: boolean;
}
/** The flow's arguments in one (as JSON text when the args are plain JSON): one value crosses, not seven. */
type FlowCall = [args: unknown, linesLeft: number, bytesLeft: number, truncated: boolean, files: boolean, prepare: string | null, postprocess: boolean];
interface PreludeApi {
  /** `args` comes as JSON text when the host found it plain JSON (cheaper to copy than objects). */
  dispatch(name: string, args: unknown[] | string, linesLeft: number, bytesLeft: number, truncated: boolean): PreludeEnvelope;
  /**
   * The predict flow in one call: preprocess_files (when `files`), then `prepare` (its name, or null),
   * then the model, then postprocess per record (when `postprocess`). Answers like dispatch, with the
   * call's result: the records, or `{ columns, data }` for a split table.
   */
  flow(call: FlowCall | string): PreludeEnvelope;
  settle(): Promise<PreludeEnvelope>;
  drain(): PreludeLogs | null;
  /** Runs the user's script (already syntax-checked on the host) and finds its top-level functions. */
  load(source: string, candidates: string[], linesLeft: number, bytesLeft: number): PreludeEnvelope;
  /** Settles host call `id` (model.run or image); payload is its answer, or `{ code, message }`. */
  resolveHost(id: number, ok: boolean, payload: unknown): void;
}

(function inferboxPrelude(
  info: InferboxModelInfo,
  options: PreludeOptions,
  startRun: (id: number, feeds: unknown) => void,
  startImage: (id: number, bytes: Uint8Array, options: unknown, field: string, name: string) => void,
  /**
   * The flow's model step while the host is inside the flow call. `prepared` is the args as JSON
   * text when they are plain JSON, else as data. Answers FlowRows (as JSON text when they are plain
   * JSON), null to run the step asynchronously instead (through startInfer), or `{ code, message }`.
   */
  inferSync: (prepared: unknown) => unknown,
  startInfer: (id: number, prepared: unknown) => void,
): PreludeApi {
  'use strict';
  type Fn<T, A extends unknown[], R> = (this: T, ...args: A) => R;
  const G = globalThis as unknown as Record<string, unknown>;
  const uncurry = Function.prototype.bind.bind(Function.prototype.call) as unknown as <T, A extends unknown[], R>(
    fn: Fn<T, A, R>,
  ) => (self: T, ...args: A) => R;
  const getter = (o: object, k: PropertyKey) => Object.getOwnPropertyDescriptor(o, k)!.get as Fn<unknown, [], unknown>;

  const ReflectApply = Reflect.apply;
  const { create: ObjectCreate, keys: ObjectKeys, freeze: ObjectFreeze, is: ObjectIs } = Object;
  const { getPrototypeOf: ObjectGetPrototypeOf, setPrototypeOf: ObjectSetPrototypeOf } = Object;
  const { defineProperty: ObjectDefineProperty, getOwnPropertyNames: ObjectGetOwnPropertyNames } = Object;
  const ObjectGetOwnPropertyDescriptor = Object.getOwnPropertyDescriptor;
  const ObjectPrototype = Object.prototype;
  const ArrayIsArray = Array.isArray;
  const ArraySort = uncurry(Array.prototype.sort as Fn<unknown[], [(a: never, b: never) => number], unknown[]>);
  const ArrayJoin = uncurry(Array.prototype.join as Fn<unknown[], [string], string>);
  const ArrayBufferIsView = ArrayBuffer.isView;
  const ArrayBufferByteLength = uncurry(getter(ArrayBuffer.prototype, 'byteLength'));
  const TypedArrayPrototype = ObjectGetPrototypeOf(Uint8Array.prototype) as object;
  const TypedArrayTag = uncurry(getter(TypedArrayPrototype, Symbol.toStringTag)) as (v: unknown) => string | undefined;
  const TypedArraySubarray = uncurry(Uint8Array.prototype.subarray) as unknown as <T>(v: T, a: number, b: number) => T;
  const TypedArrayLength = uncurry(getter(TypedArrayPrototype, 'length')) as (v: unknown) => number;
  const TypedArrayByteOffset = uncurry(getter(TypedArrayPrototype, 'byteOffset')) as (v: unknown) => number;
  const TypedArrayBuffer = uncurry(getter(TypedArrayPrototype, 'buffer')) as (v: unknown) => ArrayBuffer;
  const Uint8ArrayCtor = Uint8Array;
  const DateCtor = Date;
  const DateGetTime = uncurry(Date.prototype.getTime);
  const DateToISOString = uncurry(Date.prototype.toISOString);
  const MapCtor = Map;
  const MapGet = uncurry(Map.prototype.get) as <K, V>(m: Map<K, V>, k: K) => V | undefined;
  const MapSet = uncurry(Map.prototype.set) as <K, V>(m: Map<K, V>, k: K, v: V) => Map<K, V>;
  const MapHas = uncurry(Map.prototype.has) as <K>(m: Map<K, unknown>, k: K) => boolean;
  const MapDelete = uncurry(Map.prototype.delete) as <K>(m: Map<K, unknown>, k: K) => boolean;
  const MapClear = uncurry(Map.prototype.clear) as (m: Map<unknown, unknown>) => void;
  const MapForEach = uncurry(Map.prototype.forEach) as (m: unknown, cb: (v: unknown, k: unknown) => void) => void;
  const MapSize = uncurry(getter(Map.prototype, 'size'));
  const SetCtor = Set;
  const SetAdd = uncurry(Set.prototype.add) as (s: Set<unknown>, v: unknown) => Set<unknown>;
  const SetForEach = uncurry(Set.prototype.forEach) as (s: unknown, cb: (v: unknown) => void) => void;
  const SetSize = uncurry(getter(Set.prototype, 'size'));
  const SetHas = uncurry(Set.prototype.has) as (s: Set<unknown>, v: unknown) => boolean;
  const WeakSetAdd = uncurry(WeakSet.prototype.add);
  const WeakSetHas = uncurry(WeakSet.prototype.has);
  const WeakMapGet = uncurry(WeakMap.prototype.get) as <V>(m: WeakMap<object, V>, k: object) => V | undefined;
  const WeakMapSet = uncurry(WeakMap.prototype.set) as <V>(m: WeakMap<object, V>, k: object, v: V) => unknown;
  const PromiseCtor = Promise;
  const PromiseThen = uncurry(Promise.prototype.then) as <T, R>(p: Promise<T>, ok: (v: T) => R, bad: (e: unknown) => R) => Promise<R>;
  const StringCtor = String;
  const StringFromCharCode = String.fromCharCode;
  const StringSlice = uncurry(String.prototype.slice);
  const StringCharCodeAt = uncurry(String.prototype.charCodeAt);
  const StringIndexOf = uncurry(String.prototype.indexOf);
  const StringSplit = uncurry(String.prototype.split as Fn<string, [string], string[]>);
  const SymbolToString = uncurry(Symbol.prototype.toString);
  const RegExpExec = RegExp.prototype.exec;
  const NumberCtor = Number;
  const { parseFloat: NumberParseFloat, parseInt: NumberParseInt, isInteger: NumberIsInteger } = Number;
  const { exp: MathExp } = Math;
  const JSONStringify = JSON.stringify;
  const JSONParse = JSON.parse;
  const NumberIsFinite = Number.isFinite;
  const ErrorCtor = Error;
  const TypeErrorCtor = TypeError;
  const RangeErrorCtor = RangeError;
  const indirectEval = G['eval'] as (code: string) => unknown;

  /** A regex whose exec cannot be patched through RegExp.prototype. */
  const ownRegExp = (re: RegExp) => ObjectDefineProperty(re, 'exec', { value: RegExpExec });
  const IDENTIFIER = ownRegExp(/^[\p{ID_Start}$_][\p{ID_Continue}$\u200c\u200d]*$/u);
  const PLAIN_KEY = ownRegExp(/^[A-Za-z_$][\w$]*$/);
  const matches = (re: RegExp, s: string) => re.exec(s) !== null;

  /** Arrays that leave the isolate: no prototype, so no inherited setter can touch their elements. */
  function newList<T>(): T[] {
    const list: T[] = [];
    ObjectSetPrototypeOf(list, null);
    return list;
  }
  function push<T>(list: T[], value: T): void {
    list[list.length] = value;
  }
  const isObjectLike = (v: unknown): v is object => (typeof v === 'object' && v !== null) || typeof v === 'function';
  const isTypedArray = (v: unknown): v is ArrayLike<number> => ArrayBufferIsView(v) && TypedArrayTag(v) !== undefined;
  function brand(check: (v: unknown) => unknown, v: unknown): boolean {
    try {
      check(v);
      return true;
    } catch {
      return false;
    }
  }

  // ---- text: UTF-8 sizes and Node-like formatting ----------------------------------------------
  let fitBytes = 0;
  /** Chars of `s` that fit in `limit` UTF-8 bytes; their byte count is left in fitBytes. */
  function fitUtf8(s: string, limit: number): number {
    let bytes = 0;
    let i = 0;
    for (; i < s.length; i++) {
      const c = StringCharCodeAt(s, i);
      const pair = c >= 0xd800 && c < 0xdc00 && i + 1 < s.length;
      const size = c < 0x80 ? 1 : c < 0x800 ? 2 : pair ? 4 : 3;
      if (bytes + size > limit) break;
      bytes += size;
      if (pair) i++;
    }
    fitBytes = bytes;
    return i;
  }

  let room = 0; // characters the line being formatted may still grow by
  function quote(s: string): string {
    let out = "'";
    for (let i = 0; i < s.length && i < room; i++) {
      const c = s[i]!;
      out += c === "'" ? "\\'" : c === '\\' ? '\\\\' : c === '\n' ? '\\n' : c;
    }
    return out + "'";
  }
  function typeName(o: object): string {
    const proto = ObjectGetPrototypeOf(o) as { constructor?: { name?: unknown } } | null;
    if (proto === null) return '[Object: null prototype] ';
    if (proto === ObjectPrototype) return '';
    const name = proto.constructor?.name;
    return typeof name === 'string' && name !== '' && name !== 'Object' ? `${name} ` : '';
  }
  function inspectList(open: string, items: string[], more: number, close: string): string {
    if (more > 0) push(items, `... ${more} more item${more === 1 ? '' : 's'}`);
    return items.length === 0 ? `${open}${close}` : `${open} ${ArrayJoin(items, ', ')} ${close}`;
  }
  function inspect(v: unknown, depth: number, seen: object[]): string {
    if (room <= 0) return '…';
    switch (typeof v) {
      case 'string': return depth === 0 ? v : quote(v);
      case 'number': return ObjectIs(v, -0) ? '-0' : StringCtor(v);
      case 'bigint': return `${StringCtor(v)}n`;
      case 'symbol': return SymbolToString(v);
      case 'function': return `[Function: ${typeof v.name === 'string' && v.name !== '' ? v.name : '(anonymous)'}]`;
      case 'object': break;
      default: return StringCtor(v);
    }
    if (v === null) return 'null';
    for (let i = 0; i < seen.length; i++) if (seen[i] === v) return '[Circular]';
    const text = inspectObject(v, depth, seen);
    room -= text.length;
    return text;
  }
  function inspectObject(o: object, depth: number, seen: object[]): string {
    const maxItems = depth === 0 ? 100 : 20;
    if (isTypedArray(o)) {
      const n = o.length;
      const items = newList<string>();
      for (let i = 0; i < n && i < 10 && room > 0; i++) push(items, inspect(o[i], depth + 1, seen));
      return inspectList(`${TypedArrayTag(o)}(${n}) [`, items, n - items.length, ']');
    }
    if (ArrayBufferIsView(o)) return `DataView(${(o as DataView).byteLength})`;
    if (brand(DateGetTime, o)) return brand(DateToISOString, o) ? DateToISOString(o as Date) : 'Invalid Date';
    if (o instanceof ErrorCtor) {
      const head = `${StringCtor(o.name)}: ${StringCtor(o.message)}`;
      return depth > 0 ? `[${head}]` : typeof o.stack === 'string' ? o.stack : head;
    }
    if (depth > 2) return ArrayIsArray(o) ? '[Array]' : `[${typeName(o).trim() || 'Object'}]`;
    const inner = newList<object>();
    for (let i = 0; i < seen.length; i++) push(inner, seen[i]!);
    push(inner, o);
    const items = newList<string>();
    if (ArrayIsArray(o)) {
      for (let i = 0; i < o.length && i < maxItems && room > 0; i++) push(items, inspect(o[i], depth + 1, inner));
      return inspectList('[', items, o.length - items.length, ']');
    }
    if (brand(MapSize, o)) {
      MapForEach(o, (value, key) => {
        if (items.length < maxItems && room > 0) push(items, `${inspect(key, depth + 1, inner)} => ${inspect(value, depth + 1, inner)}`);
      });
      return inspectList(`Map(${MapSize(o)}) {`, items, (MapSize(o) as number) - items.length, '}');
    }
    if (brand(SetSize, o)) {
      SetForEach(o, (value) => {
        if (items.length < maxItems && room > 0) push(items, inspect(value, depth + 1, inner));
      });
      return inspectList(`Set(${SetSize(o)}) {`, items, (SetSize(o) as number) - items.length, '}');
    }
    const keys = ObjectKeys(o);
    for (let i = 0; i < keys.length && i < maxItems && room > 0; i++) {
      const key = keys[i]!;
      const label = matches(PLAIN_KEY, key) ? key : quote(key);
      push(items, `${label}: ${inspect((o as Record<string, unknown>)[key], depth + 1, inner)}`);
    }
    return inspectList(`${typeName(o)}{`, items, keys.length - items.length, '}');
  }
  /** util.format-like: %s %d %i %f %j %o %O %c %% in a first string argument. */
  function formatLine(args: ArrayLike<unknown>, limit: number): string {
    room = limit + 1;
    let line = '';
    let next = 0;
    const first = args[0];
    if (typeof first === 'string' && args.length > 1 && StringIndexOf(first, '%') !== -1) {
      next = 1;
      for (let i = 0; i < first.length && room > 0; i++) {
        const c = first[i]!;
        const spec = first[i + 1];
        if (c !== '%' || spec === undefined) { line += c; continue; }
        i++;
        if (spec === '%') { line += '%'; continue; }
        if (next >= args.length || StringIndexOf('sdifjoOc', spec) === -1) { line += `%${spec}`; continue; }
        const a = args[next++];
        if (spec === 's') line += typeof a === 'string' ? a : inspect(a, 1, newList());
        else if (spec === 'd') line += typeof a === 'bigint' ? `${a}n` : StringCtor(NumberCtor(a));
        else if (spec === 'i') line += StringCtor(NumberParseInt(StringCtor(a)));
        else if (spec === 'f') line += StringCtor(NumberParseFloat(StringCtor(a)));
        else if (spec === 'j') line += jsonOf(a);
        else if (spec !== 'c') line += inspect(a, 1, newList());
      }
      room -= line.length;
    }
    for (let i = next; i < args.length && room > 0; i++) {
      const a = args[i];
      const piece = typeof a === 'string' ? a : inspect(a, 0, newList());
      line = i === 0 ? piece : `${line} ${piece}`;
      room -= piece.length + 1;
    }
    return line;
  }
  function jsonOf(v: unknown): string {
    try {
      return StringCtor(JSONStringify(v));
    } catch {
      return '[Circular]';
    }
  }

  // ---- console: buffered in the isolate, drained once per call ---------------------------------
  // null until the call prints: most calls print nothing, and an absent object costs nothing to
  // allocate here or to copy out (the host reads null as no output).
  let logs: PreludeLogs | null = null;
  let linesLeft = options.maxLogLines;
  let bytesLeft = options.maxLogBytes;
  let closed = false; // the request's budget is spent: drop silently
  function resetLogs(lines: number, bytes: number, truncated: boolean): void {
    logs = null;
    linesLeft = lines;
    bytesLeft = bytes;
    closed = truncated;
  }
  function takeLogs(): PreludeLogs | null {
    const taken = logs;
    logs = null;
    return taken;
  }
  function currentLogs(): PreludeLogs {
    if (logs === null) logs = { out: newList(), err: newList(), dropped: 0 };
    return logs;
  }
  function emit(toErr: boolean, args: ArrayLike<unknown>): void {
    if (closed) return;
    const current = currentLogs();
    const list = toErr ? current.err : current.out;
    if (linesLeft > 0 && bytesLeft > 0) {
      const line = formatLine(args, bytesLeft);
      const fit = fitUtf8(line, bytesLeft);
      if (fit === line.length || fit > 0) {
        push(list, fit === line.length ? line : StringSlice(line, 0, fit));
        linesLeft -= 1;
        bytesLeft -= fitBytes;
      }
      if (fit === line.length) return;
    }
    closed = true;
    current.dropped = toErr ? 2 : 1;
  }
  function scriptFrames(stack: string): string {
    const lines = StringSplit(stack, '\n');
    const frames = newList<string>();
    for (let i = 0; i < lines.length && frames.length < 50; i++) {
      const line = lines[i]!;
      if (StringIndexOf(line, '    at ') !== 0 || StringIndexOf(line, `${options.scriptFilename}:`) === -1) continue;
      // The script's top level runs through eval (see load): show its frames as a script's.
      const top = StringIndexOf(line, `    at eval (${options.scriptFilename}:`) === 0 && line[line.length - 1] === ')';
      push(frames, top ? `    at ${StringSlice(line, 13, line.length - 1)}` : line);
    }
    return ArrayJoin(frames, '\n');
  }
  const scriptConsole: InferboxConsole = {
    log: (...args) => emit(false, args),
    info: (...args) => emit(false, args),
    debug: (...args) => emit(false, args),
    dir: (value) => emit(false, [value]),
    warn: (...args) => emit(true, args),
    error: (...args) => emit(true, args),
    trace(...args) {
      if (closed) return;
      const frames = scriptFrames(StringCtor(new ErrorCtor().stack));
      emit(true, [`Trace${args.length > 0 ? `: ${formatLine(args, bytesLeft)}` : ''}${frames === '' ? '' : `\n${frames}`}`]);
    },
    assert(condition, ...args) {
      if (!condition) emit(true, args.length > 0 ? ['Assertion failed:', ...args] : ['Assertion failed']);
    },
  };

  // ---- errors ------------------------------------------------------------------------------------
  const rejections = new WeakSet<object>();
  const bridgeCodes = new WeakMap<object, string>();
  /** Failures of the flow's own steps (not of a script function): the host's code, no stack report. */
  const flowFailures = new WeakSet<object>();
  /** A failed host call as the script sees it: an Error with the server's code, which it may catch. */
  function bridgeError(code: string, message: string): Error {
    const error = new ErrorCtor(message);
    ObjectDefineProperty(error, 'code', { value: code, writable: true, configurable: true, enumerable: true });
    WeakMapSet(bridgeCodes, error, code);
    return error;
  }
  function flowFailure(code: string, message: string): Error {
    const error = bridgeError(code, message);
    WeakSetAdd(flowFailures, error);
    return error;
  }
  function fail(message: unknown): never {
    const error = new ErrorCtor(StringCtor(message));
    WeakSetAdd(rejections, error);
    throw error;
  }
  function cap(s: string, max: number): string {
    return s.length > max ? `${StringSlice(s, 0, max)}…` : s;
  }
  function failure(e: unknown): PreludeEnvelope {
    try {
      if (isObjectLike(e) && WeakSetHas(rejections, e)) {
        return { kind: 'rejected', message: cap(StringCtor((e as Error).message), 4000), logs: takeLogs() };
      }
    } catch {
      // a rejection whose message cannot be read is described like any other throw
    }
    let name = 'Error';
    let message = 'the script threw a value that could not be described';
    let frames = '';
    let code: string | null = null;
    try {
      if (isObjectLike(e)) code = WeakMapGet(bridgeCodes, e) ?? null;
      if (e instanceof ErrorCtor) {
        name = cap(StringCtor(e.name), 200);
        message = cap(StringCtor(e.message), 4000);
        const stack = e.stack;
        if (typeof stack === 'string') frames = scriptFrames(stack);
      } else {
        room = 4000;
        message = cap(inspect(e, 0, newList()), 4000);
      }
    } catch {
      // keep the generic description
    }
    const report = frames === '' ? `${name}: ${message}` : `${name}: ${message}\n${frames}`;
    return { kind: 'threw', name, message, report: isObjectLike(e) && WeakSetHas(flowFailures, e) ? '' : report, code, logs: takeLogs() };
  }

  // ---- results: rebuilt from own data properties only ---------------------------------------------
  class Uncopyable {
    constructor(readonly what: string, public path = '') {}
  }
  const isPrimitive = (v: unknown) => (typeof v !== 'object' || v === null) && typeof v !== 'function' && typeof v !== 'symbol';
  /**
   * Whether the copy being made is plain JSON, which then leaves as text: no undefined, BigInt,
   * NaN or Infinity, typed arrays, Date, Map or Set, and no object reached twice (a cycle or a shared
   * object, which JSON would break or duplicate). Reset by each settled().
   */
  let copyIsJson = true;
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
  function clean(v: unknown, seen: Map<object, unknown>): unknown {
    if (isPrimitive(v)) return primitive(v);
    if (typeof v === 'function') throw new Uncopyable('a function');
    if (typeof v === 'symbol') throw new Uncopyable('a symbol');
    const o = v as object;
    if (MapHas(seen, o)) {
      copyIsJson = false;
      return MapGet(seen, o);
    }
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
  /** What `fnName` returned, as data that may leave the isolate; sets copyIsJson. Throws a TypeError for what cannot leave. */
  function copyOut(fnName: string, value: unknown): unknown {
    copyIsJson = true;
    try {
      return isPrimitive(value) ? primitive(value) : clean(value, seenInCopy);
    } catch (e) {
      if (!(e instanceof Uncopyable)) throw e;
      throw new TypeErrorCtor(`${fnName}() returned ${e.what} at result${e.path}; only data (JSON values, typed arrays, Date, Map, Set) can leave the sandbox`);
    } finally {
      MapClear(seenInCopy);
    }
  }
  function settled(fnName: string, value: unknown): PreludeEnvelope {
    try {
      const copy = copyOut(fnName, value);
      const logs = takeLogs();
      return copyIsJson && logs === null ? JSONStringify(copy) : { kind: 'ok', value: copy, logs };
    } catch (e) {
      return failure(e);
    }
  }

  /** For promise handlers: a rejection of `pending` would reach isolated-vm, so nothing may throw. */
  function settledSafely(fnName: string, value: unknown, rejected = false): PreludeEnvelope {
    try {
      return rejected ? failure(value) : settled(fnName, value);
    } catch {
      return { kind: 'threw', name: 'Error', message: 'the sandbox could not complete the call', report: '', code: null, logs: takeLogs() };
    }
  }

  // ---- tensor helpers ------------------------------------------------------------------------------
  type Numbers = ArrayLike<number>;
  const isRows = (v: unknown): v is unknown[] => ArrayIsArray(v) && v.length > 0 && (ArrayIsArray(v[0]) || isTypedArray(v[0]));
  const isTensorObject = (v: unknown): v is InferboxTensor =>
    isObjectLike(v) && !ArrayIsArray(v) && !ArrayBufferIsView(v) && ArrayIsArray((v as InferboxTensor).shape);
  function flatten(v: unknown, into: unknown[]): unknown[] {
    if (isTypedArray(v)) for (let i = 0; i < v.length; i++) push(into, v[i]);
    else if (ArrayIsArray(v)) for (let i = 0; i < v.length; i++) flatten(v[i], into);
    else push(into, v);
    return into;
  }
  function tensorRows(t: InferboxTensor): Numbers[] {
    const data = t.data as Numbers;
    const width = t.shape.length === 0 ? data.length : NumberCtor(t.shape[t.shape.length - 1]);
    const rows: Numbers[] = [];
    for (let start = 0; start < data.length || rows.length === 0; start += width || 1) {
      rows[rows.length] = isTypedArray(data) ? TypedArraySubarray(data, start, start + width) : (data as number[]).slice(start, start + width);
      if (width === 0) break;
    }
    return rows;
  }
  /** Applies a per-row function; one row gives its result alone unless keepNesting. */
  function overRows<R>(v: unknown, fn: (row: Numbers) => R, who: string, keepNesting: boolean): R | R[] {
    if (isTensorObject(v)) {
      const rows = tensorRows(v);
      return rows.length === 1 && !keepNesting ? fn(rows[0]!) : rows.map(fn);
    }
    if (isRows(v)) {
      if (v.length === 1 && !keepNesting) return overRows(v[0], fn, who, keepNesting);
      return v.map((row) => overRows(row, fn, who, keepNesting)) as R[];
    }
    if (isTypedArray(v) || ArrayIsArray(v)) return fn(v as Numbers);
    throw new TypeErrorCtor(`${who}(): expected an array, a typed array or { data, shape }`);
  }
  function argmaxRow(row: Numbers): number {
    if (row.length === 0) throw new RangeErrorCtor('argmax(): the array is empty');
    let best = 0;
    let bestValue = NumberCtor(row[0]);
    for (let i = 1; i < row.length; i++) {
      const x = NumberCtor(row[i]);
      if (x > bestValue || (bestValue !== bestValue && x === x)) { best = i; bestValue = x; }
    }
    return best;
  }
  function softmaxRow(row: Numbers): Numbers {
    let max = -Infinity;
    for (let i = 0; i < row.length; i++) if (NumberCtor(row[i]) > max) max = NumberCtor(row[i]);
    const tag = isTypedArray(row) ? TypedArrayTag(row) : undefined;
    const out: number[] | Float32Array | Float64Array =
      tag === undefined ? new Array<number>(row.length) : tag === 'Float32Array' ? new Float32Array(row.length) : new Float64Array(row.length);
    let sum = 0;
    for (let i = 0; i < row.length; i++) {
      const e = MathExp(NumberCtor(row[i]) - max);
      out[i] = e;
      sum += e;
    }
    for (let i = 0; i < row.length; i++) out[i] = out[i]! / sum;
    return out;
  }
  function topkRow(row: Numbers, k: number): { index: number; value: number }[] {
    const order: number[] = [];
    for (let i = 0; i < row.length; i++) order[i] = i;
    const value = (i: number) => { const x = NumberCtor(row[i]); return x === x ? x : -Infinity; };
    ArraySort(order, ((a: number, b: number) => value(b) - value(a) || a - b) as (a: never, b: never) => number);
    const out: { index: number; value: number }[] = [];
    for (let i = 0; i < k && i < order.length; i++) out[i] = { index: order[i]!, value: NumberCtor(row[order[i]!]) };
    return out;
  }
  function resolveShape(shape: unknown, size: number, who: string): number[] {
    if (!ArrayIsArray(shape)) throw new TypeErrorCtor(`${who}(): shape must be an array of integers`);
    const dims: number[] = [];
    let free = -1;
    let known = 1;
    for (let i = 0; i < shape.length; i++) {
      const d: unknown = shape[i];
      if (d === -1 && free === -1) { free = i; dims[i] = -1; continue; }
      if (typeof d !== 'number' || !NumberIsInteger(d) || d < 0) throw new TypeErrorCtor(`${who}(): bad dimension ${StringCtor(d)} in shape [${ArrayJoin(shape, ',')}]`);
      dims[i] = d;
      known *= d;
    }
    if (free !== -1 && known > 0 && size % known === 0) dims[free] = size / known;
    else if (free === -1 && known === size) return dims;
    if (free === -1 || known === 0 || size % known !== 0) {
      throw new RangeErrorCtor(`${who}(): ${size} values do not fit shape [${ArrayJoin(shape, ',')}]`);
    }
    return dims;
  }
  function nest(flat: ArrayLike<unknown>, dims: number[], offset: number, dim: number): unknown {
    if (dims.length === 0) return flat[offset];
    const size = dims[dim]!;
    let stride = 1;
    for (let i = dim + 1; i < dims.length; i++) stride *= dims[i]!;
    const out: unknown[] = [];
    for (let i = 0; i < size; i++) out[i] = dim === dims.length - 1 ? flat[offset + i] : nest(flat, dims, offset + i * stride, dim + 1);
    return out;
  }
  const helpers = {
    argmax: (values: unknown) => overRows(values, argmaxRow, 'argmax', false),
    softmax: (values: unknown) => overRows(values, softmaxRow, 'softmax', true),
    topk(values: unknown, k: unknown = 1) {
      if (typeof k !== 'number' || !NumberIsInteger(k) || k < 0) throw new TypeErrorCtor('topk(): k must be a non-negative integer');
      return overRows(values, (row) => topkRow(row, k), 'topk', false);
    },
    reshape(values: unknown, shape: unknown) {
      const flat = isTypedArray(values) ? values : flatten(values, []);
      return nest(flat, resolveShape(shape, flat.length, 'reshape'), 0, 0);
    },
    tensor(data: unknown, shape: unknown) {
      const flat = isTypedArray(data) ? data : ArrayIsArray(data) ? flatten(data, []) : undefined;
      if (flat === undefined) throw new TypeErrorCtor('tensor(): data must be an array or a typed array');
      return { data: flat, shape: resolveShape(shape, flat.length, 'tensor') };
    },
  };

  // ---- host calls (model.run, file.image): an ignored host Callback starts one, the host resolves it by id ----
  type HostCallKind = 'run' | 'image' | 'flow';
  const hostCalls = new MapCtor<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void; kind: HostCallKind }>();
  let hostCallSeq = 0;
  function hostCall(kind: HostCallKind, start: (id: number) => void): Promise<unknown> {
    return new PromiseCtor((resolve, reject) => {
      const id = ++hostCallSeq;
      MapSet(hostCalls, id, { resolve, reject, kind });
      try {
        start(id);
      } catch (e) {
        MapDelete(hostCalls, id);
        if (kind === 'image') imagesInFlight--; // pumpImages, which started it, moves on to the next
        throw e;
      }
    });
  }
  const freezeSpec = (s: InferboxTensorSpec) =>
    ObjectFreeze({ name: s.name, dtype: s.dtype, shape: s.shape === null ? null : ObjectFreeze(s.shape.slice()) });
  const modelInfo = {
    name: info.name,
    version: info.version,
    inputs: ObjectFreeze(info.inputs.map(freezeSpec)),
    outputs: ObjectFreeze(info.outputs.map(freezeSpec)),
  };
  const scriptModel: InferboxModel = ObjectFreeze({
    ...modelInfo,
    run(feeds: InferboxFeeds): Promise<Record<string, unknown>> {
      if (!isObjectLike(feeds) || ArrayIsArray(feeds)) {
        return new PromiseCtor((_, reject) => reject(new TypeErrorCtor('model.run(feeds): feeds must be an object { inputName: values }')));
      }
      return hostCall('run', (id) => startRun(id, feeds)) as Promise<Record<string, unknown>>;
    },
  });

  // ---- files: uploads wrapped in the isolate; image decoding runs on the host ----------------------
  interface FileState {
    /** The upload's bytes, owned here: never handed to the script, which gets copies. */
    readonly bytes: Uint8Array;
    readonly field: string;
    readonly name: string;
    readonly type: string;
    readonly size: number;
  }
  const fileStates = new WeakMap<object, FileState>();
  /**
   * Decodes in flight per sandbox. More image() calls wait here, in the isolate, so a script that
   * starts thousands at once holds neither their byte copies nor their decodes on the host.
   */
  const MAX_IMAGES_IN_FLIGHT = 2;
  let imagesInFlight = 0;
  const imageQueue = newList<(() => void) | undefined>();
  let imageQueueHead = 0;
  function pumpImages(): void {
    while (imagesInFlight < MAX_IMAGES_IN_FLIGHT && imageQueueHead < imageQueue.length) {
      const start = imageQueue[imageQueueHead]!;
      imageQueue[imageQueueHead++] = undefined;
      if (imageQueueHead === imageQueue.length) {
        imageQueue.length = 0;
        imageQueueHead = 0;
      }
      imagesInFlight++;
      start();
    }
  }
  function stateOf(self: unknown, method: string): FileState {
    const state = isObjectLike(self) ? WeakMapGet(fileStates, self) : undefined;
    if (state === undefined) throw new TypeErrorCtor(`${method} must be called on a file of args.files, e.g. args.files[field].${method}`);
    return state;
  }

  const REPLACEMENT_CHARACTER = 0xfffd;
  const TEXT_CHUNK = 8192;
  /**
   * UTF-8 -> string as WHATWG TextDecoder('utf-8') does it (the isolate has none): a leading BOM is
   * dropped and each maximal invalid subpart becomes one U+FFFD. Code units are built in chunks and
   * turned into strings with String.fromCharCode, which keeps a 10 MB upload to a few milliseconds.
   */
  function decodeUtf8(bytes: Uint8Array): string {
    const n = TypedArrayLength(bytes);
    let text = '';
    let units = newList<number>();
    let count = 0;
    let needed = 0; // continuation bytes the current sequence still lacks
    let codePoint = 0;
    let lower = 0x80; // the bounds of the next continuation byte
    let upper = 0xbf;
    let i = n >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
    for (; i < n; i++) {
      const b = bytes[i]!;
      if (needed === 0) {
        if (b < 0x80) units[count++] = b;
        else if (b >= 0xc2 && b <= 0xdf) { needed = 1; codePoint = b & 0x1f; }
        else if (b >= 0xe0 && b <= 0xef) {
          if (b === 0xe0) lower = 0xa0;
          else if (b === 0xed) upper = 0x9f; // no surrogates
          needed = 2;
          codePoint = b & 0x0f;
        } else if (b >= 0xf0 && b <= 0xf4) {
          if (b === 0xf0) lower = 0x90;
          else if (b === 0xf4) upper = 0x8f; // nothing past U+10FFFF
          needed = 3;
          codePoint = b & 0x07;
        } else units[count++] = REPLACEMENT_CHARACTER;
      } else if (b < lower || b > upper) {
        // The sequence is cut short: one U+FFFD for it, and this byte starts afresh.
        needed = 0;
        lower = 0x80;
        upper = 0xbf;
        units[count++] = REPLACEMENT_CHARACTER;
        i--;
      } else {
        lower = 0x80;
        upper = 0xbf;
        codePoint = (codePoint << 6) | (b & 0x3f);
        if (--needed === 0) {
          if (codePoint > 0xffff) {
            codePoint -= 0x10000;
            units[count++] = 0xd800 | (codePoint >> 10);
            units[count++] = 0xdc00 | (codePoint & 0x3ff);
          } else units[count++] = codePoint;
        }
      }
      if (count >= TEXT_CHUNK) {
        text += ReflectApply(StringFromCharCode, undefined, units) as string;
        units = newList<number>();
        count = 0;
      }
    }
    if (needed !== 0) units[count++] = REPLACEMENT_CHARACTER;
    return count === 0 ? text : text + (ReflectApply(StringFromCharCode, undefined, units) as string);
  }

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
          options = isPrimitive(imageOptions) ? imageOptions : clean(imageOptions, new MapCtor());
        } catch (e) {
          if (!(e instanceof Uncopyable)) throw e;
          throw new TypeErrorCtor(`image(options): options must be plain data; found ${e.what} at options${e.path}`);
        }
        push(imageQueue, () => {
          const decoded = hostCall('image', (id) => startImage(id, file.bytes, options, file.field, file.name)) as Promise<InferboxImage>;
          PromiseThen(decoded, resolve, reject);
        });
        pumpImages();
      });
    },
    toJSON(this: unknown): { name: string; type: string; size: number } {
      const { name, type, size } = stateOf(this, 'toJSON()');
      return { name, type, size };
    },
  };
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
  /**
   * Replaces each upload `{ name, type, size, bytes }` in `arg.files` by a file object. `arg` was
   * just copied in by the host: the script has not seen it, so its bytes become the file's own.
   */
  function wrapFiles(arg: unknown): void {
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

  // ---- the predict flow: [preprocess_files ->] prepare -> model -> postprocess, in one call ---------
  const isThenable = (v: unknown): boolean => isObjectLike(v) && typeof (v as { then?: unknown }).then === 'function';
  const rethrow = (e: unknown): never => {
    throw e;
  };
  /** `next(value)` now, or once `value` settles when it is a thenable (the flow then goes on asynchronously). */
  function andThen(value: unknown, next: (v: unknown) => unknown): unknown {
    if (!isThenable(value)) return next(value);
    return PromiseThen(new PromiseCtor<unknown>((resolve) => resolve(value)), next, rethrow);
  }
  function scriptFunction(name: string): (arg: unknown) => unknown {
    const get = MapGet(fns, name);
    const fn = get === undefined ? undefined : get();
    if (typeof fn !== 'function') throw flowFailure('FUNCTION_NOT_FOUND', `the script defines no function "${name}"`);
    return fn as (arg: unknown) => unknown;
  }
  function describe(v: unknown): string {
    if (ArrayIsArray(v)) return 'an array';
    if (typeof v === 'function') return 'a function';
    return typeof v === 'symbol' ? 'a symbol' : StringCtor(v);
  }
  /** A step before the model must hand on the args object (with X). */
  function argsFrom(fnName: string, value: unknown): unknown {
    if (typeof value === 'object' && value !== null && !ArrayIsArray(value)) return value;
    throw flowFailure('SCRIPT_FAILED', `${fnName}(args) must return the args object (with X), got ${describe(value)}`);
  }
  /** The model step: synchronous inside the host's call when it says so, else an asynchronous host call. */
  function runModel(fnName: string, prepared: unknown): unknown {
    const copy = copyOut(fnName, prepared);
    const payload = copyIsJson ? JSONStringify(copy) : copy;
    const answer = inferSync(payload);
    if (answer === null) return hostCall('flow', (id) => startInfer(id, payload));
    const rows = (typeof answer === 'string' ? JSONParse(answer) : answer) as FlowRows | { code: string; message: string };
    if ('code' in rows) throw flowFailure(rows.code, rows.message);
    return rows;
  }
  /** postprocess's answer as a result record: an array zips with the output names, an object is kept. */
  function toRecord(value: unknown, names: string[]): unknown {
    if (ArrayIsArray(value)) {
      if (value.length !== names.length) {
        const message = `postprocess returned an array of ${value.length} items for ${names.length} output(s) (${ArrayJoin(names, ', ')}); return one item per output, or an object`;
        throw flowFailure('SCRIPT_FAILED', message);
      }
      const record = ObjectCreate(null) as Record<string, unknown>;
      for (let i = 0; i < names.length; i++) record[names[i]!] = value[i];
      return record;
    }
    if (value !== null && typeof value === 'object') return value;
    if (names.length === 1) {
      const record = ObjectCreate(null) as Record<string, unknown>;
      record[names[0]!] = value;
      return record;
    }
    throw flowFailure('SCRIPT_FAILED', `postprocess returned ${describe(value)}; with ${names.length} outputs return an array (one item per output) or an object`);
  }
  /** Results the way the request came: records, or `{ columns, data }` (as orient in src/api/records.ts). */
  function orient(records: unknown[], split: boolean): unknown {
    if (!split) return records;
    const columns = newList<string>();
    const seen = new SetCtor<string>();
    for (let i = 0; i < records.length; i++) {
      const keys = ObjectKeys(records[i] as object);
      for (let k = 0; k < keys.length; k++) {
        if (SetHas(seen, keys[k]!)) continue;
        SetAdd(seen, keys[k]!);
        push(columns, keys[k]!);
      }
    }
    const data = newList<unknown[]>();
    for (let i = 0; i < records.length; i++) {
      const row = newList<unknown>();
      for (let c = 0; c < columns.length; c++) push(row, (records[i] as Record<string, unknown>)[columns[c]!] ?? null);
      push(data, row);
    }
    const table = ObjectCreate(null) as Record<string, unknown>;
    table['columns'] = columns;
    table['data'] = data;
    return table;
  }
  function postprocessRows(rows: unknown, post: (row: unknown) => unknown): unknown {
    const list = rows as unknown[];
    const out = newList<unknown>();
    const from = (start: number): unknown => {
      for (let i = start; i < list.length; i++) {
        const value = ReflectApply(post, undefined, [list[i]]);
        if (isThenable(value)) {
          return andThen(value, (settledValue) => {
            out[i] = settledValue;
            return from(i + 1);
          });
        }
        out[i] = value;
      }
      return out;
    };
    return from(0);
  }
  function runFlow(input: unknown, files: boolean, prepare: string | null, postprocess: boolean): unknown {
    wrapFiles(input);
    const post = postprocess ? scriptFunction('postprocess') : null;
    const first = files ? ReflectApply(scriptFunction('preprocess_files'), undefined, [input]) : input;
    return andThen(first, (afterFiles) => {
      const args = files ? argsFrom('preprocess_files', afterFiles) : afterFiles;
      const prepared = prepare === null ? args : ReflectApply(scriptFunction(prepare), undefined, [args]);
      return andThen(prepared, (value) => {
        const step = prepare ?? (files ? 'preprocess_files' : 'args');
        return andThen(runModel(step, argsFrom(step, value)), (answer) => {
          const { rows, names, split } = answer as FlowRows;
          if (post === null) return orient(rows, split);
          return andThen(postprocessRows(rows, post), (values) => {
            const records = newList<unknown>();
            for (let i = 0; i < (values as unknown[]).length; i++) push(records, toRecord((values as unknown[])[i], names));
            return orient(records, split);
          });
        });
      });
    });
  }

  // ---- install the globals; remember what the sandbox itself defined -------------------------------
  const globals: Record<string, unknown> = { console: scriptConsole, model: scriptModel, fail, ...helpers };
  for (const key of ObjectKeys(globals)) ObjectDefineProperty(G, key, { value: globals[key], writable: true, configurable: true, enumerable: false });
  for (const key of ['WebAssembly', 'SharedArrayBuffer', 'Atomics']) delete G[key];
  const baseline = new MapCtor<string, unknown>();
  for (const key of ObjectGetOwnPropertyNames(G)) MapSet(baseline, key, G[key]);

  // Words that cannot follow `() =>` in sloppy or strict code; `__proto__` would set a prototype.
  const RESERVED = new SetCtor(StringSplit(
    'break case catch class const continue debugger default delete do else enum export extends false finally for ' +
    'function if import in instanceof new null return super switch this throw true try typeof var void while with ' +
    'implements interface let package private protected public static yield __proto__', ' '));
  const fns = new MapCtor<string, () => unknown>();
  let pending: Promise<PreludeEnvelope> | undefined;

  return {
    dispatch(name, args, lines, bytes, truncated) {
      try {
        resetLogs(lines, bytes, truncated);
        pending = undefined;
        let result: unknown;
        try {
          const get = MapGet(fns, name);
          const fn = get === undefined ? undefined : get();
          if (typeof fn !== 'function') return { kind: 'missing', logs: takeLogs() };
          if (typeof args === 'string') args = JSONParse(args) as unknown[];
          if (args.length > 0) wrapFiles(args[0]);
          result = ReflectApply(fn, undefined, args);
          if (!isObjectLike(result) || typeof (result as { then?: unknown }).then !== 'function') return settled(name, result);
        } catch (e) {
          return failure(e);
        }
        const promise = new PromiseCtor<unknown>((resolve) => resolve(result));
        pending = PromiseThen(promise, (value) => settledSafely(name, value), (e) => settledSafely(name, e, true));
        return { kind: 'pending' };
      } catch {
        return { kind: 'threw', name: 'Error', message: 'the sandbox could not complete the call', report: '', code: null, logs: takeLogs() };
      }
    },
    flow(call) {
      try {
        const c = typeof call === 'string' ? (JSONParse(call) as FlowCall) : call;
        resetLogs(c[1], c[2], c[3]);
        pending = undefined;
        let result: unknown;
        try {
          result = runFlow(c[0], c[4], c[5], c[6]);
          if (!isThenable(result)) return settled('postprocess', result);
        } catch (e) {
          return failure(e);
        }
        pending = PromiseThen(result as Promise<unknown>, (value) => settledSafely('postprocess', value), (e) => settledSafely('postprocess', e, true));
        return { kind: 'pending' };
      } catch {
        return { kind: 'threw', name: 'Error', message: 'the sandbox could not complete the call', report: '', code: null, logs: takeLogs() };
      }
    },
    settle() {
      const settling = pending ?? new PromiseCtor<PreludeEnvelope>((resolve) => resolve({ kind: 'missing', logs: takeLogs() }));
      pending = undefined;
      return settling;
    },
    drain: takeLogs,
    load(source, candidates, lines, bytes) {
      try {
        resetLogs(lines, bytes, false);
        // The script runs through indirect eval rather than as an isolated-vm Script: then a throw
        // from its top level is caught here instead of being read by isolated-vm outside any time
        // limit. Global eval keeps script semantics (function and var declarations become globals);
        // a trailing expression hands back a getter for each top-level binding, let/const included.
        const wanted = newList<string>();
        const seen = new SetCtor<string>();
        let getters = '';
        for (let i = 0; i < candidates.length; i++) {
          const name = candidates[i]!;
          if (typeof name !== 'string' || !matches(IDENTIFIER, name) || SetHas(RESERVED, name) || SetHas(seen, name)) continue;
          SetAdd(seen, name);
          push(wanted, name);
          getters += `${name}: () => ${name}, `;
        }
        const code = `${source}\n;(() => ({ __proto__: null, ${getters}}))();\n//# sourceURL=${options.scriptFilename}`;
        let thunks: Record<string, () => unknown>;
        try {
          thunks = indirectEval(code) as Record<string, () => unknown>;
        } catch (e) {
          return failure(e);
        }
        const names = newList<string>();
        for (let i = 0; i < wanted.length; i++) {
          const name = wanted[i]!;
          try {
            const get = thunks[name]!;
            const value = get();
            if (typeof value !== 'function' || (MapHas(baseline, name) && MapGet(baseline, name) === value)) continue;
            MapSet(fns, name, get);
            push(names, name);
          } catch {
            // declared but not initialised, or not a binding of the script
          }
        }
        return { kind: 'ok', value: names, logs: takeLogs() };
      } catch {
        return { kind: 'threw', name: 'Error', message: 'the sandbox could not load the script', report: '', code: null, logs: takeLogs() };
      }
    },
    resolveHost(id, ok, payload) {
      // Never throws: an exception leaving here would be read by isolated-vm outside any time limit.
      try {
        const call = MapGet(hostCalls, id);
        if (call === undefined) return;
        MapDelete(hostCalls, id);
        if (ok) {
          call.resolve(payload);
        } else {
          const { code, message } = payload as { code: string; message: string };
          call.reject(call.kind === 'flow' ? flowFailure(code, message) : bridgeError(code, message));
        }
        if (call.kind === 'image') {
          imagesInFlight--;
          pumpImages();
        }
      } catch {
        // the script broke its own promise machinery; its call will time out
      }
    },
  };
});
