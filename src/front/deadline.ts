import type { Context } from 'koa';
import type { Config } from '../config.js';
import { ServeError } from '../errors.js';
import type { DeploymentRecord } from '../store/index.js';
import { stateOf } from './context.js';

/**
 * A client's own deadline, in seconds (a decimal allowed, as in "2.5"): it can only shorten the
 * deployment's `request_timeout_ms` (or `limits.requestTimeoutMs`), never lengthen it.
 */
export const REQUEST_TIMEOUT_HEADER = 'Request-Timeout';

const SECONDS = /^\s*(\d+(\.\d+)?|\.\d+)\s*$/;

/** The header's value in milliseconds; undefined when absent. REQUEST_INVALID when it is not a positive number of seconds. */
export function parseRequestTimeout(value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  const ms = SECONDS.test(value) ? Number(value) * 1000 : NaN;
  if (!(ms > 0) || !Number.isFinite(ms)) {
    throw new ServeError('REQUEST_INVALID', `${REQUEST_TIMEOUT_HEADER} must be a positive number of seconds like "2.5", got ${JSON.stringify(value)}`, { field: REQUEST_TIMEOUT_HEADER });
  }
  return ms;
}

/** The request's `Request-Timeout` in milliseconds, if it sent one. */
export function clientTimeoutOf(ctx: Context): number | undefined {
  return parseRequestTimeout(ctx.get(REQUEST_TIMEOUT_HEADER) || undefined);
}

/**
 * When a call must be answered (Date.now() time): from its arrival, the deployment's
 * `request_timeout_ms` (else `limits.requestTimeoutMs`), shortened by the client's own timeout in
 * milliseconds (`Request-Timeout`, or a gRPC deadline). Passed on as `InvokeOptions.deadline`.
 */
export function requestDeadline(config: Config, record: Pick<DeploymentRecord, 'limits'> | null, receivedAt: number, clientTimeoutMs?: number): number {
  const serverMs = record?.limits.requestTimeoutMs ?? config.limits.requestTimeoutMs;
  return receivedAt + Math.min(serverMs, clientTimeoutMs ?? Infinity);
}

/** A route's deadline for its request: arrival time and Request-Timeout read from the context. */
export function deadlineOf(ctx: Context, config: Config, record: Pick<DeploymentRecord, 'limits'> | null): number {
  return requestDeadline(config, record, stateOf(ctx).receivedAt, clientTimeoutOf(ctx));
}
