/**
 * Which inputs take images, and how. One rule for both processes: the worker's pipeline without a
 * script decodes uploads with it, and the front's script template writes the same `image()` options
 * into preprocess_files, so saving the template unchanged answers like having no script.
 */

/** How an image-shaped input lays out its pixels, read from its shape. */
export interface ImageLayout {
  readonly layout: 'nchw' | 'nhwc' | 'hw';
  readonly channels: 1 | 3 | 4;
  /** -1 when free: the image keeps its own size on that side. */
  readonly height: number;
  readonly width: number;
}

/** Element types an image input may have: float16/float64 models take the same pixels as float32 ones (#15). */
export const IMAGE_DTYPES: readonly string[] = ['float32', 'float16', 'float64', 'uint8'];

const isChannels = (d: number | undefined): d is 1 | 3 | 4 => d === 1 || d === 3 || d === 4;
/** A side of at least 5 pixels, or free; smaller dimensions are read as channels or features. */
const isSide = (d: number | undefined) => d === -1 || (d !== undefined && d > 4);

/** What an image-shaped input looks like, for messages that refuse one that is not. */
export const IMAGE_SHAPES = '[N,C,H,W] (C of 1, 3 or 4), [N,H,W,C] or [N,H,W] of float32, float16, float64 or uint8, sides over 4 pixels';

/**
 * [N,C,H,W] (C of 1, 3 or 4), [N,H,W,C], or [N,H,W] for grayscale; null for anything else.
 * NCHW wins when both readings fit.
 */
export function imageLayoutOf(spec: { readonly dtype: string | null; readonly shape: readonly number[] | null }): ImageLayout | null {
  const s = spec.shape;
  if (s === null || spec.dtype === null || !IMAGE_DTYPES.includes(spec.dtype)) return null;
  if (s.length === 4 && isChannels(s[1]) && isSide(s[2]) && isSide(s[3])) return { layout: 'nchw', channels: s[1], height: s[2]!, width: s[3]! };
  if (s.length === 4 && isChannels(s[3]) && isSide(s[1]) && isSide(s[2])) return { layout: 'nhwc', channels: s[3], height: s[1]!, width: s[2]! };
  if (s.length === 3 && isSide(s[1]) && isSide(s[2])) return { layout: 'hw', channels: 1, height: s[1]!, width: s[2]! };
  return null;
}

/** The `file.image()` options of an image-shaped input: only the keys that differ from the defaults. */
export interface InputImageOptions {
  readonly grayscale?: true;
  readonly alpha?: true;
  readonly width?: number;
  readonly height?: number;
  /** [N,H,W] inputs take one grayscale plane as [1,H,W], which is image()'s "chw" with one channel. */
  readonly layout: 'nchw' | 'nhwc' | 'chw';
  /** uint8 inputs take raw pixels; float16 ones their half floats (as a Uint16Array of raw bits). */
  readonly dtype?: 'uint8' | 'float16';
}

/** What `file.image()` is asked for to feed `spec` (laid out as `layout`) raw 0..255 pixels. */
export function imageOptionsOf(spec: { readonly dtype: string | null }, layout: ImageLayout): InputImageOptions {
  return {
    ...(layout.channels === 1 ? { grayscale: true } : layout.channels === 4 ? { alpha: true } : {}),
    ...(layout.width > 0 ? { width: layout.width } : {}),
    ...(layout.height > 0 ? { height: layout.height } : {}),
    layout: layout.layout === 'hw' ? 'chw' : layout.layout,
    ...(spec.dtype === 'uint8' || spec.dtype === 'float16' ? { dtype: spec.dtype } : {}),
  } as InputImageOptions;
}
