/**
 * An error answer from the server, carrying its code (see docs/errors.md).
 * @example try { await client.predict('svc', args) } catch (e) { if (e instanceof ApiError && e.code === 'INPUT_SHAPE_MISMATCH') ... }
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: Record<string, unknown>,
    readonly requestId?: string,
  ) {
    super(message);
    this.name = `ApiError [${code}]`;
  }
}

/** The server could not be reached (not running, wrong URL, connection refused or reset). */
export class ConnectionError extends Error {
  constructor(
    readonly url: string,
    options?: { cause?: unknown },
  ) {
    const cause = (options?.cause as { cause?: { code?: string; message?: string } } | undefined)?.cause;
    super(`cannot connect to ${url}${cause?.code ? ` (${cause.code})` : cause?.message ? ` (${cause.message})` : ''}`, options);
    this.name = 'ConnectionError';
  }
}
