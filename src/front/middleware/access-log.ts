import { performance } from 'node:perf_hooks';
import type { Middleware } from 'koa';
import { stateOf } from '../context.js';

/** One line per request: method, path, status, total time and the worker's stage timings. */
export function accessLog(): Middleware {
  return async (ctx, next) => {
    const start = performance.now();
    try {
      await next();
    } finally {
      const state = stateOf(ctx);
      const line = {
        method: ctx.method,
        path: ctx.path,
        status: ctx.status,
        ms: Math.round((performance.now() - start) * 100) / 100,
        ...(state.deployment ? { deployment: state.deployment } : {}),
        ...(state.worker !== undefined ? { worker: state.worker } : {}),
        ...state.timings,
      };
      if (ctx.status >= 500) state.log.error(line, 'request');
      else state.log.info(line, 'request');
    }
  };
}
