import { Router } from '@koa/router';
import { parseBody, TestBodySchema } from '../../api/schemas.js';
import { requireAdmin } from '../auth/index.js';
import { jsonBody } from '../body.js';
import { bodyOf, stateOf } from '../context.js';
import type { AppDeps } from '../deps.js';
import { invokeVersion } from '../dispatch/invoke.js';
import { fieldsOf, multipartInMemory } from '../multipart.js';
import { sendPredictResponse } from '../predict-response.js';
import { argsFromRequest } from '../request-args.js';
import { checkRequestSize, serverSizeLimits } from '../request-size.js';
import { PREDICT_FUNCTION } from '../../model/index.js';

/** `POST /api/v1/test`: the DaaS test call on a model version, always with stdout/stderr. */
export function testRoutes(deps: AppDeps): Router {
  const router = new Router({ prefix: '/api/v1/test' });
  const { limits } = deps.config;
  const multipart = multipartInMemory({ fileBytes: limits.maxFileBytes, files: limits.maxFiles, fields: limits.maxFields });
  router.post('/', requireAdmin(deps.adminTokenHash), jsonBody(limits.maxJsonBytes), multipart, async (ctx) => {
    // JSON: { args: { model_name, model_version, X } }; multipart: those as fields, files as parts.
    const form = ctx.is('multipart') !== false;
    const { args } = parseBody(TestBodySchema, form ? { args: fieldsOf(ctx) } : bodyOf(ctx), 'body');
    const { model_name: name, model_version: version, ...jsonArgs } = args;
    const callArgs = form ? argsFromRequest(ctx) : jsonArgs;
    checkRequestSize(callArgs, serverSizeLimits(deps.config));
    const manifest = deps.store.models.get(name, version ?? 'latest');
    const out = await invokeVersion(deps, manifest, PREDICT_FUNCTION, callArgs);
    stateOf(ctx).timings = out.timings;
    sendPredictResponse(ctx, out, true);
  });
  return router;
}
