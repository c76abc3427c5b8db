import type { Context } from 'koa';
import { ArgsSchema, parseBody, PredictBodySchema } from '../api/schemas.js';
import { ServeError } from '../errors.js';
import type { InvokeArgs, UploadedFile } from '../protocol/messages.js';
import { parseJsonText } from './body.js';
import { bodyOf } from './context.js';
import { fieldsOf, isMultipart, partsOf } from './multipart.js';

/** Multipart text fields that are control fields, not script arguments. */
const CONTROL_FIELDS = new Set(['model_name', 'model_version', 'function', 'script']);

/**
 * The DaaS `args` of a call: `{ "args": {...} }` from a JSON body, or from a multipart form where
 * files become `args.files[field]` and an `X` field may hold JSON records.
 */
export function argsFromRequest(ctx: Context): InvokeArgs {
  if (!isMultipart(ctx)) return parseBody(PredictBodySchema, bodyOf(ctx), 'body').args as InvokeArgs;
  const fields = fieldsOf(ctx);
  const args: InvokeArgs = {};
  for (const [key, value] of Object.entries(fields)) {
    if (CONTROL_FIELDS.has(key)) continue;
    if (key === 'X' || key === 'args') {
      try {
        const parsed = parseJsonText(String(value), `multipart field ${key}`, { field: key });
        if (key === 'X') args.X = parsed;
        else Object.assign(args, parseBody(ArgsSchema, parsed, 'args'));
      } catch (err) {
        if (err instanceof ServeError) throw err;
        throw new ServeError('REQUEST_INVALID', `multipart field ${key} must be JSON`, { field: key });
      }
    } else {
      args[key] = value;
    }
  }
  const files: Record<string, UploadedFile> = {};
  for (const part of partsOf(ctx)) {
    if (files[part.fieldname]) throw new ServeError('REQUEST_INVALID', `multipart field '${part.fieldname}' holds more than one file`, { field: part.fieldname });
    files[part.fieldname] = { name: part.originalname, type: part.mimetype, size: part.size, bytes: part.buffer ?? new Uint8Array() };
  }
  if (Object.keys(files).length > 0) args.files = files;
  return args;
}
