import { Router } from '@koa/router';
import { parseBody, TestBodySchema } from '../../api/schemas.js';
import { requireAdmin } from '../auth/index.js';
import { jsonBody } from '../body.js';
import { deadlineOf } from '../deadline.js';
import { bodyOf, stateOf } from '../context.js';
import { modelVersion } from '../store-lookups.js';
import type { AppDeps } from '../deps.js';
import { invokeVersion } from '../dispatch/invoke.js';
import { fieldsOf, multipartInMemory } from '../multipart.js';
import { sendPredictResponse } from '../predict-response.js';
import { argsFromRequest } from '../request-args.js';
import { checkRequestSize, serverSizeLimits } from '../request-size.js';
import { PREDICT_FUNCTION } from '../../model/index.js';
import { ServeError } from '../../errors.js';
import type { VersionManifest } from '../../store/index.js';

/**
 * A test call that sends nothing but the version (no X, no other argument, no file) tests the
 * version's stored sample, as the console's test tab does; a version without one answers 400
 * with what to send and where a random payload is.
 */
function withStoredSample(args: Record<string, unknown>, manifest: VersionManifest): Record<string, unknown> {
  if (Object.keys(args).length > 0) return args;
  if (manifest.sample !== null) return { X: [manifest.sample] };
  const example = `/api/v1/models/${encodeURIComponent(manifest.name)}/versions/${manifest.version}/example?random=true`;
  const inputs = manifest.inputs.map((i) => `"${i.name}": ...`).join(', ');
  throw new ServeError(
    'REQUEST_INVALID',
    `args.X is required: model '${manifest.name}' version ${manifest.version} has no stored sample (publish with x_test to store one). Send X as records [{ ${inputs} }] or rows, or take a random payload of the right shapes from GET ${example}`,
    { field: 'args.X', example },
  );
}

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
    const manifest = await modelVersion(deps.store, name, version ?? 'latest');
    const callArgs = withStoredSample(form ? argsFromRequest(ctx) : jsonArgs, manifest);
    checkRequestSize(callArgs, serverSizeLimits(deps.config));
    const out = await invokeVersion(deps, manifest, PREDICT_FUNCTION, callArgs, { deadline: deadlineOf(ctx, deps.config, null) });
    stateOf(ctx).timings = out.timings;
    sendPredictResponse(ctx, out, true);
  });
  return router;
}
