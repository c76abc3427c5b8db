import { ServeError } from '../../errors.js';
import { Sandbox } from './sandbox.js';
import type { CallResult, LogBudget, SandboxOptions } from './types.js';

/**
 * One deployment replica: a Sandbox running one call at a time (FIFO). When a call ends with the
 * isolate disposed (time or memory limit), the failing call gets its own error and a new Sandbox
 * is built right away (script and init run again) for the calls behind it. A build that fails
 * (init throws, say) fails the call waiting for it, and the next call tries again.
 */
export class SandboxReplica {
  private tail: Promise<unknown> = Promise.resolve();
  /** Calls queued or running. */
  private queued = 0;
  /** Builds in flight; while none is, `latest` is what `current` holds (or a disposed one). */
  private building = 0;
  private current: Promise<Sandbox>;
  private latest: Sandbox;
  private closed = false;
  private rebuildCount = 0;

  private constructor(
    private readonly options: SandboxOptions,
    first: Sandbox,
  ) {
    this.latest = first;
    this.current = Promise.resolve(first);
  }

  /** Builds the first Sandbox; throws its SCRIPT_INVALID as Sandbox.create does. */
  static async create(options: SandboxOptions): Promise<SandboxReplica> {
    return new SandboxReplica(options, await Sandbox.create(options));
  }

  /** Functions of the script, as the most recent Sandbox found them. */
  get functions(): ReadonlySet<string> {
    return this.latest.functions;
  }

  /** How many times the Sandbox was built again after its isolate was disposed. */
  get rebuilds(): number {
    return this.rebuildCount;
  }

  /** Queues a call behind the ones already waiting. Errors as Sandbox.call. */
  call(fn: string, args: readonly unknown[], budget: LogBudget): Promise<CallResult> {
    // Nothing queued and the Sandbox ready: call it now rather than a few promise hops later (the
    // synchronous path then completes inside this call). Calls that arrive meanwhile queue on tail.
    const idle = this.queued === 0 && this.building === 0 && !this.latest.disposed && !this.closed;
    const run = idle ? this.runOn(this.latest, fn, args, budget) : this.tail.then(() => this.run(fn, args, budget));
    this.queued++;
    this.tail = run.then(this.dequeue, this.dequeue);
    return run;
  }

  private readonly dequeue = (): void => {
    this.queued--;
  };

  /** Disposes the Sandbox; calls still queued fail with INTERNAL. */
  dispose(): void {
    if (this.closed) return;
    this.closed = true;
    void this.current.then(
      (sandbox) => sandbox.dispose(),
      () => undefined,
    );
  }

  private async run(fn: string, args: readonly unknown[], budget: LogBudget): Promise<CallResult> {
    if (this.closed) throw new ServeError('INTERNAL', `the sandbox replica is disposed; ${fn}() was not called`, { stdout: [], stderr: [] });
    return this.runOn(await this.ready(), fn, args, budget);
  }

  private async runOn(sandbox: Sandbox, fn: string, args: readonly unknown[], budget: LogBudget): Promise<CallResult> {
    try {
      return await sandbox.call(fn, args, budget);
    } finally {
      if (sandbox.disposed && !this.closed) this.rebuild().catch(() => undefined);
    }
  }

  /** The live Sandbox, waiting for a build in progress; a disposed or failed one is built again. */
  private async ready(): Promise<Sandbox> {
    try {
      const sandbox = await this.current;
      if (!sandbox.disposed) return sandbox;
    } catch {
      // the last build failed: try again for this call
    }
    return this.rebuild();
  }

  private rebuild(): Promise<Sandbox> {
    this.building++;
    this.current = this.build();
    const done = () => void this.building--;
    this.current.then(done, done);
    return this.current;
  }

  private async build(): Promise<Sandbox> {
    const sandbox = await Sandbox.create(this.options);
    if (this.closed) {
      sandbox.dispose();
    } else {
      this.rebuildCount += 1;
      this.latest = sandbox;
      this.options.log.info({ rebuilds: this.rebuildCount }, 'sandbox rebuilt');
    }
    return sandbox;
  }
}
