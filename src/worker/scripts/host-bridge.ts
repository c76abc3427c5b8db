import type { ModelRef } from '../../protocol/messages.js';
import { pipelineImageOptions, type PreprocessBlock, type TensorSpec } from '../../model/index.js';
import { decodeToTensor, decodeToTensorNow } from '../images/index.js';
import type { ModelPool } from '../models/model-pool.js';
import { outputsToJson, runRecords } from '../models/run-records.js';
import type { HostBridge } from '../sandbox-host/index.js';

/** What image() without options follows: the deployment's preprocess block and the model's inputs. */
export interface ImageDefaults {
  readonly preprocess?: PreprocessBlock;
  readonly inputs: readonly TensorSpec[];
}

/**
 * image() without options, for a file under an input the block names: what the pipeline without a
 * script feeds that input, so a script composes with the block. Any other file keeps image()'s own defaults.
 */
function defaultOptions(images: ImageDefaults | undefined, field: string): unknown {
  if (images?.preprocess?.[field] === undefined) return undefined;
  const spec = images.inputs.find((i) => i.name === field);
  return spec === undefined ? undefined : (pipelineImageOptions(spec, images.preprocess) ?? undefined);
}

/**
 * What a script's host calls do: `model.run(feeds)` runs one record through the model (outputs as
 * nested arrays); `file.image(options)` decodes an upload (sharp, jimp fallback) within `limits`.
 */
export function createHostBridge(pool: ModelPool, model: ModelRef, limits: { maxPixels: number }, images?: ImageDefaults): HostBridge {
  return {
    async runModel(feeds) {
      const lease = await pool.acquire(model);
      try {
        const [outputs] = await runRecords(lease.model, [feeds]);
        return outputsToJson(lease.model, outputs!);
      } finally {
        lease.release();
      }
    },
    decodeImage(bytes, options, file, sandbox) {
      return decodeToTensor(bytes, options ?? defaultOptions(images, file.field), file, { maxPixels: limits.maxPixels, sandbox });
    },
    decodeImageNow(bytes, options, file, sandbox) {
      return decodeToTensorNow(bytes, options ?? defaultOptions(images, file.field), file, { maxPixels: limits.maxPixels, sandbox });
    },
  };
}
