import sharp, { type Sharp } from 'sharp';
import { ServeError } from '../../errors.js';
import type { ResolvedImageOptions } from './options.js';

// libvips threads per worker: more would oversubscribe a small machine running several workers.
sharp.concurrency(1);
sharp.cache(false);

export interface DecodeLimits {
  /** Largest width x height accepted, checked from the header before any pixel is decoded. */
  readonly maxPixels: number;
}

/** Which upload a decode is for, so errors name it. */
export interface FileLabel {
  readonly field: string;
  readonly name: string;
}

export interface RawImage {
  /** Interleaved 8-bit pixels, row-major (HWC). */
  readonly data: Uint8Array;
  readonly width: number;
  readonly height: number;
  readonly channels: number;
}

const label = (f: FileLabel) => `file '${f.field}'${f.name ? ` (${f.name})` : ''}`;

function tooLarge(file: FileLabel, width: number, height: number, maxPixels: number): ServeError {
  return new ServeError('INPUT_IMAGE_TOO_LARGE', `${label(file)} is ${width}x${height} = ${width * height} pixels; the limit is ${maxPixels} (limits.maxImagePixels)`, { field: file.field });
}

/** BMP width/height from its header (sharp cannot read BMP; jimp decodes it whole, so check first). */
function bmpSize(bytes: Uint8Array): { width: number; height: number } | null {
  if (bytes.length < 26 || bytes[0] !== 0x42 || bytes[1] !== 0x4d) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { width: Math.abs(view.getInt32(18, true)), height: Math.abs(view.getInt32(22, true)) };
}

function unreadable(file: FileLabel, cause: unknown): ServeError {
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new ServeError('INPUT_IMAGE_INVALID', `${label(file)} is not an image inferbox can read (PNG, JPEG, WebP, GIF, TIFF, AVIF or BMP): ${reason}`, { field: file.field });
}

/**
 * jimp for BMP, which sharp cannot read: decoded to RGBA, then handed back to sharp as raw pixels.
 * Only BMP goes this way: jimp decodes whole files without a pixel limit, so its size is checked
 * from the header first.
 */
async function viaJimp(bytes: Uint8Array, file: FileLabel, limits: DecodeLimits, cause: unknown): Promise<Sharp> {
  const size = bmpSize(bytes);
  if (size === null) throw unreadable(file, cause);
  if (size.width * size.height > limits.maxPixels) throw tooLarge(file, size.width, size.height, limits.maxPixels);
  let bitmap: { width: number; height: number; data: Buffer };
  try {
    const { Jimp } = await import('jimp');
    bitmap = (await Jimp.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength))).bitmap;
  } catch (err) {
    throw unreadable(file, err);
  }
  if (bitmap.width * bitmap.height > limits.maxPixels) throw tooLarge(file, bitmap.width, bitmap.height, limits.maxPixels);
  return sharp(bitmap.data, { raw: { width: bitmap.width, height: bitmap.height, channels: 4 } });
}

/** Opens an upload with sharp (pixel limit enforced from the header), falling back to jimp. */
async function open(bytes: Uint8Array, file: FileLabel, limits: DecodeLimits): Promise<Sharp> {
  const input = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  try {
    // The header alone (no pixel decoded) gives the size; the limit is also set on the decode itself.
    const meta = await sharp(input, { limitInputPixels: false }).metadata();
    if (meta.width !== undefined && meta.height !== undefined && meta.width * meta.height > limits.maxPixels) {
      throw tooLarge(file, meta.width, meta.height, limits.maxPixels);
    }
    return sharp(input, { limitInputPixels: limits.maxPixels, failOn: 'error', sequentialRead: true });
  } catch (err) {
    if (err instanceof ServeError) throw err;
    if (/pixel limit/i.test((err as Error).message)) throw tooLargeUnknown(file, limits.maxPixels);
    return viaJimp(bytes, file, limits, err);
  }
}

function tooLargeUnknown(file: FileLabel, maxPixels: number): ServeError {
  return new ServeError('INPUT_IMAGE_TOO_LARGE', `${label(file)} has more pixels than the limit of ${maxPixels} (limits.maxImagePixels)`, { field: file.field });
}

/** Decodes, converts colour and resizes: the 8-bit HWC pixels the tensor step starts from. */
export async function decodeImage(bytes: Uint8Array, options: ResolvedImageOptions, file: FileLabel, limits: DecodeLimits): Promise<RawImage> {
  let image = await open(bytes, file, limits);
  image = options.grayscale ? image.removeAlpha().toColourspace('b-w') : options.alpha ? image.ensureAlpha() : image.removeAlpha();
  if (options.width !== undefined || options.height !== undefined) {
    image = image.resize({ width: options.width, height: options.height, fit: options.fit, kernel: 'lanczos3' });
  }
  try {
    const { data, info } = await image.raw().toBuffer({ resolveWithObject: true });
    const channels = options.grayscale ? 1 : options.alpha ? 4 : 3;
    if (info.channels !== channels) throw new Error(`expected ${channels} channels after conversion, got ${info.channels}`);
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height, channels };
  } catch (err) {
    if (err instanceof ServeError) throw err;
    throw new ServeError('INPUT_IMAGE_INVALID', `${label(file)} could not be decoded: ${(err as Error).message}`, { field: file.field });
  }
}
