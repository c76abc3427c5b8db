import type { Middleware } from 'koa';
import { readBearer, rejectToken } from './bearer.js';
import { verifyToken } from './tokens.js';

/** Management and test routes: the admin token only. */
export function requireAdmin(adminTokenHash: string): Middleware {
  return async (ctx, next) => {
    const token = readBearer(ctx);
    if (!verifyToken(token, adminTokenHash)) rejectToken(ctx, 'the management API');
    await next();
  };
}
