import Koa from 'koa';
import type { AppDeps } from './deps.js';
import { createMetrics } from './metrics.js';
import { accessLog } from './middleware/access-log.js';
import { errorHandler } from './middleware/error-handler.js';
import { requestId } from './middleware/request-id.js';
import { consoleRoutes } from './routes/console.js';
import { deploymentRoutes } from './routes/deployments.js';
import { healthRoutes } from './routes/health.js';
import { modelRoutes } from './routes/models.js';
import { scriptRoutes } from './routes/scripts.js';
import { svcRoutes } from './routes/svc.js';
import { testRoutes } from './routes/test.js';

/** Assembles the front. Does no work itself and never listens (see start.ts). */
export function createApp(deps: AppDeps): Koa {
  const app = new Koa({ proxy: false });
  app.silent = true; // errorHandler logs; Koa's default stderr printing would duplicate it
  app.use(requestId(deps.log));
  app.use(accessLog());
  app.use(createMetrics(deps.workers).middleware);
  app.use(errorHandler());
  for (const router of [consoleRoutes(), healthRoutes(deps), scriptRoutes(deps), modelRoutes(deps), testRoutes(deps), deploymentRoutes(deps), svcRoutes(deps)]) {
    app.use(router.routes());
    // Not `throw: true`: the router sets the Allow header only when it does not throw;
    // errorHandler turns the bare 405 into the JSON error body.
    app.use(router.allowedMethods());
  }
  return app;
}
