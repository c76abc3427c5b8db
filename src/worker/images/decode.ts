import sharp, { type Sharp } from 'sharp';
import { ServeError } from '../../errors.js';
import type { ResolvedImageOptions } from './options.js';
import { decodeSmallPng } from './small-png.js';

// libvips threads per worker: more would oversubscribe a small machine running several workers.
sharp.concurrency(1);
sharp.cache(false);

export interface DecodeLimits {
  /**
   * Largest width x height accepted, of the image and of what it is resized to, checked from the
   * header before any pixel is decoded.
   */
  readonly maxPixels: number;
  /** For a script's image(): the largest tensor (bytes of its data) its sandbox takes, checked the same way. */
  readonly sandbox?: { readonly maxTensorBytes: number; readonly memoryLimitMb: number };
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

/** What the header says, seen before any pixel is decoded: a throw here stops the decode. */
type SizeCheck = (width: number, height: number) => void;

/**
 * jimp for BMP, which sharp cannot read: decoded to RGBA, then handed back to sharp as raw pixels.
 * Only BMP goes this way: jimp decodes whole files without a pixel limit, so its size is checked
 * from the header first.
 */
async function viaJimp(bytes: Uint8Array, file: FileLabel, limits: DecodeLimits, sized: SizeCheck, cause: unknown): Promise<Sharp> {
  const size = bmpSize(bytes);
  if (size === null) throw unreadable(file, cause);
  if (size.width * size.height > limits.maxPixels) throw tooLarge(file, size.width, size.height, limits.maxPixels);
  sized(size.width, size.height);
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
async function open(bytes: Uint8Array, file: FileLabel, limits: DecodeLimits, sized: SizeCheck): Promise<Sharp> {
  const input = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  try {
    // The header alone (no pixel decoded) gives the size; the limit is also set on the decode itself.
    const meta = await sharp(input, { limitInputPixels: false }).metadata();
    if (meta.width !== undefined && meta.height !== undefined) {
      if (meta.width * meta.height > limits.maxPixels) throw tooLarge(file, meta.width, meta.height, limits.maxPixels);
      sized(meta.width, meta.height);
    }
    return sharp(input, { limitInputPixels: limits.maxPixels, failOn: 'error', sequentialRead: true });
  } catch (err) {
    if (err instanceof ServeError) throw err;
    if (/pixel limit/i.test((err as Error).message)) throw tooLargeUnknown(file, limits.maxPixels);
    return viaJimp(bytes, file, limits, sized, err);
  }
}

/**
 * The size sharp's resize gives an image of `width` x `height` for these options: the image's own
 * without a width or height; with one of them, "fill" keeps the other side as it is and any other
 * fit keeps the aspect ratio; with both, "inside" and "outside" keep the aspect ratio within or
 * around the box, the other fits give the box.
 */
export function resizedSize(o: Pick<ResolvedImageOptions, 'width' | 'height' | 'fit'>, width: number, height: number): { width: number; height: number } {
  const scaled = (scale: number) => ({ width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) });
  if (o.width === undefined && o.height === undefined) return { width, height };
  if (o.height === undefined) return { width: o.width!, height: o.fit === 'fill' ? height : scaled(o.width! / width).height };
  if (o.width === undefined) return { width: o.fit === 'fill' ? width : scaled(o.height / height).width, height: o.height };
  if (o.fit === 'inside') return scaled(Math.min(o.width / width, o.height / height));
  if (o.fit === 'outside') return scaled(Math.max(o.width / width, o.height / height));
  return { width: o.width, height: o.height };
}

/** Channels the options make: one for grayscale, four with alpha, else three. */
export const channelsOf = (o: Pick<ResolvedImageOptions, 'grayscale' | 'alpha'>): number => (o.grayscale ? 1 : o.alpha ? 4 : 3);

/**
 * Refuses, before a pixel is decoded, what the options would turn an image of `width` x `height`
 * into when that is over the pixel limit or the tensor limit: resizing a 252-byte PNG to
 * 16384x16384 used to take 15.9 s and 1.4 GB before the tensor was refused (#14).
 */
function checkOutput(o: ResolvedImageOptions, width: number, height: number, file: FileLabel, limits: DecodeLimits): void {
  const out = resizedSize(o, width, height);
  const pixels = out.width * out.height;
  const resized = o.width !== undefined || o.height !== undefined;
  const asked = `${label(file)} is ${width}x${height}; ${resized ? `resized to ${out.width}x${out.height} ` : ''}it`;
  if (pixels > limits.maxPixels) {
    throw new ServeError('INPUT_IMAGE_TOO_LARGE', `${asked} would be ${pixels} pixels; the limit is ${limits.maxPixels} (limits.maxImagePixels)`, { field: file.field });
  }
  const bytes = pixels * channelsOf(o) * (o.dtype === 'float32' ? 4 : o.dtype === 'float16' ? 2 : 1);
  const sandbox = limits.sandbox;
  if (sandbox !== undefined && bytes > sandbox.maxTensorBytes) {
    const mb = (n: number) => (n / 2 ** 20).toFixed(1);
    const text = `${asked} would be a ${o.dtype} tensor of ${mb(bytes)} MB (${out.width}x${out.height}x${channelsOf(o)}); a sandbox with a ${sandbox.memoryLimitMb} MB memory limit takes images of up to ${mb(sandbox.maxTensorBytes)} MB: ask image() for a smaller width/height or dtype "uint8"`;
    throw new ServeError('INPUT_IMAGE_TOO_LARGE', text, { field: file.field });
  }
}

function tooLargeUnknown(file: FileLabel, maxPixels: number): ServeError {
  return new ServeError('INPUT_IMAGE_TOO_LARGE', `${label(file)} has more pixels than the limit of ${maxPixels} (limits.maxImagePixels)`, { field: file.field });
}

/**
 * A small PNG that needs no resize, decoded in JavaScript (small-png.ts): the same pixels as sharp's,
 * without sharp's fixed cost per call. The limits are checked from its header as sharp's path does;
 * null leaves the file to sharp.
 */
function smallPng(bytes: Uint8Array, options: ResolvedImageOptions, file: FileLabel, limits: DecodeLimits): RawImage | null {
  const channels = channelsOf(options) as 1 | 3 | 4;
  const png = decodeSmallPng(bytes, channels, (width, height) => {
    if (width * height > limits.maxPixels) throw tooLarge(file, width, height, limits.maxPixels);
    checkOutput(options, width, height, file, limits);
    const out = resizedSize(options, width, height);
    return out.width === width && out.height === height;
  });
  return png && { ...png, channels };
}

/** decodeImage for a small PNG that needs no resize (microseconds, on this thread); null for any other image. */
export function decodeImageNow(bytes: Uint8Array, options: ResolvedImageOptions, file: FileLabel, limits: DecodeLimits): RawImage | null {
  return smallPng(bytes, options, file, limits);
}

/** Decodes, converts colour and resizes: the 8-bit HWC pixels the tensor step starts from. */
export async function decodeImage(bytes: Uint8Array, options: ResolvedImageOptions, file: FileLabel, limits: DecodeLimits): Promise<RawImage> {
  const small = smallPng(bytes, options, file, limits);
  if (small) return small;
  let image = await open(bytes, file, limits, (width, height) => checkOutput(options, width, height, file, limits));
  image = options.grayscale ? image.removeAlpha().toColourspace('b-w') : options.alpha ? image.ensureAlpha() : image.removeAlpha();
  if (options.width !== undefined || options.height !== undefined) {
    image = image.resize({ width: options.width, height: options.height, fit: options.fit, kernel: 'lanczos3' });
  }
  try {
    const { data, info } = await image.raw().toBuffer({ resolveWithObject: true });
    const channels = channelsOf(options);
    if (info.channels !== channels) throw new Error(`expected ${channels} channels after conversion, got ${info.channels}`);
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height, channels };
  } catch (err) {
    if (err instanceof ServeError) throw err;
    throw new ServeError('INPUT_IMAGE_INVALID', `${label(file)} could not be decoded: ${(err as Error).message}`, { field: file.field });
  }
}
