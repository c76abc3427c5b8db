import type { CallResult, LogBudget, SandboxLimits } from './types.js';

/** What the prelude hands back for one call: lines kept in the isolate, and whether it dropped some. */
export interface IsolateLogs {
  readonly out: readonly string[];
  readonly err: readonly string[];
  /** 0: nothing dropped; 1: first dropped on stdout; 2: first dropped on stderr. */
  readonly dropped: number;
}

export const NO_LOGS: IsolateLogs = { out: [], err: [], dropped: 0 };

export function truncationMarker(limits: Pick<SandboxLimits, 'maxLogLines' | 'maxLogBytes'>): string {
  return `[inferbox] output truncated: ${limits.maxLogLines} lines / ${limits.maxLogBytes} bytes per request`;
}

/** Reads the prelude's logs defensively: user code shares the isolate, so trust no shape. */
export function readLogs(raw: unknown): IsolateLogs {
  if (typeof raw !== 'object' || raw === null) return NO_LOGS;
  const { out, err, dropped } = raw as Record<string, unknown>;
  return { out: stringsOf(out), err: stringsOf(err), dropped: dropped === 1 || dropped === 2 ? dropped : 0 };
}

function stringsOf(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((line): line is string => typeof line === 'string') : [];
}

/**
 * Moves one call's logs into `into`, charging `budget`. The prelude already enforced the budget
 * inside the isolate; this re-checks it on the host (cheaply) and writes the one marker line when
 * output is first dropped in this request.
 */
export function admitLogs(
  logs: IsolateLogs,
  budget: LogBudget,
  into: { stdout: string[]; stderr: string[] },
  marker: string,
): void {
  if (budget.truncated || logs === NO_LOGS) return;
  let droppedOn = logs.dropped;
  let stopped = false; // the host found the budget spent (the prelude normally finds it first)
  const take = (lines: readonly string[], to: string[], stream: 1 | 2) => {
    for (const line of lines) {
      if (stopped) return;
      const bytes = Buffer.byteLength(line);
      if (budget.lines <= 0 || bytes > budget.bytes) {
        if (droppedOn === 0) droppedOn = stream;
        stopped = true;
        return;
      }
      to.push(line);
      budget.lines -= 1;
      budget.bytes -= bytes;
    }
  };
  take(logs.out, into.stdout, 1);
  take(logs.err, into.stderr, 2);
  if (droppedOn !== 0) {
    budget.truncated = true;
    (droppedOn === 1 ? into.stdout : into.stderr).push(marker);
  }
}

/** The `{ stdout, stderr }` every sandbox error carries in `details`. */
export function emptyOutput(): Pick<CallResult, 'stdout' | 'stderr'> {
  return { stdout: [], stderr: [] };
}
