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

/** Encodes one message into a single Buffer ready for `socket.write`. */
export function encodeFrame(message: unknown): Buffer {
  const blobs: ArrayBufferView[] = [];
  const json = JSON.stringify(message, function replacer(this: Record<string, unknown>, key, value: unknown) {
    // The holder's own value: JSON.stringify has already replaced a Buffer by its toJSON() form.
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

function decodeBody(body: Uint8Array): unknown {
  // One copy into a fresh, 8-aligned ArrayBuffer so typed-array views need no further copies.
  const buffer = new ArrayBuffer(body.byteLength);
  const bytes = new Uint8Array(buffer);
  bytes.set(body);
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

/** Incremental decoder: push socket chunks, get whole messages back. */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;

  /** Maximum frame body accepted; a larger length prefix means a corrupt stream. */
  constructor(private readonly maxFrameBytes = 2 ** 31) {}

  push(chunk: Buffer): unknown[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const messages: unknown[] = [];
    while (this.buffered >= 4) {
      const head = this.chunks[0]!.length >= 4 ? this.chunks[0]! : this.merge();
      const bodyLen = head.readUInt32LE(0);
      if (bodyLen > this.maxFrameBytes) throw new Error(`worker protocol: frame of ${bodyLen} bytes exceeds the limit`);
      if (this.buffered < 4 + bodyLen) break;
      const all = this.chunks.length === 1 ? this.chunks[0]! : this.merge();
      messages.push(decodeBody(all.subarray(4, 4 + bodyLen)));
      const rest = all.subarray(4 + bodyLen);
      this.chunks = rest.length > 0 ? [rest] : [];
      this.buffered = rest.length;
    }
    return messages;
  }

  private merge(): Buffer {
    const merged = Buffer.concat(this.chunks, this.buffered);
    this.chunks = [merged];
    return merged;
  }
}
