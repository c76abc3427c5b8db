import type { FunctionStatsView } from '../api/types.js';

/**
 * Per-deployment, per-function call statistics, as DaaS shows them on a service page: calls,
 * errors, latency (average, median, min, max) and the first and last call. Kept in the front's
 * memory since this process started: counting a call is a few field updates on the hot path,
 * where a store write per call would cost every request a disk write. The median is over the
 * last MEDIAN_WINDOW calls of a function (a ring of samples), the other figures over all calls.
 */

export const MEDIAN_WINDOW = 1024;

class FunctionStats {
  count = 0;
  errors = 0;
  totalMs = 0;
  minMs = Infinity;
  maxMs = 0;
  /** Epoch ms, written as ISO text only when viewed (a toISOString per call cost about 1 µs, #14). */
  first = 0;
  last = 0;
  private readonly recent = new Float64Array(MEDIAN_WINDOW);

  add(ms: number, ok: boolean, at: number): void {
    this.recent[this.count % MEDIAN_WINDOW] = ms;
    this.count++;
    if (!ok) this.errors++;
    this.totalMs += ms;
    if (ms < this.minMs) this.minMs = ms;
    if (ms > this.maxMs) this.maxMs = ms;
    if (this.count === 1) this.first = at;
    this.last = at;
  }

  view(fn: string): FunctionStatsView {
    const window = this.recent.slice(0, Math.min(this.count, MEDIAN_WINDOW)).sort();
    const mid = window.length >> 1;
    const median = window.length % 2 === 1 ? window[mid]! : (window[mid - 1]! + window[mid]!) / 2;
    const round = (ms: number) => Math.round(ms * 100) / 100;
    return {
      function: fn,
      count: this.count,
      errors: this.errors,
      latency_ms: { avg: round(this.totalMs / this.count), median: round(median), min: round(this.minMs), max: round(this.maxMs) },
      first_call: new Date(this.first).toISOString(),
      last_call: new Date(this.last).toISOString(),
    };
  }
}

export class CallStats {
  /** deployment -> function -> stats */
  private readonly byDeployment = new Map<string, Map<string, FunctionStats>>();
  /** deployment -> worker index -> calls sent there */
  private readonly byWorker = new Map<string, Map<number, number>>();
  readonly since = new Date().toISOString();

  /** Counts one call of `deployment` given to a runtime worker. */
  sentTo(deployment: string, worker: number): void {
    let workers = this.byWorker.get(deployment);
    if (workers === undefined) this.byWorker.set(deployment, (workers = new Map()));
    workers.set(worker, (workers.get(worker) ?? 0) + 1);
  }

  /** Calls of `deployment` given to each worker, by worker index. */
  workersOf(deployment: string): ReadonlyMap<number, number> {
    return this.byWorker.get(deployment) ?? new Map();
  }

  /** Counts one call of `fn` on `deployment` that took `ms` and succeeded or not. */
  record(deployment: string, fn: string, ms: number, ok: boolean): void {
    let fns = this.byDeployment.get(deployment);
    if (fns === undefined) this.byDeployment.set(deployment, (fns = new Map()));
    let stats = fns.get(fn);
    if (stats === undefined) fns.set(fn, (stats = new FunctionStats()));
    stats.add(ms, ok, Date.now());
  }

  /** The functions called on `deployment`, most called first. */
  of(deployment: string): FunctionStatsView[] {
    const fns = this.byDeployment.get(deployment);
    if (fns === undefined) return [];
    return [...fns].map(([fn, s]) => s.view(fn)).sort((a, b) => b.count - a.count || a.function.localeCompare(b.function));
  }

  /** Forgets a deployment's calls (it was deleted: a new one of the same name starts from zero). */
  forget(deployment: string): void {
    this.byDeployment.delete(deployment);
    this.byWorker.delete(deployment);
  }
}
