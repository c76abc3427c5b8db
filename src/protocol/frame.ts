/**
 * The front ⇄ worker wire format. One frame per message:
 *
 *   u32 LE  frame length (bytes after this field)
 *   u32 LE  message length
 *   u32 LE  blob table length (0 when the message holds no typed array)
 *   message UTF-8 JSON
 *   table   JSON [[kind, offset, length], ...]
 *   blobs   raw typed-array bytes, each at an 8-byte aligned offset of the frame body
 *
 * Typed arrays anywhere in a message travel as raw bytes (never as JSON numbers); in the JSON they
 * are replaced by `{ "\u0000ta": index }`. The decoder copies a frame with blobs once into an
 * aligned buffer and hands out views on it. The message is JSON once: a header that held it as a
 * JSON string escaped the message again (and every JSON text inside it a second time).
 */

import type { Writable } from 'node:stream';

const MARK = '\u0000ta';

const KINDS = {
  f32: Float32Array,
  f64: Float64Array,
  i8: Int8Array,
  u8: Uint8Array,
  u8c: Uint8ClampedArray,
  i16: Int16Array,
  u16: Uint16Array,
  i32: Int32Array,
  u32: Uint32Array,
  i64: BigInt64Array,
  u64: BigUint64Array,
} as const;
type Kind = keyof typeof KINDS;
type AnyTypedArray = InstanceType<(typeof KINDS)[Kind]>;

function kindOf(view: ArrayBufferView): Kind {
  // Buffer is a Uint8Array subclass: it arrives as a plain Uint8Array.
  for (const [kind, ctor] of Object.entries(KINDS) as [Kind, (typeof KINDS)[Kind]][]) {
    if (view instanceof ctor) return kind;
  }
  throw new TypeError(`cannot send ${view.constructor.name} over the worker protocol`);
}

const align8 = (n: number) => (n + 7) & ~7;

/**
 * JSON.stringify calls a value's toJSON() before the replacer sees it, and Node's Buffer.toJSON
 * builds an array of every byte as a number: 160 ms of the front's time for a 20 MB upload, and a
 * RangeError for a result of a few hundred MB. Shadowed while a frame is encoded (synchronously, so
 * nothing else runs meanwhile), a Buffer reaches the replacer as itself, like any Uint8Array.
 */
function stringifyWithoutBufferToJSON(message: unknown, replacer: (this: Record<string, unknown>, key: string, value: unknown) => unknown): string {
  const proto = Buffer.prototype as { toJSON?: unknown };
  const toJSON = proto.toJSON;
  proto.toJSON = undefined;
  try {
    return JSON.stringify(message, replacer);
  } finally {
    proto.toJSON = toJSON;
  }
}

/**
 * Whether JSON.stringify alone would not do: the message holds a typed array (or Buffer), or an
 * object with the marker key, somewhere JSON reaches. Most messages hold neither (an invoke's args
 * as JSON text, a reply's resultJson), and a replacer makes V8 leave its fast serializer and call
 * back into JavaScript for every key: on an iris invoke and its reply that was most of the
 * codec's cost in the front and the worker (#14). Deeper than CHECK_DEPTH it says yes, so the
 * replacer (and JSON.stringify's own stack check) handles what it would have before.
 */
function needsReplacer(value: object, depth: number): boolean {
  if (ArrayBuffer.isView(value) || depth > CHECK_DEPTH) return true;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const child: unknown = value[i];
      if (typeof child === 'object' && child !== null && needsReplacer(child, depth + 1)) return true;
    }
    return false;
  }
  if (Object.hasOwn(value, MARK)) return true;
  for (const key in value) {
    const child: unknown = (value as Record<string, unknown>)[key];
    if (typeof child === 'object' && child !== null && needsReplacer(child, depth + 1)) return true;
  }
  return false;
}
const CHECK_DEPTH = 64;

