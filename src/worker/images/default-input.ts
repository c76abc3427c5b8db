import type { Record_ } from '../../api/records.js';
import { ServeError } from '../../errors.js';
import type { UploadedFile } from '../../protocol/messages.js';
import { formatShape, IMAGE_SHAPES, pipelineImageOptions, type PreprocessBlock, type TensorSpec } from '../../model/index.js';
import { decodeImage, type DecodeLimits } from './decode.js';
import { parseImageOptions } from './options.js';
import { imageToTensor } from './to-tensor.js';

/** Why a file cannot be fed without a script: what its name is in this model, and what would be fed. */
function unexpectedFile(field: string, inputs: readonly TensorSpec[], images: readonly TensorSpec[]): ServeError {
  const input = inputs.find((i) => i.name === field);
  const names = (specs: readonly TensorSpec[]) => specs.map((s) => `'${s.name}'`).join(', ');
  const why =
    input !== undefined
      ? `input '${field}' is ${input.dtype ?? 'not a tensor'} ${formatShape(input.shape)}, not an image input (expected ${IMAGE_SHAPES})`
      : images.length === 0
        ? `the model has no input '${field}' and no image input (its inputs: ${names(inputs) || 'none'})`
        : `the model has no input '${field}'; its image input${images.length === 1 ? ' is' : 's are'} ${names(images)}: send the file under that name`;
  return new ServeError('INPUT_FILE_UNEXPECTED', `file '${field}' cannot be fed without a script: ${why}. A script with preprocess_files can feed any file`, { field });
}

/**
 * The pipeline without a script: a file under the name of an image-shaped input is decoded and
 * resized to that input (channels and layout from its shape, raw 0..255 values), or as the
 * deployment's preprocess block says for that input.
 */
export async function defaultImageFeeds(
  files: Readonly<Record<string, UploadedFile>>,
  inputs: readonly TensorSpec[],
  limits: DecodeLimits,
  preprocess?: PreprocessBlock,
): Promise<Record_> {
  const images = inputs.filter((spec) => pipelineImageOptions(spec, undefined) !== null);
  const record: Record<string, unknown> = {};
  for (const [field, file] of Object.entries(files)) {
    const spec = images.find((s) => s.name === field);
    if (spec === undefined) throw unexpectedFile(field, inputs, images);
    const options = parseImageOptions(pipelineImageOptions(spec, preprocess));
    const tensor = imageToTensor(await decodeImage(file.bytes, options, { field, name: file.name }, limits), options);
    record[field] = { data: tensor.data, shape: tensor.shape };
  }
  return record;
}
