/**
 * Node-like formatting of console arguments (util.format / util.inspect, cut down), with a budget:
 * `room` is how many characters the line being built may still grow by, so a script that logs a
 * huge or deeply nested value costs work in proportion to the log budget, not to the value.
 * Everything is read through intrinsics.ts; values are the script's own, so only own getters
 * (e.g. `o.name` on an Error) can run user code, inside the call's time limit.
 */
import {
  ArrayBufferIsView, ArrayIsArray, ArrayJoin, brand, DateGetTime, DateToISOString, ErrorCtor, isTypedArray, JSONStringify,
  MapForEach, MapSize, matches, newList, NumberCtor, NumberParseFloat, NumberParseInt, ObjectGetPrototypeOf, ObjectIs,
  ObjectKeys, ObjectPrototype, PLAIN_KEY, push, SetForEach, SetSize, StringCtor, StringIndexOf, SymbolToString, TypedArrayTag,
} from './intrinsics.js';

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

/** One value as console.log shows it at top level, in about `limit` characters (for thrown non-Errors). */
export function inspectValue(v: unknown, limit: number): string {
  room = limit;
  return inspect(v, 0, newList());
}

/** util.format-like: %s %d %i %f %j %o %O %c %% in a first string argument. */
export function formatLine(args: ArrayLike<unknown>, limit: number): string {
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

/** JSON.stringify (the captured one) that never throws: %j and the paths of copy-out errors. */
export function jsonOf(v: unknown): string {
  try {
    return StringCtor(JSONStringify(v));
  } catch {
    return '[Circular]';
  }
}
