import { LRUCache } from 'lru-cache';
import { transform } from 'sucrase';
import { ServeError } from '../../errors.js';

/**
 * Scripts may be written in TypeScript. The front strips the types before a script reaches a
 * worker (never in the sandbox: the isolate only ever sees JavaScript), and the store keeps the
 * source the user wrote. sucrase is used rather than esbuild or tsc because it keeps every line and
 * column where the user wrote it, so the sandbox's errors and stack lines name the user's own lines
 * without source maps. Plain JavaScript passes through unchanged.
 */

/** Transpiled texts by source: a deployment's script is transpiled once, not per request. */
const cache = new LRUCache<string, string>({ max: 256, maxSize: 64 * 2 ** 20, sizeCalculation: (v, k) => v.length + k.length });

/** The JavaScript a worker runs for `source`; SCRIPT_INVALID naming the line and column of a syntax error. */
export function runnableScript(source: string): string {
  const cached = cache.get(source);
  if (cached !== undefined) return cached;
  let code: string;
  try {
    // disableESTransforms: modern syntax stays as written (the isolate runs ES2022+).
    code = transform(source, { transforms: ['typescript'], disableESTransforms: true, keepUnusedImports: true }).code;
  } catch (err) {
    const loc = (err as { loc?: { line: number; column: number } }).loc;
    const message = (err as Error).message.replace(/\s*\(\d+:\d+\)$/, '');
    const where = loc ? `line ${loc.line}, column ${loc.column}: ` : '';
    throw new ServeError('SCRIPT_INVALID', `the script does not parse: ${where}SyntaxError: ${message}`, loc ? { line: loc.line, column: loc.column } : undefined, { cause: err });
  }
  cache.set(source, code);
  return code;
}