/** The message as JSON, its typed arrays taken out into `blobs` (marked in the JSON by their index). */
function toJson(message: unknown, blobs: ArrayBufferView[]): string {
  if (typeof message !== 'object' || message === null || !needsReplacer(message, 0)) return JSON.stringify(message);
  return stringifyWithoutBufferToJSON(message, function replacer(this: Record<string, unknown>, key, value: unknown) {
    const raw = this[key];
    if (ArrayBuffer.isView(raw) && !(raw instanceof DataView)) {
      blobs.push(raw);
      return { [MARK]: blobs.length - 1 };
    }
    // A caller's own JSON must not forge a typed-array marker (it would get a view on the frame).
    if (value !== null && typeof value === 'object' && Object.hasOwn(value, MARK)) return { ...value, [MARK]: undefined };
    return value;
  });
}

/** Body bytes before the message: u32 message length, u32 table length. */
const PREFIX = 8;

/** Encodes one message into a single Buffer ready for `socket.write`. */
export function encodeFrame(message: unknown): Buffer {
  const blobs: ArrayBufferView[] = [];
  const json = toJson(message, blobs);
  const jsonLen = Buffer.byteLength(json, 'utf8');
  if (blobs.length === 0) {
    const out = Buffer.allocUnsafe(4 + PREFIX + jsonLen);
    out.writeUInt32LE(PREFIX + jsonLen, 0);
    out.writeUInt32LE(jsonLen, 4);
    out.writeUInt32LE(0, 8);
    out.write(json, 4 + PREFIX, 'utf8');
    return out;
  }
  const table: [Kind, number, number][] = [];
  // Offsets are relative to the blob area, which starts 8-aligned after the table.
  let offset = 0;
  for (const view of blobs) {
    table.push([kindOf(view), offset, view.byteLength]);
    offset = align8(offset + view.byteLength);
  }
  const tableJson = JSON.stringify(table);
  // Body: u32 message length, u32 table length, message, table, padding, blobs.
  const blobStart = align8(PREFIX + jsonLen + tableJson.length);
  const bodyLen = blobStart + offset;
  const out = Buffer.allocUnsafe(4 + bodyLen);
  out.writeUInt32LE(bodyLen, 0);
  out.writeUInt32LE(jsonLen, 4);
  out.writeUInt32LE(tableJson.length, 8);
  out.write(json, 4 + PREFIX, 'utf8');
  out.write(tableJson, 4 + PREFIX + jsonLen, 'latin1');
  out.fill(0x20, 4 + PREFIX + jsonLen + tableJson.length, 4 + blobStart);
  const blobBase = 4 + blobStart;
  blobs.forEach((view, i) => {
    const [, at, len] = table[i]!;
    out.set(new Uint8Array(view.buffer, view.byteOffset, len), blobBase + at);
  });
  return out;
}

/** Lengths of the message and the blob table of the body at `at`, checked against the body's length (a corrupt stream otherwise). */
function lengthsOf(bytes: Buffer, at: number, bodyLen: number): [number, number] {
  if (bodyLen < PREFIX) throw new Error(`worker protocol: corrupt frame (a body of ${bodyLen} bytes)`);
  const jsonLen = bytes.readUInt32LE(at);
  const tableLen = bytes.readUInt32LE(at + 4);
  if (PREFIX + jsonLen + tableLen > bodyLen) throw new Error(`worker protocol: corrupt frame (${jsonLen} + ${tableLen} bytes of header in a body of ${bodyLen})`);
  return [jsonLen, tableLen];
}

/** Decodes a frame body that sits alone at the start of its own ArrayBuffer (8-aligned): views need no copy. */
function decodeBody(body: Uint8Array): unknown {
  const buffer = body.buffer as ArrayBuffer;
  const bytes = Buffer.from(buffer, 0, body.byteLength);
  const [jsonLen, tableLen] = lengthsOf(bytes, 0, body.byteLength);
  if (tableLen === 0) return JSON.parse(bytes.toString('utf8', PREFIX, PREFIX + jsonLen));
  const table = JSON.parse(bytes.toString('latin1', PREFIX + jsonLen, PREFIX + jsonLen + tableLen)) as [Kind, number, number][];
  const blobBase = align8(PREFIX + jsonLen + tableLen);
  const arrays = table.map(([kind, at, len]) => {
    const ctor = KINDS[kind];
    return new ctor(buffer, blobBase + at, len / ctor.BYTES_PER_ELEMENT) as AnyTypedArray;
  });
  return JSON.parse(bytes.toString('utf8', PREFIX, PREFIX + jsonLen), (_key, value: unknown) => {
    if (value !== null && typeof value === 'object' && Object.hasOwn(value, MARK)) {
      return arrays[(value as Record<string, number>)[MARK]!];
    }
    return value;
  });
}

