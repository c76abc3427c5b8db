/**
 * The time budget of one call, for the parts isolated-vm's own `timeout` cannot see: a returned
 * promise that never settles, continuations run by host-resolved promises. Time while the script
 * awaits the host (`model.run`) is held off the clock.
 */
export class Deadline {
  private spentMs = 0;
  private since: number | undefined = performance.now();
  private holds = 0;
  private timer: NodeJS.Timeout | undefined;
  private onExpire: (() => void) | undefined;

  constructor(readonly limitMs: number) {}

  /** Time left, ms, not counting holds. */
  remainingMs(): number {
    const running = this.since === undefined ? 0 : performance.now() - this.since;
    return Math.max(0, this.limitMs - this.spentMs - running);
  }

  /** Calls `onExpire` once when the time runs out. */
  arm(onExpire: () => void): void {
    this.onExpire = onExpire;
    this.schedule();
  }

  /** Stops the clock while the script waits on the host; pairs with release(). */
  hold(): void {
    if (this.holds++ > 0 || this.since === undefined) return;
    this.spentMs += performance.now() - this.since;
    this.since = undefined;
    this.clearTimer();
  }

  release(): void {
    if (this.holds === 0 || --this.holds > 0) return;
    this.since = performance.now();
    this.schedule();
  }

  stop(): void {
    this.onExpire = undefined;
    this.clearTimer();
  }

  private schedule(): void {
    this.clearTimer();
    if (this.onExpire === undefined || this.since === undefined) return;
    this.timer = setTimeout(() => {
      const expire = this.onExpire;
      this.stop();
      expire?.();
    }, Math.ceil(this.remainingMs()));
  }

  private clearTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
