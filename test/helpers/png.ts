import { crc32, deflateSync } from 'node:zlib';

function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body) >>> 0);
  return Buffer.concat([len, body, crc]);
}

/**
 * A grayscale 8-bit PNG claiming width x height, whose image data holds only `rows` rows of zeros:
 * a decompression bomb's header without the cost of building one (decoders must refuse it from
 * the header alone).
 */
export function pngClaiming(width: number, height: number, rows = 4): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // grayscale
  const raw = Buffer.alloc(rows * (width + 1)); // filter byte 0 + zero pixels per row
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

export interface PngSpec {
  readonly width: number;
  readonly height: number;
  /** 0 grey, 2 RGB, 3 palette, 4 grey + alpha, 6 RGBA. */
  readonly colourType: 0 | 2 | 3 | 4 | 6;
  /** Bits per sample: 1, 2, 4 or 8 (16 is not written here: sharp writes those). */
  readonly depth: 1 | 2 | 4 | 8;
  /** Packed samples, row after row (each row starting on a byte), unfiltered. */
  readonly samples: Uint8Array;
  /** RGB triplets, for colour type 3. */
  readonly palette?: Uint8Array;
  readonly transparency?: Uint8Array;
  /** Extra chunks written before IDAT, e.g. ['gAMA', bytes]. */
  readonly chunks?: ReadonlyArray<readonly [string, Uint8Array]>;
  /** Number of IDAT chunks the compressed data is split into. @defaultValue 1 */
  readonly idats?: number;
}

/**
 * A PNG written by hand, each row with the next of the five filters in turn (none, sub, up, average,
 * Paeth), so a decoder is tested on all of them.
 */
export function encodePng(spec: PngSpec): Buffer {
  const channels = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 }[spec.colourType];
  const bits = spec.depth * channels;
  const stride = Math.ceil((spec.width * bits) / 8);
  const bpp = Math.max(1, bits >> 3);
  const s = spec.samples;
  const raw = Buffer.alloc((stride + 1) * spec.height);
  for (let y = 0; y < spec.height; y++) {
    const filter = y % 5;
    raw[y * (stride + 1)] = filter;
    for (let x = 0; x < stride; x++) {
      const at = y * stride + x;
      const a = x >= bpp ? s[at - bpp]! : 0;
      const b = y > 0 ? s[at - stride]! : 0;
      const c = x >= bpp && y > 0 ? s[at - stride - bpp]! : 0;
      const p = a + b - c;
      const paeth = Math.abs(p - a) <= Math.abs(p - b) && Math.abs(p - a) <= Math.abs(p - c) ? a : Math.abs(p - b) <= Math.abs(p - c) ? b : c;
      const predicted = [0, a, b, (a + b) >> 1, paeth][filter]!;
      raw[y * (stride + 1) + 1 + x] = (s[at]! - predicted) & 0xff;
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(spec.width, 0);
  ihdr.writeUInt32BE(spec.height, 4);
  ihdr[8] = spec.depth;
  ihdr[9] = spec.colourType;
  const compressed = deflateSync(raw);
  const parts = spec.idats ?? 1;
  const size = Math.ceil(compressed.length / parts);
  const idats = Array.from({ length: parts }, (_, i) => chunk('IDAT', compressed.subarray(i * size, (i + 1) * size)));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    ...(spec.chunks ?? []).map(([type, data]) => chunk(type, Buffer.from(data))),
    ...(spec.palette ? [chunk('PLTE', Buffer.from(spec.palette))] : []),
    ...(spec.transparency ? [chunk('tRNS', Buffer.from(spec.transparency))] : []),
    ...idats,
    chunk('IEND', Buffer.alloc(0)),
  ]);
}
