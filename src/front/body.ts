import { bodyParser } from '@koa/bodyparser';
import type { Middleware } from 'koa';

/** JSON bodies up to `maxJsonBytes`; applied per route, after auth, so strangers' bodies are never parsed. */
export function jsonBody(maxJsonBytes: number): Middleware {
  return bodyParser({ enableTypes: ['json'], jsonLimit: maxJsonBytes, encoding: 'utf-8' }) as Middleware;
}

/** Plain-text bodies (scripts), up to `maxBytes`. JSON is accepted too: `{ "script": "..." }`. */
export function textBody(maxBytes: number): Middleware {
  return bodyParser({
    enableTypes: ['text', 'json'],
    extendTypes: { text: ['text/*', 'application/javascript', 'application/ecmascript'] },
    textLimit: maxBytes,
    jsonLimit: maxBytes,
    encoding: 'utf-8',
  }) as Middleware;
}
