import { z } from 'zod';
import type { Config } from '../config.js';

/**
 * Limits of one sandbox (config `sandbox.*`; a deployment may override time, memory and result size). The one
 * definition: the worker config, the front's script refs and the sandbox host all use this type.
 * isolated-vm mixes units, so every name carries its unit.
 */
export const ScriptLimitsSchema = z.object({
  /** Wall time one call (a whole predict flow counts as one) may take in the script, ms. Model runs and time awaiting `model.run` or `file.image` do not count. */
  timeoutMs: z.number().int().min(1),
  /** Isolate heap limit, MB (approximate: V8 may overshoot it 2–3× before stopping a hostile script). */
  memoryLimitMb: z.number().int().min(8),
  /** console lines one request may keep, across all its calls. */
  maxLogLines: z.number().int().min(0),
  /** console bytes (UTF-8) one request may keep, across all its calls. */
  maxLogBytes: z.number().int().min(0),
  /** Bytes a call's result may take as JSON (UTF-8); a larger one is SCRIPT_RESULT_TOO_LARGE. */
  maxResultBytes: z.number().int().min(1),
});
export type ScriptLimits = Readonly<z.infer<typeof ScriptLimitsSchema>>;

/** The slice of the server config a runtime worker needs, passed as JSON on its command line. */
const WorkerConfigSchema = z.object({
  logLevel: z.string(),
  intraOpThreads: z.number().int().min(1),
  pool: z.object({ maxModels: z.number().int().min(1), maxBytes: z.number().int().min(1) }),
  sandbox: ScriptLimitsSchema,
  /** How script calls enter their isolates (config sandbox.entries; see src/worker/sandbox-host/pacer.ts). */
  sandboxEntries: z.enum(['async', 'adaptive']),
  maxImagePixels: z.number().int().min(1),
});
export type WorkerConfig = z.infer<typeof WorkerConfigSchema>;

export function workerConfigFrom(config: Config): WorkerConfig {
  return {
    logLevel: config.log.level,
    intraOpThreads: config.workers.intraOpThreads,
    pool: { maxModels: config.pool.maxModels, maxBytes: config.pool.maxBytes },
    // zod drops the keys a sandbox does not take (the deployment maxima).
    sandbox: ScriptLimitsSchema.parse(config.sandbox),
    sandboxEntries: config.sandbox.entries,
    maxImagePixels: config.limits.maxImagePixels,
  };
}

export function parseWorkerConfig(json: string | undefined): WorkerConfig {
  if (json === undefined) throw new Error('no worker configuration: runtime workers are started by the front');
  return WorkerConfigSchema.parse(JSON.parse(json));
}
