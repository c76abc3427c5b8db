import { inflateSync } from 'node:zlib';

/**
 * Largest image (width x height) this decoder takes; bigger ones go to sharp. sharp costs 0.6-0.8 ms
 * per call whatever the size (two pipelines, a thread-pool hop), this decoder about 15 µs for a
 * 28x28 digit, growing with the pixels and run on the worker's event loop (at 256x256 RGBA, 1.3 ms
 * of blocked loop against sharp's 2.1 ms): measured in docs/benchmarks.md ("Small PNGs without sharp").
 */
export const SMALL_PNG_MAX_PIXELS = 16_384;

/** The pixels sharp gives for a PNG after removeAlpha/toColourspace('b-w')/ensureAlpha. */
export interface PngPixels {
  readonly data: Uint8Array;
  readonly width: number;
  readonly height: number;
}

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/**
 * Ancillary chunks that do not change the pixels sharp gives (text, physical size, time). Any other
 * (iCCP, which sharp converts to sRGB from, gAMA, cHRM, eXIf, sBIT, ...) sends the file to sharp.
 */
const IGNORED = new Set(['tEXt', 'zTXt', 'iTXt', 'pHYs', 'tIME']);

/** Channels of each PNG colour type: grey, -, RGB, palette (indices), grey + alpha, -, RGBA. */
const COLOUR_CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

const CRC_TABLE = (() => {
  const table = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c;
  }
  return table;
})();

