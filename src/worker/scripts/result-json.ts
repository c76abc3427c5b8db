/**
 * A script's result as the JSON the front writes into its answer, made once, here, when the sandbox
 * handed over data rather than JSON text: typed arrays, BigInt, Map, Set, Date, NaN, undefined (the
 * prelude sends plain JSON as text itself, see sandbox/prelude/copy-out.ts). The size is counted
 * while writing, and writing stops once it passes the result limit, so a result far over the limit
 * costs a check, not its serialization.
 */
import { ServeError } from '../../errors.js';
import { jsonBytesOver, resultTooLarge } from '../sandbox-host/index.js';

/**
 * Results up to this many characters cross the pipe as text in the frame's JSON header, which costs
 * less than a blob for small ones. Longer ones cross as UTF-8 bytes, a raw blob of the frame that the
 * front writes into its answer without ever making a string of it (the header's JSON would escape,
 * copy and parse a long text twice on each side).
 */
export const INLINE_RESULT_CHARS = 64 * 1024;
/** Typed-array elements turned into text at a time: the number array this needs stays small. */
const TYPED_CHUNK = 16_384;
/** Pending text is encoded into a chunk of bytes past this many characters. */
const FLUSH_CHARS = 64 * 1024;

/** A result's JSON text as it crosses to the front: as it is when short, else as bytes. */
export function resultOnWire(text: string): string | Uint8Array {
  return text.length <= INLINE_RESULT_CHARS ? text : Buffer.from(text, 'utf8');
}

/**
 * `value` as JSON, as the docs' table says (docs/scripts.md#what-a-function-can-return): typed
 * arrays and Sets as arrays, BigInt as a number (a decimal string beyond 2^53), Map as an object with
 * string keys, undefined as null (left out as an object's value), NaN and Infinity as null, Date as
 * {}. Throws SCRIPT_RESULT_TOO_LARGE past `limit` bytes, naming `what` returned it.
 */
export function resultJson(value: unknown, limit: number, what: string): string | Uint8Array {
  const writer = new JsonWriter(limit, what);
  try {
    writer.value(value);
  } catch (err) {
    // The isolate copied the value out, so its depth fits a stack; this one may still be shallower.
    if (err instanceof RangeError) throw new ServeError('SCRIPT_FAILED', `${what} returned a result nested too deeply to write as JSON`);
    throw err;
  }
  return writer.end();
}

type TypedArray = Exclude<ArrayBufferView, DataView> & { readonly length: number; subarray(begin: number, end: number): TypedArray };

const bigintValue = (v: bigint): number | string => (v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(v) : v.toString());

class JsonWriter {
  private readonly chunks: Uint8Array[] = [];
  private chunkBytes = 0;
  /** Written, not yet encoded: a short result never leaves this string. */
  private text = '';

  constructor(
    private readonly limit: number,
    private readonly what: string,
  ) {}

  value(v: unknown): void {
    switch (typeof v) {
      case 'string':
        return this.put(JSON.stringify(v));
      case 'number':
        return this.put(Number.isFinite(v) ? String(v) : 'null');
      case 'boolean':
        return this.put(v ? 'true' : 'false');
      case 'bigint':
        return this.put(JSON.stringify(bigintValue(v)));
      case 'object':
        return v === null ? this.put('null') : this.object(v);
      default:
        // undefined; functions and symbols never leave the sandbox
        return this.put('null');
    }
  }

  end(): string | Uint8Array {
    if (this.chunks.length === 0) {
      const bytes = jsonBytesOver(this.text, this.limit);
      if (bytes !== null) throw resultTooLarge(this.what, bytes, this.limit, false);
      return resultOnWire(this.text);
    }
    this.flush();
    if (this.chunkBytes > this.limit) throw resultTooLarge(this.what, this.chunkBytes, this.limit, false);
    const bytes = Buffer.concat(this.chunks, this.chunkBytes);
    return bytes.length <= INLINE_RESULT_CHARS ? bytes.toString('utf8') : bytes;
  }

  private object(o: object): void {
    if (ArrayBuffer.isView(o)) return o instanceof DataView ? this.put('[]') : this.typedArray(o as TypedArray);
    if (Array.isArray(o)) return this.list(o);
    if (o instanceof Set) return this.list([...o]);
    if (o instanceof Map) {
      // As Object.fromEntries builds it: a later key with the same string replaces the earlier value.
      const record: Record<string, unknown> = Object.fromEntries([...o].map(([k, v]) => [String(k), v ?? null]));
      return this.record(record);
    }
    // Records, and Date and ArrayBuffer, which have no own enumerable keys: {}
    this.record(o as Record<string, unknown>);
  }

  private list(items: readonly unknown[]): void {
    this.put('[');
    for (let i = 0; i < items.length; i++) {
      if (i > 0) this.put(',');
      this.value(items[i]);
    }
    this.put(']');
  }

  private record(o: Record<string, unknown>): void {
    this.put('{');
    let first = true;
    for (const key of Object.keys(o)) {
      const v = o[key];
      if (v === undefined) continue;
      this.put(`${first ? '' : ','}${JSON.stringify(key)}:`);
      first = false;
      this.value(v);
    }
    this.put('}');
  }

  /**
   * One JSON.stringify per chunk of elements: V8's number printing, as JSON.stringify of the whole
   * array would print them (NaN as null), without a number array of the whole typed array.
   */
  private typedArray(a: TypedArray): void {
    const n = a.length;
    // Each element takes a digit and a separator at least: one far over the limit is refused unwritten.
    this.checkSize(n === 0 ? 2 : 2 * n + 1);
    if (n === 0) return this.put('[]');
    this.flush();
    const big = a instanceof BigInt64Array || a instanceof BigUint64Array;
    for (let i = 0; i < n; i += TYPED_CHUNK) {
      const part = a.subarray(i, i + TYPED_CHUNK);
      const text = big ? JSON.stringify(Array.from(part as BigInt64Array, bigintValue)) : JSON.stringify(Array.from(part as Float64Array));
      // ASCII only (digits, signs, quotes of big decimals): latin1 is UTF-8 here, and faster.
      const bytes = Buffer.from(text, 'latin1');
      // Chunks join into one array: each "[...]" loses its "]" but the last, its "[" becomes ",".
      if (i > 0) bytes[0] = 0x2c;
      this.push(i + TYPED_CHUNK >= n ? bytes : bytes.subarray(0, bytes.length - 1));
    }
  }

  private put(s: string): void {
    this.text += s;
    if (this.text.length >= FLUSH_CHARS) this.flush();
    this.checkSize();
  }

  private push(bytes: Uint8Array): void {
    this.chunks.push(bytes);
    this.chunkBytes += bytes.length;
    this.checkSize();
  }

  private flush(): void {
    if (this.text.length === 0) return;
    const bytes = Buffer.from(this.text, 'utf8');
    this.text = '';
    this.push(bytes);
  }

  /** Pending text counts its length, a lower bound of its bytes: what is over here is over. */
  private checkSize(more = 0): void {
    const least = this.chunkBytes + this.text.length + more;
    if (least > this.limit) throw resultTooLarge(this.what, least, this.limit, true);
  }
}
