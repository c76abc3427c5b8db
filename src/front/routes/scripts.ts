import { Router } from '@koa/router';
import { parseBody, ScriptBodySchema, ScriptTestSchema } from '../../api/schemas.js';
import { ServeError } from '../../errors.js';
import { requireAdmin } from '../auth/index.js';
import { jsonBody, textBody } from '../body.js';
import { bodyOf, stateOf } from '../context.js';
import type { AppDeps } from '../deps.js';
import { fieldsOf, multipartInMemory } from '../multipart.js';
import { sendPredictResponse } from '../predict-response.js';
import { argsFromRequest } from '../request-args.js';
import { checkRequestSize, serverSizeLimits } from '../request-size.js';
import { generateScriptTemplate } from '../script-template.js';
import { modelVersion } from '../store-lookups.js';
import { modelRef } from '../views.js';
import { PREDICT_FUNCTION } from '../../model/index.js';

/** The script text of a PUT: a text/plain or application/javascript body, or JSON `{ "script": "..." }`. */
function scriptFromBody(body: unknown): string {
  if (typeof body === 'string') return body;
  const json = ScriptBodySchema.safeParse(body);
  if (json.success) return json.data.script;
  throw new ServeError('REQUEST_INVALID', 'send the script as a text/plain body, or JSON { "script": "..." }', { field: 'script' });
}

/** Scripts of a model version: generated template, save/read, and test runs on the scratch worker. */
export function scriptRoutes(deps: AppDeps): Router {
  const { store, config } = deps;
  const router = new Router({ prefix: '/api/v1/models/:name/versions/:version' });
  router.use(requireAdmin(deps.adminTokenHash));
  const defaultLimits = deps.scripts.limitsOf({ limits: {} });

  router.get('/script-template', async (ctx) => {
    const m = await modelVersion(store, ctx.params.name!, ctx.params.version!);
    ctx.type = 'application/javascript';
    ctx.body = generateScriptTemplate({ name: m.name, version: String(m.version), inputs: m.inputs, outputs: m.outputs });
  });

  router.get('/script', async (ctx) => {
    const m = await modelVersion(store, ctx.params.name!, ctx.params.version!);
    const text = await store.models.getScript(m.name, m.version);
    if (text === null) throw new ServeError('SCRIPT_NOT_FOUND', `model "${m.name}" version ${m.version} has no saved script`);
    ctx.type = 'application/javascript';
    ctx.body = text;
  });

  // Text bodies of the script size; JSON is accepted too (`{ "script": "..." }`).
  router.put('/script', textBody(Math.min(config.limits.maxJsonBytes, 4 * 2 ** 20)), async (ctx) => {
    const m = await modelVersion(store, ctx.params.name!, ctx.params.version!);
    const text = scriptFromBody(bodyOf(ctx));
    // Compiled and init()-ed on the scratch worker first: a script that cannot run is not saved.
    await store.models.ensureLocal(m);
    const functions = await deps.scripts.check(text, modelRef(store, m), defaultLimits);
    await store.models.saveScript(m.name, m.version, text);
    ctx.body = { model_name: m.name, model_version: String(m.version), functions, bytes: Buffer.byteLength(text) };
  });

  const multipart = multipartInMemory({ fileBytes: config.limits.maxFileBytes, files: config.limits.maxFiles, fields: config.limits.maxFields });
  router.post('/script/test', jsonBody(config.limits.maxJsonBytes), multipart, async (ctx) => {
    const m = await modelVersion(store, ctx.params.name!, ctx.params.version!);
    const form = ctx.is('multipart') !== false;
    const body = form ? { script: fieldsOf(ctx).script, function: fieldsOf(ctx).function, args: {} } : bodyOf(ctx);
    const parsed = parseBody(ScriptTestSchema, body, 'body');
    const text = parsed.script ?? (await store.models.getScript(m.name, m.version));
    if (text === null) throw new ServeError('SCRIPT_NOT_FOUND', `model "${m.name}" version ${m.version} has no saved script; send one in "script"`);
    const args = form ? argsFromRequest(ctx) : parsed.args;
    checkRequestSize(args, serverSizeLimits(config));
    await store.models.ensureLocal(m);
    const out = await deps.scripts.invokeInline(text, defaultLimits, { model: modelRef(store, m), fn: parsed.function ?? PREDICT_FUNCTION, args });
    stateOf(ctx).timings = out.timings;
    sendPredictResponse(ctx, out, true);
  });

  return router;
}