function crc32(bytes: Uint8Array, start: number, end: number): number {
  let c = -1;
  for (let i = start; i < end; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

interface Header {
  readonly width: number;
  readonly height: number;
  readonly depth: number;
  readonly colourType: number;
}

/**
 * A small PNG decoded in JavaScript to what sharp would give for `channels` (1 = grey, 3 = RGB,
 * 4 = RGBA), or null for anything it does not give exactly like sharp: then sharp decodes the file
 * as before, so a damaged file gets sharp's error. It takes 8-bit grey, grey + alpha, RGB and RGBA,
 * and palettes (with transparency) and grey of 1, 2, 4 or 8 bits, not interlaced, without colour
 * chunks; grey out of colour only when every pixel is grey already (r = g = b), else libvips' b-w
 * conversion is left to sharp. `accept` sees the size from the
 * header before any pixel is decoded: it may throw (a limit), or answer false to leave the file to sharp.
 */
export function decodeSmallPng(bytes: Uint8Array, channels: 1 | 3 | 4, accept: (width: number, height: number) => boolean): PngPixels | null {
  if (bytes.length < 8 + 25 + 12 || SIGNATURE.some((b, i) => bytes[i] !== b)) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let header: Header | undefined;
  let palette: Uint8Array | undefined;
  let transparency: Uint8Array | undefined;
  const idat: Uint8Array[] = [];
  let idatEnd = 0;
  let ended = false;
  for (let at = 8; !ended; ) {
    if (at + 12 > bytes.length) return null;
    const length = view.getUint32(at);
    const type = String.fromCharCode(bytes[at + 4]!, bytes[at + 5]!, bytes[at + 6]!, bytes[at + 7]!);
    const end = at + 8 + length;
    if (end + 4 > bytes.length || crc32(bytes, at + 4, end) !== view.getUint32(end)) return null;
    const data = bytes.subarray(at + 8, end);
    if (header === undefined) {
      if (type !== 'IHDR' || length !== 13) return null;
      header = { width: view.getUint32(at + 8), height: view.getUint32(at + 12), depth: data[8]!, colourType: data[9]! };
      // compression, filter method, interlace: only 0, 0, 0 (Adam7 goes to sharp)
      if (data[10] !== 0 || data[11] !== 0 || data[12] !== 0) return null;
      const lowBits = header.colourType === 0 || header.colourType === 3;
      if (COLOUR_CHANNELS[header.colourType] === undefined || !(header.depth === 8 || (lowBits && [1, 2, 4].includes(header.depth)))) return null;
      if (header.width === 0 || header.height === 0 || header.width * header.height > SMALL_PNG_MAX_PIXELS) return null;
      if (!accept(header.width, header.height)) return null;
    } else if (type === 'IDAT') {
      // IDAT chunks must follow one another
      if (idat.length > 0 && at !== idatEnd) return null;
      idat.push(data);
      idatEnd = end + 4;
    } else if (type === 'PLTE') {
      if (header.colourType !== 3 || palette || idat.length > 0 || length === 0 || length % 3 !== 0 || length > 768) return null;
      palette = data;
    } else if (type === 'tRNS') {
      if (header.colourType !== 3 || !palette || transparency || idat.length > 0 || length > palette.length / 3) return null;
      transparency = data;
    } else if (type === 'IEND') {
      ended = true;
    } else if (!IGNORED.has(type)) {
      return null;
    }
    at = end + 4;
  }
  if (header === undefined || idat.length === 0 || (header.colourType === 3 && !palette)) return null;
  const samples = unfilter(idat, header);
  const data = samples && toChannels(samples, header, palette, transparency, channels);
  return data && { data, width: header.width, height: header.height };
}

/** The inflated, unfiltered rows, packed as the file has them; null when they do not add up. */
function unfilter(idat: Uint8Array[], h: Header): Uint8Array | null {
  const bitsPerPixel = h.depth * COLOUR_CHANNELS[h.colourType]!;
  const stride = Math.ceil((h.width * bitsPerPixel) / 8);
  const bpp = Math.max(1, bitsPerPixel >> 3);
  const expected = (stride + 1) * h.height;
  let raw: Buffer;
  try {
    raw = inflateSync(idat.length === 1 ? idat[0]! : Buffer.concat(idat), { maxOutputLength: expected + 1 });
  } catch {
    return null;
  }
  if (raw.length !== expected) return null;
  const out = new Uint8Array(stride * h.height);
  for (let y = 0; y < h.height; y++) {
    const filter = raw[y * (stride + 1)]!;
    const from = y * (stride + 1) + 1;
    const row = y * stride;
    const up = row - stride;
    switch (filter) {
      case 0:
        out.set(raw.subarray(from, from + stride), row);
        break;
      case 1:
        for (let x = 0; x < stride; x++) out[row + x] = raw[from + x]! + (x >= bpp ? out[row + x - bpp]! : 0);
        break;
      case 2:
        for (let x = 0; x < stride; x++) out[row + x] = raw[from + x]! + (y > 0 ? out[up + x]! : 0);
        break;
      case 3:
        for (let x = 0; x < stride; x++) out[row + x] = raw[from + x]! + (((x >= bpp ? out[row + x - bpp]! : 0) + (y > 0 ? out[up + x]! : 0)) >> 1);
        break;
      case 4:
        for (let x = 0; x < stride; x++) {
          const a = x >= bpp ? out[row + x - bpp]! : 0;
          const b = y > 0 ? out[up + x]! : 0;
          const c = x >= bpp && y > 0 ? out[up + x - bpp]! : 0;
          const p = a + b - c;
          const pa = Math.abs(p - a);
          const pb = Math.abs(p - b);
          const pc = Math.abs(p - c);
          out[row + x] = raw[from + x]! + (pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
        }
        break;
      default:
        return null;
    }
  }
  return out;
}

/**
 * Packed samples -> `channels` interleaved 8-bit channels as sharp gives them: grey is repeated into
 * RGB, alpha dropped or added as 255, low-bit grey scaled to 0..255, palette indices looked up;
 * null for an index past the palette, and for grey asked of a pixel that is not grey.
 */
function toChannels(samples: Uint8Array, h: Header, palette: Uint8Array | undefined, transparency: Uint8Array | undefined, channels: 1 | 3 | 4): Uint8Array | null {
  const { width, height, depth } = h;
  const pixels = width * height;
  const source = COLOUR_CHANNELS[h.colourType]!;
  if (depth === 8 && source === channels && !palette) return samples;
  const out = new Uint8Array(pixels * channels);
  const stride = Math.ceil((width * depth * source) / 8);
  const perByte = 8 / depth;
  const mask = (1 << depth) - 1;
  const greyScale = 255 / mask;
  const entries = palette ? palette.length / 3 : 0;
  for (let y = 0, p = 0; y < height; y++) {
    for (let x = 0; x < width; x++, p++) {
      let r: number, g: number, b: number, a: number;
      if (depth === 8 && source >= 3) {
        const s = p * source;
        r = samples[s]!;
        g = samples[s + 1]!;
        b = samples[s + 2]!;
        a = source === 4 ? samples[s + 3]! : 255;
      } else {
        let v: number;
        if (depth === 8) v = samples[p * source]!;
        else v = (samples[y * stride + Math.floor(x / perByte)]! >> (8 - depth * ((x % perByte) + 1))) & mask;
        if (palette) {
          // an index past the palette: left to sharp
          if (v >= entries) return null;
          r = palette[v * 3]!;
          g = palette[v * 3 + 1]!;
          b = palette[v * 3 + 2]!;
          a = transparency && v < transparency.length ? transparency[v]! : 255;
        } else {
          r = g = b = depth === 8 ? v : v * greyScale;
          a = source === 2 ? samples[p * 2 + 1]! : 255;
        }
      }
      // colour to grey: libvips' b-w conversion (linear light) gives v for (v, v, v), checked for
      // every v; other colours are left to sharp
      if (channels === 1 && (r !== g || g !== b)) return null;
      const o = p * channels;
      out[o] = r;
      if (channels >= 3) {
        out[o + 1] = g;
        out[o + 2] = b;
      }
      if (channels === 4) out[o + 3] = a;
    }
  }
  return out;
}
