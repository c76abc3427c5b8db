import type { Router } from '@koa/router';
import Koa, { type Middleware } from 'koa';
import type { AppDeps } from './deps.js';
import { createMetrics } from './metrics.js';
import { accessLog } from './middleware/access-log.js';
import { errorHandler } from './middleware/error-handler.js';
import { OIP_PREFIX, oipErrors, oipRouter } from './oip/rest.js';
import { requestId } from './middleware/request-id.js';
import { sequence } from './middleware/sequence.js';
import { consoleRoutes } from './routes/console.js';
import { deploymentRoutes } from './routes/deployments.js';
import { healthRoutes } from './routes/health.js';
import { modelRoutes } from './routes/models.js';
import { scriptRoutes } from './routes/scripts.js';
import { openApiRoutes } from './routes/openapi.js';
import { SVC_PREFIX, svcRoutes, type SvcRoutes } from './routes/svc.js';
import { testRoutes } from './routes/test.js';

/** Assembles the front. Does no work itself and never listens (see start.ts). */
export function createApp(deps: AppDeps): Koa {
  const app = new Koa({ proxy: false });
  app.silent = true; // errorHandler logs; Koa's default stderr printing would duplicate it
  app.use(requestId(deps.log));
  app.use(accessLog());
  app.use(createMetrics(deps.workers).middleware);
  app.use(errorHandler());
  const { management, svc, oip } = appRouters(deps);
  const routed = byPrefix(`${SVC_PREFIX}/`, sequence([svc.direct, ...mounted(svc.router)]), sequence(management.flatMap(mounted)));
  const oipRoutes = sequence([oipErrors(), ...mounted(oip)]);
  // The Open Inference Protocol's paths answer its own error body, so they reach its routes only.
  app.use((ctx, next) => (ctx.path === OIP_PREFIX || ctx.path.startsWith(`${OIP_PREFIX}/`) ? oipRoutes(ctx, next) : routed(ctx, next)));
  return app;
}

/**
 * Every router of the front: `management` for paths outside SVC_PREFIX, `svc` for the calls, `oip`
 * for the Open Inference Protocol under /v2. A new
 * router goes in this list, and each of its routes in ROUTE_DOCS (openapi.ts): a test walks these
 * routers and fails on a route /openapi.json does not describe.
 */
export function appRouters(deps: AppDeps): { management: Router[]; svc: SvcRoutes; oip: Router } {
  return {
    oip: oipRouter(deps),
    management: [consoleRoutes(), healthRoutes(deps), openApiRoutes(), scriptRoutes(deps), modelRoutes(deps), testRoutes(deps), deploymentRoutes(deps)],
    svc: svcRoutes(deps),
  };
}

/** A router's routes, then its allowedMethods (405 with Allow, 501). */
function mounted(router: Router): Middleware[] {
  // Not `throw: true`: the router sets the Allow header only when it does not throw;
  // errorHandler turns the bare 405 into the JSON error body.
  return [router.routes() as Middleware, router.allowedMethods() as Middleware];
}

/**
 * Paths under `prefix` (matched as the routers match, ignoring case) go to `under` only, others to
 * `rest` only. Every router tries its routes' patterns on every request it sees: with the svc route
 * mounted last, each call went through the six other routers first (about 10 % of the front's CPU
 * per iris call, #14). No route of `rest` matches a path under
 * the prefix, so both sides answer as one chain of all the routers did.
 */
function byPrefix(prefix: string, under: Middleware, rest: Middleware): Middleware {
  const lower = prefix.toLowerCase();
  return (ctx, next) => (ctx.path.length > lower.length && ctx.path.slice(0, lower.length).toLowerCase() === lower ? under(ctx, next) : rest(ctx, next));
}
