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

function limitsOf(l: MultipartLimits) {
  return { fileSize: l.fileBytes, files: l.files, fields: l.fields, fieldSize: 16 * 2 ** 20, parts: l.files + l.fields };
}

/** Parses multipart/form-data into memory (prediction uploads); other content types pass through. */
export function multipartInMemory(limits: MultipartLimits): Middleware {
  const upload = multer({ storage: multer.memoryStorage(), limits: limitsOf(limits) }).any();
  return async (ctx, next) => {
    if (!ctx.is('multipart')) return next();
    return upload(ctx as never, next);
  };
}

/** Parses multipart/form-data streaming files to `dir` (model publishes, which may be large). */
export function multipartToDisk(dir: string, limits: MultipartLimits): Middleware {
  const upload = multer({ dest: dir, limits: limitsOf(limits) }).any();
  return async (ctx, next) => {
    if (!ctx.is('multipart')) {
      throw new ServeError('REQUEST_INVALID', 'this endpoint takes multipart/form-data (a "file" part and a "name" field)');
    }
    return upload(ctx as never, next);
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
