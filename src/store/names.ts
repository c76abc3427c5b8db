import { ServeError } from '../errors.js';

/** Letters, digits, '.', '_' and '-', starting with a letter or digit: safe as a path segment and in URLs. */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function checkName(field: string, value: unknown): string {
  if (typeof value !== 'string' || !NAME_PATTERN.test(value) || value.includes('..')) {
    throw new ServeError(
      'REQUEST_INVALID',
      `${field} must be 1-128 characters of letters, digits, '.', '_' or '-', starting with a letter or digit (got ${JSON.stringify(value)})`,
      { field },
    );
  }
  return value;
}
