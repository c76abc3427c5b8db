import type { Middleware } from 'koa';
import { retryAfterOf, ServeError, toErrorBody, toServeError } from '../../errors.js';
import { stateOf } from '../context.js';

/** Errors thrown by the body parsers and the router carry their own statuses; map them once (multer's are told in multipart.ts). */
function fromForeign(err: unknown): ServeError {
  if (err instanceof ServeError) return err;
  const e = err as { status?: number; message?: string; type?: string };
  if (e.status === 413 || e.type === 'entity.too.large') {
    // Only JSON and text bodies reach here: multipart limits are told in multipart.ts.
    const limit = (err as { limit?: number }).limit;
    const over = typeof limit === 'number' ? ` of ${limit} bytes (limits.maxJsonBytes)` : '';
    return new ServeError('REQUEST_TOO_LARGE', `the request body is over the limit${over}`, undefined, { cause: err });
  }
  if (err instanceof SyntaxError && e.status === 400) {
    // co-body's JSON.parse failure; `NaN` and `Infinity` land here too: JSON has no such tokens.
    const strict = e.message === 'invalid JSON, only supports object and array';
    return new ServeError('REQUEST_INVALID', strict ? 'the JSON body must be an object or an array' : `the body is not valid JSON: ${e.message}`, undefined, { cause: err });
  }
  if (e.status === 405) return new ServeError('METHOD_NOT_ALLOWED', e.message ?? 'method not allowed', undefined, { cause: err });
  if (e.status === 400 || e.status === 415) {
    return new ServeError('REQUEST_INVALID', e.message ?? 'malformed request body', undefined, { cause: err });
  }
  return toServeError(err);
}

/** Renders every failure as the one JSON error body; 4xx logs at info, 5xx at error. */
export function errorHandler(): Middleware {
  return async (ctx, next) => {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) {
        throw new ServeError('ROUTE_NOT_FOUND', `no route for ${ctx.method} ${ctx.path}`);
      }
      if (ctx.status === 405 && ctx.body === undefined) {
        throw new ServeError('METHOD_NOT_ALLOWED', `${ctx.method} is not allowed on ${ctx.path} (allowed: ${ctx.response.get('Allow')})`);
      }
    } catch (err) {
      const e = fromForeign(err);
      const { requestId, log } = stateOf(ctx);
      ctx.status = e.status;
      ctx.body = toErrorBody(e, requestId);
      const retry = retryAfterOf(e.code);
      if (retry !== undefined) ctx.set('Retry-After', String(retry));
      if (e.status >= 500) log.error({ err: e, cause: e.cause }, e.message);
      else log.info({ code: e.code }, e.message);
    }
  };
}
