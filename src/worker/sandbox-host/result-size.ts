import { ServeError } from '../../errors.js';

/**
 * The UTF-8 size of a result's JSON text when it is over `limit`, else null. A text's length is a
 * lower bound of its UTF-8 bytes and three times its length an upper bound, so the usual small
 * result is not scanned at all.
 */
export function jsonBytesOver(text: string, limit: number): number | null {
  if (text.length * 3 <= limit) return null;
  const bytes = Buffer.byteLength(text, 'utf8');
  return bytes > limit ? bytes : null;
}

/**
 * SCRIPT_RESULT_TOO_LARGE for `what` (e.g. "predict()"). `atLeast`: the size is where counting
 * stopped (a result is not serialized further once it is known to be too large).
 */
export function resultTooLarge(what: string, bytes: number, limit: number, atLeast: boolean, details?: Readonly<Record<string, unknown>>): ServeError {
  const size = `${atLeast ? 'at least ' : ''}${bytes} bytes`;
  const message =
    `${what} returned a result of ${size} as JSON, over the limit of ${limit} bytes ` +
    `(max_result_bytes: the deployment's own, or sandbox.maxResultBytes); return less, or raise the deployment's max_result_bytes`;
  return new ServeError('SCRIPT_RESULT_TOO_LARGE', message, { ...details, limit: 'max_result_bytes', maxResultBytes: limit, resultBytes: bytes });
}
