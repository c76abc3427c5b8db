import type { Record_ } from '../../api/records.js';
import { ServeError } from '../../errors.js';
import type { UploadedFile } from '../../protocol/messages.js';
import type { TensorSpec } from '../runtimes/types.js';
import { decodeImage, type DecodeLimits } from './decode.js';
import { parseImageOptions } from './options.js';
import { imageToTensor } from './to-tensor.js';

/** How an image-shaped input lays out its pixels, read from its shape. */
export interface ImageLayout {
  readonly layout: 'nchw' | 'nhwc' | 'hw';
  readonly channels: 1 | 3 | 4;
  /** -1 when free: the image keeps its own size on that side. */
  readonly height: number;
  readonly width: number;
}

const isChannels = (d: number | undefined): d is 1 | 3 | 4 => d === 1 || d === 3 || d === 4;
const isSide = (d: number | undefined) => d === -1 || (d !== undefined && d > 4);

/**
 * [N,C,H,W] (C of 1, 3 or 4), [N,H,W,C], or [N,H,W] for grayscale; null for anything else.
 * NCHW wins when both readings fit.
 */
export function imageLayoutOf(spec: TensorSpec): ImageLayout | null {
  const s = spec.shape;
  if (s === null || (spec.dtype !== 'float32' && spec.dtype !== 'uint8')) return null;
  if (s.length === 4 && isChannels(s[1]) && isSide(s[2]) && isSide(s[3])) return { layout: 'nchw', channels: s[1], height: s[2]!, width: s[3]! };
  if (s.length === 4 && isChannels(s[3]) && isSide(s[1]) && isSide(s[2])) return { layout: 'nhwc', channels: s[3], height: s[1]!, width: s[2]! };
  if (s.length === 3 && isSide(s[1]) && isSide(s[2])) return { layout: 'hw', channels: 1, height: s[1]!, width: s[2]! };
  return null;
}

/**
 * The pipeline without a script: a file under the name of the model's one image-shaped input is
 * decoded and resized to that input (channels and layout from its shape, raw 0..255 values).
 */
export async function defaultImageFeeds(files: Readonly<Record<string, UploadedFile>>, inputs: readonly TensorSpec[], limits: DecodeLimits): Promise<Record_> {
  const images = inputs.map((spec) => ({ spec, layout: imageLayoutOf(spec) })).filter((x) => x.layout !== null);
  const record: Record<string, unknown> = {};
  for (const [field, file] of Object.entries(files)) {
    const target = images.length === 1 && images[0]!.spec.name === field ? images[0]! : undefined;
    if (!target) {
      const why = images.length === 1 ? `the model's image input is '${images[0]!.spec.name}'` : `the model has ${images.length} image-shaped inputs`;
      throw new ServeError('INPUT_FILE_UNEXPECTED', `file '${field}' cannot be fed without a script: ${why}. Send the file under that name, or deploy a script with preprocess_files`, { field });
    }
    const { spec, layout } = target as { spec: TensorSpec; layout: ImageLayout };
    const options = parseImageOptions({
      grayscale: layout.channels === 1,
      alpha: layout.channels === 4,
      ...(layout.width > 0 ? { width: layout.width } : {}),
      ...(layout.height > 0 ? { height: layout.height } : {}),
      layout: layout.layout === 'nhwc' ? 'nhwc' : 'nchw',
      dtype: spec.dtype === 'uint8' ? 'uint8' : 'float32',
    });
    const tensor = imageToTensor(await decodeImage(file.bytes, options, { field, name: file.name }, limits), options);
    // [N,H,W] models take the grayscale plane without a channel dimension.
    const shape = layout.layout === 'hw' ? [1, tensor.shape[2]!, tensor.shape[3]!] : tensor.shape;
    record[field] = { data: tensor.data, shape };
  }
  return record;
}