/** Writes frames in one system call (a writev: large frames are not copied together first). */
export function writeAll(stream: Pick<Writable, 'write' | 'cork' | 'uncork'>, frames: readonly Buffer[]): void {
  if (frames.length === 1) {
    stream.write(frames[0]!);
    return;
  }
  stream.cork();
  for (const frame of frames) stream.write(frame);
  stream.uncork();
}

/**
 * Incremental decoder: push socket chunks, get whole messages back. A frame without blobs that lies
 * in one chunk (the usual request and reply) is parsed from the chunk itself. Any other frame body
 * is copied once, from the chunks straight into its own ArrayBuffer (aligned, so typed-array views
 * need no copy, and never a view on a pooled socket buffer); a large frame arrives in thousands of
 * chunks, which are not concatenated first.
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  /** Index of the first chunk not yet consumed, and how far into it is consumed. */
  private head = 0;
  private at = 0;
  private buffered = 0;

  /** Maximum frame body accepted; a larger length prefix means a corrupt stream. */
  constructor(private readonly maxFrameBytes = 2 ** 31) {}

  push(chunk: Buffer): unknown[] {
    if (chunk.length === 0) return [];
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const messages: unknown[] = [];
    while (this.buffered >= 4) {
      const bodyLen = this.peekLength();
      if (bodyLen > this.maxFrameBytes) throw new Error(`worker protocol: frame of ${bodyLen} bytes exceeds the limit`);
      if (this.buffered < 4 + bodyLen) break;
      const c = this.chunks[this.head]!;
      const start = this.at + 4;
      if (c.length - start >= bodyLen && bodyLen >= PREFIX && c.readUInt32LE(start + 4) === 0) {
        // No blobs, so no views to align: parsed from the socket's chunk.
        const [jsonLen] = lengthsOf(c, start, bodyLen);
        messages.push(JSON.parse(c.toString('utf8', start + PREFIX, start + PREFIX + jsonLen)));
        this.skip(4 + bodyLen);
        continue;
      }
      this.skip(4);
      messages.push(decodeBody(this.take(bodyLen)));
    }
    if (this.head === this.chunks.length) {
      this.chunks = [];
      this.head = 0;
      this.at = 0;
    }
    return messages;
  }

  /** The u32 length prefix at the front of the buffered bytes (at least 4 are buffered). */
  private peekLength(): number {
    const first = this.chunks[this.head]!;
    if (first.length - this.at >= 4) return first.readUInt32LE(this.at);
    const prefix = Buffer.alloc(4);
    let filled = 0;
    for (let i = this.head, from = this.at; filled < 4; i++, from = 0) {
      const c = this.chunks[i]!;
      filled += c.copy(prefix, filled, from, Math.min(c.length, from + 4 - filled));
    }
    return prefix.readUInt32LE(0);
  }

  /** Consumes `n` buffered bytes. */
  private skip(n: number): void {
    this.buffered -= n;
    while (n > 0) {
      const left = this.chunks[this.head]!.length - this.at;
      if (n < left) {
        this.at += n;
        return;
      }
      n -= left;
      this.chunks[this.head++] = EMPTY;
      this.at = 0;
    }
  }

  /** The next `n` buffered bytes, copied into a fresh ArrayBuffer of their own, and consumed. */
  private take(n: number): Uint8Array {
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      const c = this.chunks[this.head]!;
      const k = Math.min(c.length - this.at, n - filled);
      out.set(this.at === 0 && k === c.length ? c : c.subarray(this.at, this.at + k), filled);
      filled += k;
      this.skip(k);
    }
    return out;
  }
}

const EMPTY = Buffer.alloc(0);
