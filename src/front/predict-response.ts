import { Readable } from 'node:stream';
import type { Context } from 'koa';
import type { PredictResponse } from '../api/types.js';
import type { InvokeResult } from '../protocol/messages.js';

const RESULT_HEAD = Buffer.from('{"result":');

/**
 * Answers a call with `{ result }`, plus `stdout` and `stderr` when asked. A result the worker sent
 * as JSON (a script's) goes into the body as it is: parsing it here only to serialize it again
 * would cost every such request both, and froze the front for seconds on large typed arrays (#14).
 * Large results arrive as bytes (a view on the reply's frame) and are never made a string here.
 */
export function sendPredictResponse(ctx: Context, out: InvokeResult, withOutput: boolean): void {
  const json = out.resultJson;
  if (json === undefined) {
    ctx.body = (withOutput ? { result: out.result, stdout: [...out.stdout], stderr: [...out.stderr] } : { result: out.result }) satisfies PredictResponse;
    return;
  }
  const tail = `${withOutput ? `,"stdout":${JSON.stringify(out.stdout)},"stderr":${JSON.stringify(out.stderr)}` : ''}}`;
  ctx.type = 'application/json; charset=utf-8';
  if (typeof json === 'string') {
    ctx.body = `{"result":${json}${tail}`;
    return;
  }
  // Three writes, not one concatenated copy of a body that may be hundreds of MB.
  const parts = [RESULT_HEAD, Buffer.from(json.buffer, json.byteOffset, json.byteLength), Buffer.from(tail)];
  ctx.body = Readable.from(parts);
  ctx.length = parts.reduce((n, part) => n + part.length, 0);
}

/** The result as a value, for the few front paths that read it (evaluation of a publish's sample). */
export function resultValueOf(out: InvokeResult): unknown {
  const json = out.resultJson;
  if (json === undefined) return out.result;
  return JSON.parse(typeof json === 'string' ? json : Buffer.from(json.buffer, json.byteOffset, json.byteLength).toString('utf8')) as unknown;
}
