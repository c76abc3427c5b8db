import type { Record_ } from '../../api/records.js';
import { ServeError } from '../../errors.js';
import type { UploadedFile } from '../../protocol/messages.js';
import { imageLayoutOf, imageOptionsOf, type ImageLayout, type TensorSpec } from '../../model/index.js';
import { decodeImage, type DecodeLimits } from './decode.js';
import { parseImageOptions } from './options.js';
import { imageToTensor } from './to-tensor.js';

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
    const options = parseImageOptions(imageOptionsOf(spec, layout));
    const tensor = imageToTensor(await decodeImage(file.bytes, options, { field, name: file.name }, limits), options);
    record[field] = { data: tensor.data, shape: tensor.shape };
  }
  return record;
}
