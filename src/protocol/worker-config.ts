import { z } from 'zod';
import type { Config } from '../config.js';

/** The slice of the server config a runtime worker needs, passed as JSON on its command line. */
const WorkerConfigSchema = z.object({
  logLevel: z.string(),
  intraOpThreads: z.number().int().min(1),
  pool: z.object({ maxModels: z.number().int().min(1), maxBytes: z.number().int().min(1) }),
  sandbox: z.object({
    timeoutMs: z.number().int().min(1),
    memoryLimitMb: z.number().int().min(8),
    maxLogLines: z.number().int().min(0),
    maxLogBytes: z.number().int().min(0),
  }),
  maxImagePixels: z.number().int().min(1),
});
export type WorkerConfig = z.infer<typeof WorkerConfigSchema>;

export function workerConfigFrom(config: Config): WorkerConfig {
  return {
    logLevel: config.log.level,
    intraOpThreads: config.workers.intraOpThreads,
    pool: { maxModels: config.pool.maxModels, maxBytes: config.pool.maxBytes },
    sandbox: {
      timeoutMs: config.sandbox.timeoutMs,
      memoryLimitMb: config.sandbox.memoryLimitMb,
      maxLogLines: config.sandbox.maxLogLines,
      maxLogBytes: config.sandbox.maxLogBytes,
    },
    maxImagePixels: config.limits.maxImagePixels,
  };
}

export function parseWorkerConfig(json: string | undefined): WorkerConfig {
  if (json === undefined) throw new Error('no worker configuration: runtime workers are started by the front');
  return WorkerConfigSchema.parse(JSON.parse(json));
}
