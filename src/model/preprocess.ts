import { IMAGE_SHAPES, imageLayoutOf, imageOptionsOf, type InputImageOptions } from './image-layout.js';
import type { TensorSpec } from './tensor-spec.js';
import { formatShape } from './tensor.js';

/**
 * A deployment's declarative image preprocessing (#15): per image input, what the pipeline without a
 * script does to an uploaded image before the model, instead of the input's raw 0..255 pixels.
 * Every key is optional; the steps run in this order: decode, resize, colour, `x * scale`,
 * `(x - mean) / std`, layout, dtype.
 */
export interface PreprocessSpec {
  readonly width?: number;
  readonly height?: number;
  readonly fit?: 'fill' | 'cover' | 'contain';
  readonly color?: 'rgb' | 'bgr' | 'gray';
  readonly layout?: 'nchw' | 'nhwc' | 'chw' | 'hwc';
  readonly scale?: number;
  readonly mean?: number | number[];
  readonly std?: number | number[];
  readonly dtype?: 'float32' | 'float16' | 'uint8';
}

/** Image input name -> its preprocessing. */
export type PreprocessBlock = Record<string, PreprocessSpec>;

/** The image() options of an input with its block applied: the input's own, overridden key by key. */
export function imageOptionsWith(base: InputImageOptions, block: PreprocessSpec | undefined): Record<string, unknown> {
  if (block === undefined) return { ...base };
  const out: Record<string, unknown> = { ...base };
  for (const key of ['width', 'height', 'fit', 'layout', 'scale', 'mean', 'std', 'dtype'] as const) {
    if (block[key] !== undefined) out[key] = block[key];
  }
  if (block.color === 'gray') {
    out.grayscale = true;
    delete out.alpha;
  } else if (block.color !== undefined) {
    delete out.grayscale;
    out.channels = block.color;
  }
  return out;
}

/** Channels a block makes for an input of `channels`: gray one, else the input's own. */
const channelsWith = (channels: number, block: PreprocessSpec) => (block.color === 'gray' ? 1 : block.color !== undefined && channels === 1 ? 3 : channels);

/**
 * What is wrong with a block for a model's inputs, one message per problem naming the field
 * (`preprocess.<input>.<key>`) and what it expects; empty when it fits.
 */
export function preprocessProblems(block: PreprocessBlock, inputs: readonly TensorSpec[]): string[] {
  const problems: string[] = [];
  for (const [name, spec] of Object.entries(block)) {
    const input = inputs.find((i) => i.name === name);
    const field = `preprocess.${name}`;
    if (input === undefined) {
      problems.push(`${field}: the model has no input '${name}' (its inputs: ${inputs.map((i) => `'${i.name}'`).join(', ') || 'none'})`);
      continue;
    }
    const layout = imageLayoutOf(input);
    if (layout === null) {
      problems.push(`${field}: input '${name}' is ${input.dtype ?? 'not a tensor'} ${formatShape(input.shape)}, not an image input (expected ${IMAGE_SHAPES})`);
      continue;
    }
    const channels = channelsWith(layout.channels, spec);
    // What the model would refuse on every upload is refused here, once.
    if (channels !== layout.channels) {
      problems.push(`${field}.color: "${spec.color}" makes ${channels} channel${channels === 1 ? '' : 's'}; input '${name}' ${formatShape(input.shape)} takes ${layout.channels}`);
    }
    const planar = spec.layout === 'nchw' || spec.layout === 'chw';
    if (spec.layout !== undefined && layout.layout !== 'hw' && planar !== (layout.layout === 'nchw')) {
      problems.push(`${field}.layout: input '${name}' ${formatShape(input.shape)} is ${layout.layout}; "${spec.layout}" does not fit it (use "${layout.layout}")`);
    }
    for (const key of ['mean', 'std'] as const) {
      const v = spec[key];
      if (Array.isArray(v) && v.length !== 1 && v.length !== channels) {
        problems.push(`${field}.${key}: ${v.length} values for ${channels} channel${channels === 1 ? '' : 's'}; give one value or ${channels}`);
      }
    }
    if (spec.dtype === 'uint8' && (spec.scale !== undefined || spec.mean !== undefined || spec.std !== undefined)) {
      problems.push(`${field}.dtype: "uint8" keeps raw pixels; drop scale, mean and std or use "float32"`);
    }
    if (input.dtype === 'uint8' && spec.dtype !== undefined && spec.dtype !== 'uint8') {
      problems.push(`${field}.dtype: input '${name}' is uint8, so it takes "uint8" pixels, not "${spec.dtype}"`);
    }
    if (spec.dtype === 'float16' && input.dtype !== 'float16') {
      problems.push(`${field}.dtype: input '${name}' is ${input.dtype}; "float16" fits float16 inputs only (use "float32")`);
    }
  }
  return problems;
}

/** The image() options the pipeline without a script feeds `spec` with under `block`, or null when not an image input. */
export function pipelineImageOptions(spec: TensorSpec, block: PreprocessBlock | undefined): Record<string, unknown> | null {
  const layout = imageLayoutOf(spec);
  if (layout === null) return null;
  // A "float32" block for a float16 input still reaches the model as halves: the binding converts.
  return imageOptionsWith(imageOptionsOf(spec, layout), block?.[spec.name]);
}

