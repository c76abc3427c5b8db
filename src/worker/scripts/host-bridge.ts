import type { ModelRef } from '../../protocol/messages.js';
import { decodeToTensor } from '../images/index.js';
import type { ModelPool } from '../models/model-pool.js';
import { outputsToJson, runRecords } from '../models/run-records.js';
import type { HostBridge } from '../sandbox-host/index.js';

/**
 * What a script's host calls do: `model.run(feeds)` runs one record through the model (outputs as
 * nested arrays); `file.image(options)` decodes an upload (sharp, jimp fallback) within `limits`.
 */
export function createHostBridge(pool: ModelPool, model: ModelRef, limits: { maxPixels: number }): HostBridge {
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
      return decodeToTensor(bytes, options, file, { maxPixels: limits.maxPixels, sandbox });
    },
  };
}
