import multer from '@koa/multer';
import type { Context, Middleware } from 'koa';
import { ServeError } from '../errors.js';

/** One uploaded part as multer gives it: in memory (`buffer`) or on disk (`path`). */
export interface UploadedPart {
  fieldname: string;
  originalname: string;
  mimetype: string;
  size: number;
  buffer?: Buffer;
  path?: string;
}

export interface MultipartLimits {
  readonly fileBytes: number;
  readonly files: number;
  readonly fields: number;
}

/** Text fields of up to 16 MiB: an `X` field may carry JSON records. */
const FIELD_BYTES = 16 * 2 ** 20;

function limitsOf(l: MultipartLimits) {
  return { fileSize: l.fileBytes, files: l.files, fields: l.fields, fieldSize: FIELD_BYTES, parts: l.files + l.fields };
}

/** multer's limit errors, told in our terms: which limit, how big, which field. */
function limitError(err: unknown, l: MultipartLimits, keys: { fileBytes: string; files: string; fields: string }): unknown {
  const e = err as { code?: string; field?: string };
  const field = e.field ? ` (field '${e.field}')` : '';
  const details = e.field ? { field: e.field } : undefined;
  switch (e.code) {
    case 'LIMIT_FILE_SIZE':
      return new ServeError('REQUEST_TOO_LARGE', `a file is over ${l.fileBytes} bytes${field}; the limit is ${keys.fileBytes}`, details, { cause: err });
    case 'LIMIT_FILE_COUNT':
      return new ServeError('REQUEST_TOO_LARGE', `more than ${l.files} files in one request; the limit is ${keys.files}`, details, { cause: err });
    case 'LIMIT_FIELD_COUNT':
    case 'LIMIT_PART_COUNT':
      return new ServeError('REQUEST_TOO_LARGE', `more than ${l.fields} fields in one request; the limit is ${keys.fields}`, details, { cause: err });
    case 'LIMIT_FIELD_VALUE':
      return new ServeError('REQUEST_TOO_LARGE', `a text field is over ${FIELD_BYTES} bytes${field}`, details, { cause: err });
    case 'LIMIT_FIELD_KEY':
      return new ServeError('REQUEST_TOO_LARGE', `a field name is over multer's 100-byte limit${field}`, details, { cause: err });
    case 'LIMIT_UNEXPECTED_FILE':
      return new ServeError('REQUEST_INVALID', `unexpected file${field}`, details, { cause: err });
    default:
      return malformedError(err);
  }
}

/**
 * busboy's and multer's complaints about the body's shape (not its size), told as the client's error:
 * what is wrong, in words a caller can act on. Anything else (a disk error while streaming) passes as is.
 */
function malformedError(err: unknown): unknown {
  const e = err as { code?: string; field?: string; message?: unknown };
  const message = typeof e.message === 'string' ? e.message : '';
  const invalid = (what: string, details?: Record<string, unknown>) => new ServeError('REQUEST_INVALID', what, details, { cause: err });
  switch (e.code) {
    case 'MISSING_FIELD_NAME':
      return invalid('a multipart part has no name (its Content-Disposition needs name="...")');
    case 'INVALID_FIELD_NAME':
    case 'LIMIT_FIELD_NESTING':
    case 'LIMIT_FIELD_ARRAY_INDEX':
      return invalid(`the multipart field name '${e.field ?? ''}' cannot be read as a field`, e.field ? { field: e.field } : undefined);
    case 'STREAM_DESTROYED':
      return invalid('the request ended before its multipart body was complete');
  }
  switch (message) {
    case 'Unexpected end of form':
      return invalid('the multipart body ended before its closing boundary (truncated, or not a multipart/form-data body at all)');
    case 'Unexpected end of file':
      return invalid('the multipart body ended inside a file part, before its closing boundary');
    case 'Malformed part header':
      return invalid('a multipart part has a malformed header (each part needs "Content-Disposition: form-data; name=..." lines, then an empty line)');
    case 'Multipart: Boundary not found':
      return invalid('the Content-Type multipart/form-data has no boundary parameter (e.g. multipart/form-data; boundary=...)');
    case 'Malformed content type':
    case 'Missing Content-Type':
      return invalid('the Content-Type header cannot be read as multipart/form-data; boundary=...');
    case 'Request aborted':
    case 'Request closed':
      return invalid('the request ended before its multipart body was complete');
  }
  if (message.startsWith('Unsupported content type')) return invalid('the Content-Type header cannot be read as multipart/form-data; boundary=...');
  return err;
}

/** Runs multer, mapping only its own errors; what the route throws afterwards passes untouched. */
async function parseThen(upload: Middleware, ctx: Context, next: () => Promise<unknown>, mapError: (err: unknown) => unknown): Promise<void> {
  let parsed = false;
  try {
    await upload(ctx as never, async () => {
      parsed = true;
    });
  } catch (err) {
    throw mapError(err);
  }
  if (parsed) await next();
}

const PREDICT_KEYS = { fileBytes: 'limits.maxFileBytes', files: 'limits.maxFiles', fields: 'limits.maxFields' };

/** Parses multipart/form-data into memory (prediction uploads); other content types pass through. */
export function multipartInMemory(limits: MultipartLimits): Middleware {
  const upload = multer({ storage: multer.memoryStorage(), limits: limitsOf(limits) }).any();
  return async (ctx, next) => {
    if (!ctx.is('multipart')) return next();
    await parseThen(upload, ctx, next, (err) => limitError(err, limits, PREDICT_KEYS));
  };
}

/** Parses multipart/form-data streaming files to `dir` (model publishes, which may be large). */
export function multipartToDisk(dir: string, limits: MultipartLimits): Middleware {
  const upload = multer({ dest: dir, limits: limitsOf(limits) }).any();
  const keys = { fileBytes: 'limits.maxModelBytes', files: `${limits.files} files`, fields: `${limits.fields} fields` };
  return async (ctx, next) => {
    if (!ctx.is('multipart')) {
      throw new ServeError('REQUEST_INVALID', 'this endpoint takes multipart/form-data (a "file" part and a "name" field)');
    }
    await parseThen(upload, ctx, next, (err) => limitError(err, limits, keys));
  };
}

export function partsOf(ctx: Context): UploadedPart[] {
  const files = (ctx.request as unknown as { files?: unknown }).files;
  return Array.isArray(files) ? (files as UploadedPart[]) : [];
}

/** Text fields of a multipart body (or the JSON body's top level). */
export function fieldsOf(ctx: Context): Record<string, unknown> {
  const body = (ctx.request as unknown as { body?: unknown }).body;
  return body !== null && typeof body === 'object' ? (body as Record<string, unknown>) : {};
}
