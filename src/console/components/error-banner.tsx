import { ApiError } from '../api.js';

/** Any failure, told in words: the server's code and message, never a blank screen. */
export function ErrorBanner({ error }: { error: unknown }) {
  if (error === null || error === undefined) return null;
  const e = error instanceof ApiError ? error : null;
  const message = e ? e.message : error instanceof Error ? error.message : String(error);
  const where = e?.details && typeof e.details.line === 'number' ? ` (line ${e.details.line}${typeof e.details.column === 'number' ? `, column ${e.details.column}` : ''})` : '';
  return (
    <div class="error" role="alert">
      {e && e.code !== 'NETWORK' ? <code class="error-code">{e.code}</code> : null}
      {e && e.status > 0 ? <span class="error-status">{e.status}</span> : null}
      <span class="error-message">
        {message}
        {where}
      </span>
    </div>
  );
}
