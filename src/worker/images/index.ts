import { decodeImage, type DecodeLimits, type FileLabel } from './decode.js';
import { parseImageOptions } from './options.js';
import { imageToTensor, type ImageTensor } from './to-tensor.js';

export type { DecodeLimits, FileLabel, RawImage } from './decode.js';
export { ImageOptionsSchema, parseImageOptions, type ImageOptions, type ResolvedImageOptions } from './options.js';
export type { ImageTensor } from './to-tensor.js';
export { decodeImage, imageToTensor };
export { defaultImageFeeds } from './default-input.js';

/** What `file.image(options)` does for a script: options checked, decoded on the host, shaped as asked. */
export async function decodeToTensor(bytes: Uint8Array, rawOptions: unknown, file: FileLabel, limits: DecodeLimits): Promise<ImageTensor> {
  const options = parseImageOptions(rawOptions);
  return imageToTensor(await decodeImage(bytes, options, file, limits), options);
}
