import type { ModelRef } from '../protocol/messages.js';
import type { ModelPool } from './pool.js';
import { outputsToJson, runRecords } from './predict.js';
import type { HostBridge } from './sandbox-host/index.js';

/** What `model.run(feeds)` does inside a script: one record through the model, outputs as nested arrays. */
export function modelBridge(pool: ModelPool, model: ModelRef): HostBridge {
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
  };
}
