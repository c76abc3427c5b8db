import { ServeError } from '../errors.js';

/** Letters, digits, '.', '_' and '-', starting with a letter or digit: safe as a path segment and in URLs. */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function checkName(field: string, value: unknown): string {
  if (typeof value !== 'string' || !NAME_PATTERN.test(value) || value.includes('..')) {
    throw new ServeError(
      'REQUEST_INVALID',
      `${field} must be 1-128 characters of letters, digits, '.', '_' or '-', starting with a letter or digit (got ${shown(value)})`,
      { field },
    );
  }
  return value;
}

/** The refused value in the message; a long one is cut, with its length (which may be the reason). */
function shown(value: unknown): string {
  if (typeof value !== 'string' || value.length <= 64) return JSON.stringify(value) ?? String(value);
  return `${JSON.stringify(`${value.slice(0, 32)}…`)}, ${value.length} characters`;
}