/** WinML's `Image.BitmapPixelFormat` values -> the channel order they mean (alpha formats as their colours). */
const PIXEL_FORMATS: Readonly<Record<string, PreprocessSpec['color']>> = { Gray8: 'gray', Rgb8: 'rgb', Rgba8: 'rgb', Bgr8: 'bgr', Bgra8: 'bgr' };

/** WinML's `Image.NominalPixelRange` values -> scale and mean (x * scale - mean); 0..255 is the default, nothing to add. */
const PIXEL_RANGES: Readonly<Record<string, Pick<PreprocessSpec, 'scale' | 'mean'>>> = {
  NominalRange_0_255: {},
  Normalized_0_1: { scale: 1 / 255 },
  Normalized_1_1: { scale: 2 / 255, mean: 1 },
};

/** Where a version's implied block came from, and why: shown with the block so the user can correct it. */
export interface PreprocessSource {
  /** "onnx_metadata_props" (WinML's Image.* keys) or "keras_layers" (the model's own preprocessing layers). */
  readonly from: 'onnx_metadata_props' | 'keras_layers';
  readonly reason: string;
}

/** A block a model file implies, with its source. */
export interface ImpliedPreprocess {
  readonly block: PreprocessBlock;
  readonly source: PreprocessSource;
}

/**
 * The block an ONNX model's own `metadata_props` imply for its image inputs, following WinML's
 * convention (`Image.BitmapPixelFormat`, `Image.NominalPixelRange`); null when they say nothing
 * usable. A colour the input cannot take (gray for a 3-channel input) is left out.
 */
export function inferredPreprocess(metadata: Readonly<Record<string, string>>, inputs: readonly TensorSpec[]): ImpliedPreprocess | null {
  const color = PIXEL_FORMATS[metadata['Image.BitmapPixelFormat'] ?? ''];
  const range = PIXEL_RANGES[metadata['Image.NominalPixelRange'] ?? ''] ?? {};
  const block: PreprocessBlock = {};
  for (const input of inputs) {
    const layout = imageLayoutOf(input);
    if (layout === null || input.dtype === 'uint8') continue;
    const fits = color !== undefined && (color === 'gray') === (layout.channels === 1);
    const spec: PreprocessSpec = { ...(fits && color !== 'rgb' && color !== 'gray' ? { color } : {}), ...range };
    if (Object.keys(spec).length > 0) block[input.name] = spec;
  }
  if (Object.keys(block).length === 0) return null;
  const said = ['Image.BitmapPixelFormat', 'Image.NominalPixelRange'].filter((k) => metadata[k] !== undefined).map((k) => `${k}=${metadata[k]}`);
  return { block, source: { from: 'onnx_metadata_props', reason: `the model's metadata_props say ${said.join(', ')} (WinML's convention)` } };
}

/** One Keras preprocessing layer an input passes through first (publish/keras/preprocessing-layers.ts). */
export interface KerasPreprocessingLayer {
  readonly class: string;
  readonly name: string;
  /** What it computes, e.g. "x * 0.00392157 + 0". */
  readonly does: string;
  /** Resizing and CenterCrop: the size it makes; `crop` when it keeps the aspect ratio by cropping. */
  readonly size?: { readonly height: number; readonly width: number; readonly crop: boolean };
}

/** The preprocessing layers a Keras model applies to one of its inputs before anything else. */
export interface KerasInputPreprocessing {
  readonly input: string;
  readonly layers: readonly KerasPreprocessingLayer[];
}

/**
 * The block a Keras model's own leading preprocessing layers imply for its image inputs: the model
 * rescales and normalises itself, so the pipeline feeds raw 0..255 pixels (`scale: 1`), and an
 * input of free size gets the size its first Resizing or CenterCrop makes. Null when no image
 * input starts with such layers.
 */
export function kerasImpliedPreprocess(leading: readonly KerasInputPreprocessing[], inputs: readonly TensorSpec[]): ImpliedPreprocess | null {
  const block: PreprocessBlock = {};
  const reasons: string[] = [];
  for (const { input: name, layers } of leading) {
    const input = inputs.find((i) => i.name === name);
    const layout = input === undefined ? null : imageLayoutOf(input);
    if (input === undefined || layout === null || input.dtype === 'uint8' || layers.length === 0) continue;
    const sized = layers.find((l) => l.size !== undefined)?.size;
    const free = layout.width <= 0 || layout.height <= 0;
    block[name] = { ...(free && sized ? { width: sized.width, height: sized.height, fit: sized.crop ? 'cover' : 'fill' } : {}), scale: 1 };
    const steps = layers.map((l) => `${l.class} "${l.name}" (${l.does})`).join(', then ');
    reasons.push(`input '${name}' goes through ${steps} inside the model, so it takes raw 0..255 pixels${free && sized ? ` (resized on the host to ${sized.height}x${sized.width})` : ''}`);
  }
  if (reasons.length === 0) return null;
  return { block, source: { from: 'keras_layers', reason: reasons.join('; ') } };
}
