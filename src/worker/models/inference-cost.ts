import type { LoadedModel } from '../runtimes/types.js';

/**
 * How long each loaded model takes per record, as a slowly decaying maximum of what its runs took.
 * A script's predict flow runs the model synchronously, inside its isolate call, only when this
 * estimate is small next to the script's time limit (see predict-flow.ts): time spent there is
 * held off the script's clock, but isolated-vm's own watchdog keeps running.
 */
const DECAY_PER_RUN = 0.98;
const msPerRecord = new WeakMap<LoadedModel, number>();

export function recordRun(model: LoadedModel, records: number, ms: number): void {
  const observed = ms / Math.max(1, records);
  const previous = msPerRecord.get(model);
  msPerRecord.set(model, previous === undefined ? observed : Math.max(observed, previous * DECAY_PER_RUN));
}

/** Expected ms for a run of `records` records; undefined before the model's first run. */
export function estimateRunMs(model: LoadedModel, records: number): number | undefined {
  const perRecord = msPerRecord.get(model);
  return perRecord === undefined ? undefined : perRecord * Math.max(1, records);
}
