/**
 * One error type and one table: the code decides the HTTP status, the throw site decides the message.
 * Every code here has an anchor in docs/errors.md (checked by test/unit/docs-contract.test.ts).
 */
/** How the front answers a code: its HTTP status, whether its message reaches the client, and a Retry-After. */
export interface ErrorSpec {
  readonly status: number;
  /** false: the client gets a generic message; the real one stays in the log. */
  readonly expose: boolean;
  /** Sent as `Retry-After` (seconds) on codes a client should simply try again. */
  readonly retryAfterS?: number;
}

export const ERRORS = {
  AUTH_MISSING_TOKEN: { status: 401, expose: true }, // no Authorization header
  AUTH_INVALID_TOKEN: { status: 401, expose: true }, // token does not match the admin or the deployment token
  REQUEST_INVALID: { status: 400, expose: true }, // body, params or headers failed their schema
  REQUEST_TOO_LARGE: { status: 413, expose: true }, // body, file or field over its configured limit
  ROUTE_NOT_FOUND: { status: 404, expose: true }, // no such path
  METHOD_NOT_ALLOWED: { status: 405, expose: true }, // the path exists, the method does not (see the Allow header)
  MODEL_NOT_FOUND: { status: 404, expose: true }, // no model, or no such version of it
  MODEL_INVALID: { status: 400, expose: true }, // the uploaded file is not a model the runtime can load
  MODEL_UNSUPPORTED: { status: 422, expose: true }, // a valid model that uses something inferbox cannot serve
  MODEL_IN_USE: { status: 409, expose: true }, // a deployment still serves this version
  DEPLOYMENT_NOT_FOUND: { status: 404, expose: true }, // no deployment of that name
  DEPLOYMENT_EXISTS: { status: 409, expose: true }, // a deployment of that name already exists
  LABELS_NOT_FOUND: { status: 404, expose: true }, // the deployment has no labels (GET .../labels)
  FUNCTION_NOT_FOUND: { status: 404, expose: true }, // the deployment's script defines no such function
  INPUT_MISSING: { status: 422, expose: true }, // a model input has no value in a record
  INPUT_UNKNOWN: { status: 422, expose: true }, // a record names an input the model does not have
  INPUT_SHAPE_MISMATCH: { status: 422, expose: true }, // nested array shape vs the input's shape
  INPUT_DTYPE_MISMATCH: { status: 422, expose: true }, // a value that does not fit the input's dtype
  INPUT_IMAGE_INVALID: { status: 422, expose: true }, // an uploaded file is not a readable image (corrupt, text, unknown format)
  INPUT_IMAGE_TOO_LARGE: { status: 422, expose: true }, // an uploaded image has more pixels than limits.maxImagePixels
  INPUT_FILE_UNEXPECTED: { status: 422, expose: true }, // without a script, a file came under a name that is no image input
  INFERENCE_FAILED: { status: 500, expose: true }, // the runtime rejected the feeds at run time
  SCRIPT_NOT_FOUND: { status: 404, expose: true }, // the model version has no saved script
  SCRIPT_INVALID: { status: 422, expose: true }, // the script does not compile or its init() failed
  SCRIPT_REJECTED: { status: 422, expose: true }, // the script called fail(message)
  SCRIPT_FAILED: { status: 500, expose: true }, // the script threw; its own stack lines go to stderr
  SCRIPT_TIMEOUT: { status: 504, expose: true }, // a script call ran past its time limit; sandbox replaced
  SCRIPT_MEMORY_LIMIT: { status: 503, expose: true }, // the sandbox hit its memory limit; sandbox replaced
  SCRIPT_RESULT_TOO_LARGE: { status: 413, expose: true }, // a script's result as JSON is over sandbox.maxResultBytes (or the deployment's max_result_bytes)
  SCRIPT_CRASHED: { status: 503, expose: true, retryAfterS: 1 }, // the script took its runtime worker down with it
  SCRIPT_QUARANTINED: { status: 503, expose: true }, // the script crashed workers twice; refused until it changes
  WORKER_CRASHED: { status: 503, expose: true, retryAfterS: 1 }, // the runtime worker died with this request in flight
  WORKER_UNAVAILABLE: { status: 503, expose: true, retryAfterS: 2 }, // no runtime worker came up in time
  WORKER_TIMEOUT: { status: 504, expose: true }, // the worker did not answer in workers.requestTimeoutMs; it is restarted
  OVERLOADED: { status: 503, expose: true, retryAfterS: 1 }, // too many requests queued; retry after the Retry-After seconds
  DEADLINE_EXCEEDED: { status: 504, expose: true }, // the request's deadline (request_timeout_ms, limits.requestTimeoutMs or Request-Timeout) passed; its work was dropped
  SHUTTING_DOWN: { status: 503, expose: true, retryAfterS: 5 }, // the server is draining after SIGTERM
  STORE_UNAVAILABLE: { status: 503, expose: true, retryAfterS: 2 }, // the PostgreSQL store cannot be reached; retry once it is back
  SCRIPT_NOT_LOADED: { status: 503, expose: false }, // between front and worker only: send the script text again
  INTERNAL: { status: 500, expose: false }, // anything unclassified; details only in the log
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

/** The Retry-After seconds of a code, or undefined when a retry would not help. */
export function retryAfterOf(code: ErrorCode): number | undefined {
  return (ERRORS[code] as ErrorSpec).retryAfterS;
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERRORS, value);
}

export class ServeError extends Error {
  readonly status: number;
  readonly expose: boolean;

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: Readonly<Record<string, unknown>>,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = `ServeError [${code}]`;
    this.status = ERRORS[code].status;
    this.expose = ERRORS[code].expose;
  }
}

/** Turns anything thrown into a ServeError, keeping the original as `cause`. */
export function toServeError(err: unknown): ServeError {
  if (err instanceof ServeError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new ServeError('INTERNAL', message, undefined, { cause: err });
}

export interface ErrorBody {
  error: { code: ErrorCode; message: string; details?: Readonly<Record<string, unknown>> };
  requestId?: string;
}

const GENERIC_MESSAGE: Partial<Record<number, string>> = { 500: 'Internal Server Error' };

/** The one JSON error body. Unexposed errors get a generic message; their text stays in the log. */
export function toErrorBody(err: ServeError, requestId?: string): ErrorBody {
  const message = err.expose ? err.message : (GENERIC_MESSAGE[err.status] ?? 'Internal Server Error');
  const error: ErrorBody['error'] = { code: err.code, message };
  if (err.expose && err.details !== undefined) error.details = err.details;
  return requestId === undefined ? { error } : { error, requestId };
}
