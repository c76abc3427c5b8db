import { Router } from '@koa/router';
import { PACKAGE_VERSION } from '../../package-info.js';
import type { AppDeps } from '../deps.js';
const startedAt = Date.now();

/** Liveness (the front answers), readiness (a worker can serve and we are not draining). */
export function healthRoutes(deps: AppDeps): Router {
  const router = new Router();
  router.get('/healthz', (ctx) => {
    ctx.body = {
      status: 'ok',
      version: PACKAGE_VERSION,
      uptime_s: Math.round((Date.now() - startedAt) / 1000),
      backends: deps.workers.backends,
      workers: deps.workers.workerInfo(),
    };
  });
  router.get('/readyz', (ctx) => {
    const ready = !deps.lifecycle.draining && deps.workers.readyCount > 0;
    ctx.status = ready ? 200 : 503;
    ctx.body = { ready, workers_ready: deps.workers.readyCount, workers: deps.workers.size, draining: deps.lifecycle.draining };
  });
  return router;
}
