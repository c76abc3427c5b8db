import type { Context } from 'koa';
import type { Logger } from '../log.js';

/** What the front's middleware leaves on `ctx.state` for the routes. */
export interface FrontState {
  requestId: string;
  log: Logger;
  /** When the request arrived (Date.now()): where its deadline counts from. */
  receivedAt: number;
  /** Stage timings reported by the worker, for the access log. */
  timings?: Readonly<Record<string, number>>;
  deployment?: string;
  /** The runtime worker that took the call (serving index), for the access log. */
  worker?: number;
  /**
   * A svc call counted in the per-function statistics (call-stats.ts), for the same series in
   * /metrics: its function, its time as counted there, the time it waited in the front for a worker
   * slot (absent when it never got one) and the rows of the batched model run it led.
   */
  call?: { fn: string; ms: number; frontQueueMs?: number; batchRows?: number };
}

export function stateOf(ctx: Context): FrontState {
  return ctx.state as FrontState;
}

/** The parsed request body (JSON object, text, or multipart fields), as the body parsers left it. */
export function bodyOf(ctx: Context): unknown {
  return (ctx.request as unknown as { body?: unknown }).body;
}
