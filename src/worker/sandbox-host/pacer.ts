/**
 * Whether a sandbox is entered synchronously or asynchronously, decided per call from how long its
 * calls have run.
 *
 * A synchronous entry (applySync) costs about 3 µs, but the script runs on the worker's own thread:
 * while it runs, nothing else in that worker moves (other deployments' model runs and scripts,
 * answers to the front). An asynchronous entry (apply) runs the script on the isolate's own thread,
 * so the operating system schedules the worker's other work beside it, but each entry costs about
 * 80 µs at one call at a time (a thread hand-off each way; about 9 µs each with 8 in flight),
 * which is a quarter of an iris request. Measured in docs/benchmarks.md ("Synchronous or
 * asynchronous isolate entries").
 *
 * So: a sandbox starts asynchronous and earns the synchronous path by answering PROBATION_CALLS
 * calls in a row within SLICE_MS of script time each. A synchronous call that runs longer sends it
 * back to asynchronous calls with a probation twice as long; a call that runs into its time limit
 * keeps it asynchronous for good. The worst a script can do to its neighbours is therefore one
 * stall of up to its time limit, after it has answered every call of its probation quickly, and
 * never a second one. One pacer serves every isolate a replica builds, so a rebuild after a limit
 * does not reset it.
 */

/** Longest script time (ms, model runs not counted) a synchronous call may take without demotion. */
export const SLICE_MS = 2;
/** Quick calls in a row a sandbox answers asynchronously before it is entered synchronously. */
export const PROBATION_CALLS = 16;
/** Cap of the doubling probation after slow synchronous calls. */
const MAX_PROBATION_CALLS = 1 << 16;

export type EntryMode = 'sync' | 'async';

export interface PacerOptions {
  /**
   * 'adaptive' (the default) as described above; 'sync' and 'async' pin the mode (tests that need one
   * path, and the scratch worker's one-off script tests, which never earn the fast path anyway).
   */
  readonly mode?: 'adaptive' | EntryMode;
}

export class CallPacer {
  private readonly pinned: EntryMode | undefined;
  private current: EntryMode;
  /** Quick asynchronous calls still needed before the synchronous path. */
  private left = PROBATION_CALLS;
  private probation = PROBATION_CALLS;
  /** Set when a call ran into its time limit: asynchronous for good. */
  private sticky = false;
  private demotionCount = 0;

  constructor(options: PacerOptions = {}) {
    const mode = options.mode ?? 'adaptive';
    this.pinned = mode === 'adaptive' ? undefined : mode;
    this.current = this.pinned ?? 'async';
  }

  /** How the next call enters. */
  get mode(): EntryMode {
    return this.current;
  }

  /** Whether calls need timing: a pinned pacer never changes its mode. */
  get adaptive(): boolean {
    return this.pinned === undefined;
  }

  /** Times a sandbox was sent back from synchronous to asynchronous calls. */
  get demotions(): number {
    return this.demotionCount;
  }

  /**
   * After a call: `scriptMs` is how long the script held its thread (host work such as model runs
   * not counted: for a synchronous entry its time on the call's clock, for an asynchronous one the
   * isolate's CPU time, since waiting for the isolate's thread to be scheduled is no script's doing),
   * `limitHit` whether it ran into its time limit.
   */
  record(mode: EntryMode, scriptMs: number, limitHit: boolean): void {
    if (this.pinned !== undefined) return;
    if (limitHit) this.sticky = true;
    if (this.sticky) {
      if (this.current === 'sync') this.demotionCount++;
      this.current = 'async';
      return;
    }
    const quick = scriptMs <= SLICE_MS;
    if (mode === 'sync') {
      if (quick) return;
      this.demotionCount++;
      this.current = 'async';
      this.probation = Math.min(MAX_PROBATION_CALLS, this.probation * 2);
      this.left = this.probation;
      return;
    }
    if (!quick) {
      this.left = this.probation;
      return;
    }
    if (--this.left <= 0) this.current = 'sync';
  }
}
