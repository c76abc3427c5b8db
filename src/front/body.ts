import { bodyParser } from '@koa/bodyparser';
import type { Context, Middleware } from 'koa';
import { ServeError } from '../errors.js';

/**
 * The deepest nesting a JSON body (or a JSON multipart field) may have. Tensors have a handful of
 * dimensions and records a few levels more; what is deeper only serves to overflow the stack of the
 * recursive code downstream (frame encoding, validation), so it is refused before any of it runs.
 */
export const MAX_JSON_DEPTH = 128;

/**
 * Throws 400 REQUEST_INVALID when `value` nests objects/arrays deeper than MAX_JSON_DEPTH.
 * Iterative, so a body nested 100,000 levels deep is measured without recursion. Two flat stacks
 * and no per-node allocation: this walks every body before its route runs, and on a 16 MB body of
 * 400,000 records it took 100 ms of the front's event loop with a [node, depth] pair and an
 * Object.values array per node, 31 ms this way (#14).
 */
export function assertJsonDepth(value: unknown, what = 'the JSON body', details?: Record<string, unknown>): void {
  if (value === null || typeof value !== 'object') return;
  const nodes: object[] = [value];
  const depths: number[] = [1];
  while (nodes.length > 0) {
    const node = nodes.pop()!;
    const depth = depths.pop()!;
    if (depth > MAX_JSON_DEPTH) {
      throw new ServeError('REQUEST_INVALID', `${what} is nested deeper than ${MAX_JSON_DEPTH} levels`, details);
    }
    if (Array.isArray(node)) {
      for (let i = 0; i < node.length; i++) {
        const child: unknown = node[i];
        if (child !== null && typeof child === 'object') {
          nodes.push(child);
          depths.push(depth + 1);
        }
      }
    } else {
      // Parsed JSON: plain objects whose keys are all their own.
      for (const key in node) {
        const child: unknown = (node as Record<string, unknown>)[key];
        if (child !== null && typeof child === 'object') {
          nodes.push(child);
          depths.push(depth + 1);
        }
      }
    }
  }
}

/** JSON.parse of a text field, refusing a nesting deeper than MAX_JSON_DEPTH like a JSON body. */
export function parseJsonText(text: string, what: string, details?: Record<string, unknown>): unknown {
  const parsed: unknown = JSON.parse(text);
  assertJsonDepth(parsed, what, details);
  return parsed;
}

/** Runs a body parser, then checks the nesting of what it parsed before the route sees it. */
function withDepthCheck(parser: Middleware): Middleware {
  return (ctx: Context, next) =>
    parser(ctx, async () => {
      assertJsonDepth((ctx.request as unknown as { body?: unknown }).body);
      await next();
    });
}

/** JSON bodies up to `maxJsonBytes`; applied per route, after auth, so strangers' bodies are never parsed. */
export function jsonBody(maxJsonBytes: number): Middleware {
  return withDepthCheck(bodyParser({ enableTypes: ['json'], jsonLimit: maxJsonBytes, encoding: 'utf-8' }) as Middleware);
}

/** Plain-text bodies (scripts), up to `maxBytes`. JSON is accepted too: `{ "script": "..." }`. */
export function textBody(maxBytes: number): Middleware {
  return withDepthCheck(
    bodyParser({
      enableTypes: ['text', 'json'],
      extendTypes: { text: ['text/*', 'application/javascript', 'application/ecmascript'] },
      textLimit: maxBytes,
      jsonLimit: maxBytes,
      encoding: 'utf-8',
    }) as Middleware,
  );
}
