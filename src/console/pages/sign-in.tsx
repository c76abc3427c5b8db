import { useState } from 'preact/hooks';
import { ApiError, ConsoleApi } from '../api.js';
import { ErrorBanner } from '../components/error-banner.js';
import { Field } from '../components/tabs.js';

/** Sign-in with the admin token `npm start` printed (or INFERBOX_ADMIN_TOKEN); checked before it is kept. */
export function SignIn({ onSignedIn }: { onSignedIn: (token: string) => void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await new ConsoleApi(token.trim()).models();
      onSignedIn(token.trim());
    } catch (err) {
      setError(err instanceof ApiError && err.status === 401 ? new ApiError(401, err.code, 'That is not the admin token. Use the one npm start printed on the first start, or INFERBOX_ADMIN_TOKEN.') : err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="sign-in">
      <h1>inferbox</h1>
      <p>Publish a model, test it, add a script and deploy it as a service.</p>
      <form onSubmit={submit}>
        <Field label="Admin token" hint="Kept for this browser tab only; closing the tab signs you out.">
          <input type="password" autocomplete="current-password" required value={token} onInput={(e) => setToken(e.currentTarget.value)} data-testid="admin-token" />
        </Field>
        <button type="submit" disabled={busy || token.trim() === ''}>
          {busy ? 'Checking…' : 'Sign in'}
        </button>
      </form>
      <ErrorBanner error={error} />
    </main>
  );
}
