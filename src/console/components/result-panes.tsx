import type { PredictResponse } from '../../api/types.js';
import { ApiError } from '../api.js';
import { ErrorBanner } from './error-banner.js';

/** What a test call gives back, or how it failed. */
export type CallOutcome = ({ readonly ok: true; readonly body: PredictResponse; readonly ms: number } | { readonly ok: false; readonly error: unknown; readonly ms: number | null }) & {
  /** Counts the calls of this page, so a reader (or a test) can tell a new answer from the last one. */
  readonly seq: number;
};

let calls = 0;

const lines = (value: unknown): string[] => (Array.isArray(value) ? value.map(String) : []);

/**
 * The result beside stdout and stderr, as the seed's "test as API" shows them, with the time the
 * call took in the browser. A failed call shows its code and message, and what the script printed
 * before it failed (the server sends that in the error's details).
 */
export function ResultPanes({ outcome }: { outcome: CallOutcome | null }) {
  if (outcome === null) return null;
  const details = !outcome.ok && outcome.error instanceof ApiError ? outcome.error.details : undefined;
  const stdout = outcome.ok ? lines(outcome.body.stdout) : lines(details?.stdout);
  const stderr = outcome.ok ? lines(outcome.body.stderr) : lines(details?.stderr);
  return (
    <section class="outcome" aria-live="polite" data-seq={outcome.seq}>
      <div class="outcome-head">
        <h3>{outcome.ok ? 'Result' : 'Failed'}</h3>
        {outcome.ms !== null ? <span class="timing" data-testid="elapsed">{outcome.ms.toFixed(0)} ms</span> : null}
      </div>
      {outcome.ok ? <pre class="result" data-testid="result">{JSON.stringify(outcome.body.result, null, 2)}</pre> : <ErrorBanner error={outcome.error} />}
      <div class="panes">
        <div class="pane">
          <h4>stdout</h4>
          <pre data-testid="stdout">{stdout.join('\n')}</pre>
        </div>
        <div class="pane">
          <h4>stderr</h4>
          <pre data-testid="stderr" class="stderr">{stderr.join('\n')}</pre>
        </div>
      </div>
    </section>
  );
}

/** Runs a call and turns its answer or failure into an outcome. */
export async function outcomeOf(call: () => Promise<{ body: PredictResponse; ms: number }>): Promise<CallOutcome> {
  const started = performance.now();
  try {
    const { body, ms } = await call();
    return { ok: true, body, ms, seq: ++calls };
  } catch (error) {
    return { ok: false, error, ms: error instanceof ApiError && error.status > 0 ? performance.now() - started : null, seq: ++calls };
  }
}
