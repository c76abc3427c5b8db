/**
 * The front ⇄ worker wire format. One frame per message:
 *
 *   u32 LE  frame length (bytes after this field)
 *   u32 LE  header length
 *   header  UTF-8 JSON: { m: message, b: [[kind, offset, length], ...] }
 *   blobs   raw typed-array bytes, each at an 8-byte aligned offset of the frame body
 *
 * Typed arrays anywhere in a message travel as raw bytes (never as JSON numbers); in the JSON they
 * are replaced by `{ "\u0000ta": index }`. The decoder copies each frame once into an aligned
 * buffer and hands out views on it.
 */

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

/** Encodes one message into a single Buffer ready for `socket.write`. */
export function encodeFrame(message: unknown): Buffer {
  const blobs: ArrayBufferView[] = [];
  const json = stringifyWithoutBufferToJSON(message, function replacer(this: Record<string, unknown>, key, value: unknown) {
    const raw = this[key];
    if (ArrayBuffer.isView(raw) && !(raw instanceof DataView)) {
      blobs.push(raw);
      return { [MARK]: blobs.length - 1 };
    }
    // A caller's own JSON must not forge a typed-array marker (it would get a view on the frame).
    if (value !== null && typeof value === 'object' && Object.hasOwn(value, MARK)) return { ...value, [MARK]: undefined };
    return value;
  });
  const table: [Kind, number, number][] = [];
  // Offsets are relative to the blob area, which starts 8-aligned after the header.
  let offset = 0;
  for (const view of blobs) {
    table.push([kindOf(view), offset, view.byteLength]);
    offset = align8(offset + view.byteLength);
  }
  const headerRaw = Buffer.from(JSON.stringify({ m: json, b: table }), 'utf8');
  // Body: u32 header length, header, padding, blobs. The blob area starts 8-aligned in the body.
  const blobStart = align8(4 + headerRaw.length);
  const bodyLen = blobStart + offset;
  const out = Buffer.allocUnsafe(4 + bodyLen);
  out.writeUInt32LE(bodyLen, 0);
  out.writeUInt32LE(headerRaw.length, 4);
  headerRaw.copy(out, 8);
  out.fill(0x20, 8 + headerRaw.length, 4 + blobStart);
  const blobBase = 4 + blobStart;
  blobs.forEach((view, i) => {
    const [, at, len] = table[i]!;
    out.set(new Uint8Array(view.buffer, view.byteOffset, len), blobBase + at);
  });
  return out;
}

/** Decodes a frame body that sits alone at the start of its own ArrayBuffer (8-aligned): views need no copy. */
function decodeBody(body: Uint8Array): unknown {
  const buffer = body.buffer as ArrayBuffer;
  const view = new DataView(buffer);
  const headerLen = view.getUint32(0, true);
  const header = JSON.parse(Buffer.from(buffer, 4, headerLen).toString('utf8')) as { m: string; b: [Kind, number, number][] };
  const blobBase = align8(4 + headerLen);
  const arrays = header.b.map(([kind, at, len]) => {
    const ctor = KINDS[kind];
    return new ctor(buffer, blobBase + at, len / ctor.BYTES_PER_ELEMENT) as AnyTypedArray;
  });
  return JSON.parse(header.m, (_key, value: unknown) => {
    if (value !== null && typeof value === 'object' && Object.hasOwn(value, MARK)) {
      return arrays[(value as Record<string, number>)[MARK]!];
    }
    return value;
  });
}

/**
 * Incremental decoder: push socket chunks, get whole messages back. Each frame body is copied once,
 * from the chunks straight into its own ArrayBuffer (aligned, so typed-array views need no copy,
 * and never a view on a pooled socket buffer); a large frame arrives in thousands of chunks, which
 * are not concatenated first.
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  /** Index of the first chunk not yet consumed. */
  private head = 0;
  private buffered = 0;

  /** Maximum frame body accepted; a larger length prefix means a corrupt stream. */
  constructor(private readonly maxFrameBytes = 2 ** 31) {}

  push(chunk: Buffer): unknown[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const messages: unknown[] = [];
    while (this.buffered >= 4) {
      const bodyLen = this.peekLength();
      if (bodyLen > this.maxFrameBytes) throw new Error(`worker protocol: frame of ${bodyLen} bytes exceeds the limit`);
      if (this.buffered < 4 + bodyLen) break;
      this.take(4);
      messages.push(decodeBody(this.take(bodyLen)));
    }
    if (this.head === this.chunks.length) {
      this.chunks = [];
      this.head = 0;
    }
    return messages;
  }

  /** The u32 length prefix at the front of the buffered bytes (at least 4 are buffered). */
  private peekLength(): number {
    const first = this.chunks[this.head]!;
    if (first.length >= 4) return first.readUInt32LE(0);
    const prefix = Buffer.alloc(4);
    let filled = 0;
    for (let i = this.head; filled < 4; i++) filled += this.chunks[i]!.copy(prefix, filled, 0, Math.min(this.chunks[i]!.length, 4 - filled));
    return prefix.readUInt32LE(0);
  }

  /** The next `n` buffered bytes, copied into a fresh ArrayBuffer of their own, and consumed. */
  private take(n: number): Uint8Array {
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      const c = this.chunks[this.head]!;
      const k = Math.min(c.length, n - filled);
      out.set(k === c.length ? c : c.subarray(0, k), filled);
      filled += k;
      if (k === c.length) this.chunks[this.head++] = EMPTY;
      else this.chunks[this.head] = c.subarray(k);
    }
    this.buffered -= n;
    return out;
  }
}

const EMPTY = Buffer.alloc(0);
