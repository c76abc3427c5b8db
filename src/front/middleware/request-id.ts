import { randomUUID } from 'node:crypto';
import type { Middleware } from 'koa';
import type { Logger } from '../../log.js';
import type { FrontState } from '../context.js';

const SAFE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Gives every request an id (the caller's X-Request-Id when sane) and a child logger carrying it. */
export function requestId(log: Logger): Middleware {
  // Not async: it has nothing to do after the rest, so it hands on the rest's promise (#14).
  return (ctx, next) => {
    const given = ctx.get('x-request-id');
    const id = SAFE_ID.test(given) ? given : randomUUID();
    ctx.set('X-Request-Id', id);
    const state = ctx.state as FrontState;
    state.receivedAt = Date.now();
    state.requestId = id;
    state.log = log.child({ requestId: id });
    return next();
  };
}
