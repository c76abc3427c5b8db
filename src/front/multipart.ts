import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
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

/** Part headers take a few hundred bytes: a part outside a file with this much more than a field may hold is over. */
const PART_HEADER_ROOM = 2 ** 20;

/** A limit error, as multer would report it: `code` and, when known, `field`. */
type LimitReport = (error: { code: string; field?: string }) => void;
type IncomingRequest = Context['req'];
type Busboy = NodeJS.EventEmitter & NodeJS.WritableStream;

/** Feeds the body to busboy (multer's `streamHandler`) and tells `report` of each limit as busboy crosses it. */
function watchLimits(req: IncomingRequest, busboy: Busboy, report: LimitReport): void {
  req.pipe(busboy);
  // busboy tells a text field's size only once the field has ended, so the bytes of the current
  // part are counted instead.
  let partBytes = 0;
  let inFile = false;
  req.on('data', (chunk: Buffer) => {
    partBytes += chunk.length;
    if (!inFile && partBytes > FIELD_BYTES + PART_HEADER_ROOM) report({ code: 'LIMIT_FIELD_VALUE' });
  });
  busboy.on('field', () => (partBytes = 0));
  busboy.on('file', (field: string, stream: NodeJS.EventEmitter, info: { filename?: string }) => {
    inFile = true;
    stream.once('end', () => {
      inFile = false;
      partBytes = 0;
    });
    // multer ignores a file part without a file name (and its size).
    if (info.filename) stream.once('limit', () => report({ code: 'LIMIT_FILE_SIZE', field }));
  });
  busboy.on('filesLimit', () => report({ code: 'LIMIT_FILE_COUNT' }));
  busboy.on('fieldsLimit', () => report({ code: 'LIMIT_FIELD_COUNT' }));
  busboy.on('partsLimit', () => report({ code: 'LIMIT_PART_COUNT' }));
}

type MultipartParse = (ctx: Context, next: () => Promise<unknown>, mapError: (err: unknown) => unknown) => Promise<void>;

/**
 * multer (files in memory, or streamed to `dir`) with two changes:
 * - a limit is answered as soon as busboy crosses it. multer reports it only once it has read the
 *   body to its end (so that a client still sending sees no EPIPE): a 1 GB upload over a 20 MiB
 *   limit was read whole before its 413. multer still reads and discards the rest, until the client
 *   stops sending;
 * - a failed request's files on disk are removed once multer is done with it: after a limit, a
 *   client that hung up left its partial file in `dir` (multer loses track of a file whose stream is
 *   destroyed after its limit).
 * Only multer's errors go through `mapError`; what the route throws afterwards passes untouched.
 */
function multipartParser(limits: MultipartLimits, dir?: string): MultipartParse {
  const reports = new WeakMap<IncomingRequest, LimitReport>();
  const written = new WeakMap<IncomingRequest, string[]>();
  const filename = (req: IncomingRequest, _file: unknown, cb: (err: Error | null, name: string) => void) => {
    const name = randomBytes(16).toString('hex');
    written.get(req)?.push(join(dir!, name));
    cb(null, name);
  };
  const storage = dir === undefined ? multer.memoryStorage() : multer.diskStorage({ destination: dir, filename });
  const streamHandler = (req: IncomingRequest, busboy: Busboy) => watchLimits(req, busboy, (error) => reports.get(req)?.(error));
  const upload = multer({ storage, limits: limitsOf(limits), streamHandler } as multer.Options).any();
  return async (ctx, next, mapError) => {
    const req = ctx.req;
    written.set(req, []);
    let parsed = false;
    const overLimit = new Promise<never>((_resolve, reject) => reports.set(req, reject));
    void overLimit.catch(() => undefined);
    const parsing = upload(ctx as never, async () => {
      parsed = true;
    }).catch(async (err: unknown) => {
      await Promise.all(written.get(req)!.map((path) => rm(path, { force: true })));
      throw err;
    });
    try {
      await Promise.race([parsing, overLimit]);
    } catch (err) {
      // When a limit was answered first, multer's own report of it (after the drain) has no one to tell.
      void parsing.catch(() => undefined);
      // Node detaches a request from its socket once it is answered: when the client then hangs up,
      // the request would never end nor close, and multer would wait for it (holding its files) for ever.
      const hungUp = () => req.destroy();
      req.socket.once('close', hungUp);
      void parsing.catch(() => undefined).finally(() => req.socket.off('close', hungUp));
      throw mapError(err);
    } finally {
      reports.delete(req);
    }
    if (parsed) await next();
  };
}

const PREDICT_KEYS = { fileBytes: 'limits.maxFileBytes', files: 'limits.maxFiles', fields: 'limits.maxFields' };

/**
 * `ctx.is('multipart')`, answered without parsing the content type when it cannot be multipart:
 * type-is parses it on every call, and a JSON call asked twice (#14).
 */
export function isMultipart(ctx: Context): boolean {
  const type = ctx.req.headers['content-type'];
  if (type === undefined || !/multipart/i.test(type)) return false;
  return Boolean(ctx.is('multipart'));
}

/** Parses multipart/form-data into memory (prediction uploads); other content types pass through. */
export function multipartInMemory(limits: MultipartLimits): Middleware {
  const parse = multipartParser(limits);
  return async (ctx, next) => {
    if (!isMultipart(ctx)) return next();
    await parse(ctx, next, (err) => limitError(err, limits, PREDICT_KEYS));
  };
}

/** Parses multipart/form-data streaming files to `dir` (model publishes, which may be large). */
export function multipartToDisk(dir: string, limits: MultipartLimits): Middleware {
  const parse = multipartParser(limits, dir);
  const keys = { fileBytes: 'limits.maxModelBytes', files: `${limits.files} files`, fields: `${limits.fields} fields` };
  return async (ctx, next) => {
    if (!ctx.is('multipart')) {
      throw new ServeError('REQUEST_INVALID', 'this endpoint takes multipart/form-data (a "file" part and a "name" field)');
    }
    await parse(ctx, next, (err) => limitError(err, limits, keys));
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
