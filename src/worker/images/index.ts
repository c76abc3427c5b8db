import { decodeImage, decodeImageNow, type DecodeLimits, type FileLabel } from './decode.js';
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

/** decodeToTensor when the image decodes without waiting (decodeImageNow); null leaves it to decodeToTensor. */
export function decodeToTensorNow(bytes: Uint8Array, rawOptions: unknown, file: FileLabel, limits: DecodeLimits): ImageTensor | null {
  const options = parseImageOptions(rawOptions);
  const image = decodeImageNow(bytes, options, file, limits);
  return image === null ? null : imageToTensor(image, options);
}
