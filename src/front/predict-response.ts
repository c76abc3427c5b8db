import type { Context } from 'koa';
import type { PredictResponse } from '../api/types.js';
import type { InvokeResult } from '../protocol/messages.js';

/**
 * Answers a call with `{ result }`, plus `stdout` and `stderr` when asked. A result the worker sent
 * as JSON text (a script's predict flow) goes into the body as it is: parsing it here only to
 * serialize it again would cost every such request both.
 */
export function sendPredictResponse(ctx: Context, out: InvokeResult, withOutput: boolean): void {
  if (out.resultJson === undefined) {
    ctx.body = (withOutput ? { result: out.result, stdout: [...out.stdout], stderr: [...out.stderr] } : { result: out.result }) satisfies PredictResponse;
    return;
  }
  const output = withOutput ? `,"stdout":${JSON.stringify(out.stdout)},"stderr":${JSON.stringify(out.stderr)}` : '';
  ctx.type = 'application/json; charset=utf-8';
  ctx.body = `{"result":${out.resultJson}${output}}`;
}
