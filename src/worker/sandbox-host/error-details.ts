/**
 * The `details` of a failed host call (model.run, image(), the flow's model step) on their way
 * through the sandbox and back: `{ input, expected, got }`, `{ field }`, as the same error has
 * without a script. They cross as JSON text. Into the sandbox it is the host's own text; the prelude
 * keeps it where the script cannot change it (sandbox/prelude/errors.ts). Out of the sandbox it is
 * read as untrusted data: text only, bounded, parsed here, an object or nothing.
 */
import { ERRORS, type ServeError } from '../../errors.js';
import { isPlainJson } from './plain-json.js';
import { jsonBytesOver } from './result-size.js';

/**
 * The details of one error, as JSON text, are at most this many bytes each way; larger ones are
 * dropped (the code and the message still travel). Input errors' details are a few dozen bytes.
 */
export const MAX_DETAILS_JSON_BYTES = 4096;

/**
 * `err.details` as JSON text for the sandbox, or undefined. Only exposed codes give theirs: an
 * unexposed error's details belong in the log, and a script could return them to its caller.
 */
export function detailsForSandbox(err: ServeError): string | undefined {
  const details = err.details;
  if (details === undefined || !ERRORS[err.code].expose || !isPlainJson(details)) return undefined;
  const text = JSON.stringify(details);
  return jsonBytesOver(text, MAX_DETAILS_JSON_BYTES) === null ? text : undefined;
}

/** Details read back from a prelude envelope: a JSON object within the bound, else null. Never throws. */
export function detailsFromSandbox(raw: unknown): Record<string, unknown> | null {
  if (typeof raw !== 'string' || jsonBytesOver(raw, MAX_DETAILS_JSON_BYTES) !== null) return null;
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return null;
  }
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
}
