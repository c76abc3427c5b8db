import { performance } from 'node:perf_hooks';
import { Router, type RouterContext, type RouterMiddleware } from '@koa/router';
import type { Middleware } from 'koa';
import { ServeError } from '../../errors.js';
import { readBearer, rejectToken, verifyToken } from '../auth/index.js';
import { jsonBody } from '../body.js';
import { clientTimeoutOf, deadlineOf } from '../deadline.js';
import { stateOf } from '../context.js';
import type { AppDeps } from '../deps.js';
import { invokeDeployment } from '../dispatch/invoke.js';
import { sequence } from '../middleware/sequence.js';
import { multipartInMemory } from '../multipart.js';
import { sendPredictResponse } from '../predict-response.js';
import { argsFromRequest } from '../request-args.js';
import { checkRequestSize, deploymentSizeLimits } from '../request-size.js';

const FUNCTION_NAME = /^[A-Za-z_$][A-Za-z0-9_$]{0,127}$/;
/** With ?debug=true: the serving runtime worker (0-based) that ran the call. */
export const WORKER_HEADER = 'X-Inferbox-Worker';
export const SVC_PREFIX = '/api/v1/svc';
const ROUTE = '/:deployment/:fn';

export interface SvcRoutes {
  /** Every svc route, with its 405 and 501 answers (`routes()` and `allowedMethods()`). */
  readonly router: Router;
  /**
   * The route's POST calls, run without the router (any other request goes on to it). The router
   * composes a new middleware chain for every request it routes: ~6 % of the front's CPU per iris
   * call, for one route (#14). This is the same route: the router's own layer matches the path and
   * decodes its parameters, and the same middleware runs, composed once.
   */
  readonly direct: Middleware;
}

/** `POST /api/v1/svc/{deployment}/{function}`: the deployment's token (or the admin token). */
export function svcRoutes(deps: AppDeps): SvcRoutes {
  const { store, config } = deps;
  const router = new Router({ prefix: SVC_PREFIX });
  const { limits } = config;

  const authorize: RouterMiddleware = async (ctx, next) => {
    const token = readBearer(ctx);
    const name = ctx.params.deployment!;
    // The token is checked before existence, so strangers cannot probe deployment names.
    const deployment = store.deployments.find(name);
    const admin = verifyToken(token, deps.adminTokenHash);
    if (!admin && !(deployment && verifyToken(token, deployment.tokenHash))) rejectToken(ctx, `deployment "${name}"`);
    if (!deployment) store.deployments.get(name); // throws DEPLOYMENT_NOT_FOUND
    stateOf(ctx).deployment = name;
    // A full queue refuses before the body is read: a flood costs no parsing and no memory.
    deps.workers.assertQueueRoom(name, deployment!.limits.maxQueue ?? limits.maxQueue);
    clientTimeoutOf(ctx); // a bad Request-Timeout is refused before the body is read too
    await next();
  };

  const multipart = multipartInMemory({ fileBytes: limits.maxFileBytes, files: limits.maxFiles, fields: limits.maxFields });
  const call: RouterMiddleware = async (ctx) => {
    const fn = ctx.params.fn!;
    if (!FUNCTION_NAME.test(fn)) throw new ServeError('FUNCTION_NOT_FOUND', `'${fn}' is not a function name`);
    const deployment = store.deployments.get(ctx.params.deployment!);
    const debug = ctx.query.debug === 'true' || ctx.query.debug === '1';
    const args = argsFromRequest(ctx);
    checkRequestSize(args, deploymentSizeLimits(deployment, config));
    const deadline = deadlineOf(ctx, config, deployment);
    const started = performance.now();
    let frontQueueMs: number | undefined;
    const onWorker = (worker: number) => {
      frontQueueMs = performance.now() - started;
      stateOf(ctx).worker = worker;
      deps.stats.sentTo(deployment.name, worker);
    };
    try {
      const out = await invokeDeployment(deps, deployment, fn, args, onWorker, { deadline });
      stateOf(ctx).timings = out.timings;
      sendPredictResponse(ctx, out, debug);
      // Which worker answered, with the script's output: for debugging placement and fair sharing.
      if (debug) ctx.set(WORKER_HEADER, String(stateOf(ctx).worker));
      const ms = performance.now() - started;
      deps.stats.record(deployment.name, fn, ms, true);
      stateOf(ctx).call = { fn, ms, ...(frontQueueMs === undefined ? {} : { frontQueueMs }), ...(out.batchRows === undefined ? {} : { batchRows: out.batchRows }) };
    } catch (err) {
      // Calls of functions the script does not have are not counted: their names are the caller's.
      if (!(err instanceof ServeError && err.code === 'FUNCTION_NOT_FOUND')) {
        const ms = performance.now() - started;
        deps.stats.record(deployment.name, fn, ms, false);
        stateOf(ctx).call = { fn, ms, ...(frontQueueMs === undefined ? {} : { frontQueueMs }) };
      }
      throw debug ? err : withoutScriptOutput(err);
    }
  };
  const stack = [authorize, jsonBody(limits.maxJsonBytes) as RouterMiddleware, multipart as RouterMiddleware, call];
  router.post(ROUTE, ...stack);
  const layer = router.stack.find((l) => l.path === SVC_PREFIX + ROUTE)!;
  const run = sequence(stack);
  const direct: Middleware = (ctx, next) => {
    if (ctx.method !== 'POST' || !layer.match(ctx.path)) return next();
    const routed = ctx as RouterContext;
    routed.params = layer.params(ctx.path, layer.captures(ctx.path), {});
    // What the router leaves for the metrics' route label.
    (routed as { _matchedRoute?: string })._matchedRoute = SVC_PREFIX + ROUTE;
    return run(routed, next);
  };
  return { router, direct };
}


/** What a script printed reaches svc callers only with ?debug=true, errors included. */
function withoutScriptOutput(err: unknown): unknown {
  if (!(err instanceof ServeError) || err.details === undefined || !('stdout' in err.details || 'stderr' in err.details)) return err;
  const { stdout: _stdout, stderr: _stderr, ...details } = err.details;
  return new ServeError(err.code, err.message, Object.keys(details).length > 0 ? details : undefined, { cause: err });
}
