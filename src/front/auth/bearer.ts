import type { Context } from 'koa';
import { ServeError } from '../../errors.js';

const BEARER = /^Bearer ([A-Za-z0-9\-._~+/]+=*)$/;

/**
 * The bearer token of a request (RFC 6750). A missing header is 401; a malformed one is 400 with
 * `error="invalid_request"`. The caller checks the token itself.
 */
export function readBearer(ctx: Context): string {
  const header = ctx.get('authorization');
  if (header === '') {
    ctx.set('WWW-Authenticate', 'Bearer realm="inferbox"');
    throw new ServeError('AUTH_MISSING_TOKEN', 'this endpoint needs an Authorization: Bearer <token> header');
  }
  const match = BEARER.exec(header);
  if (!match) {
    ctx.set('WWW-Authenticate', 'Bearer realm="inferbox", error="invalid_request"');
    throw new ServeError('REQUEST_INVALID', 'the Authorization header must be "Bearer <token>"', { field: 'authorization' });
  }
  return match[1]!;
}

export function rejectToken(ctx: Context, what: string): never {
  ctx.set('WWW-Authenticate', 'Bearer realm="inferbox", error="invalid_token"');
  throw new ServeError('AUTH_INVALID_TOKEN', `the bearer token is not valid for ${what}`);
}
