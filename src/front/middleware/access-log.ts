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
      const level = ctx.status >= 500 ? 'error' : 'info';
      // Below the log level the line is not even built.
      if (state.log.isLevelEnabled(level)) {
        const line = {
          method: ctx.method,
          path: ctx.path,
          status: ctx.status,
          ms: Math.round((performance.now() - start) * 100) / 100,
          ...(state.deployment ? { deployment: state.deployment } : {}),
          ...(state.worker !== undefined ? { worker: state.worker } : {}),
          ...state.timings,
        };
        state.log[level](line, 'request');
      }
    }
  };
}
