import { ServeError } from '../../errors.js';
import { CallPacer } from './pacer.js';
import { Sandbox } from './sandbox.js';
import type { CallResult, FlowModel, FlowPlan, LogBudget, SandboxOptions } from './types.js';

/**
 * One deployment replica: a Sandbox running one call at a time (FIFO). When a call ends with the
 * isolate disposed (time or memory limit), the failing call gets its own error and a new Sandbox
 * is built right away (script and init run again) for the calls behind it. A build that fails
 * (init throws, say) fails the call waiting for it, and the next call tries again.
 */
/**
 * Calls wait here while the sandbox runs others: under a flood many do, and the front has answered
 * those whose deadline passed meanwhile, so running them would only delay the calls still awaited.
 */
function beforeDeadline(deadline: number | undefined): void {
  if (deadline !== undefined && Date.now() >= deadline) {
    throw new ServeError('DEADLINE_EXCEEDED', "the request's deadline passed while it waited for its script's sandbox; it was not run", { stdout: [], stderr: [] });
  }
}

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
    /** Holds the replica's one pacer: an isolate rebuilt after a limit keeps its predecessor's history. */
    private readonly options: SandboxOptions & { readonly pacer: CallPacer },
    first: Sandbox,
  ) {
    this.latest = first;
    this.current = Promise.resolve(first);
  }

  /** Builds the first Sandbox; throws its SCRIPT_INVALID as Sandbox.create does. */
  static async create(options: SandboxOptions): Promise<SandboxReplica> {
    const withPacer = { ...options, pacer: options.pacer ?? new CallPacer() };
    return new SandboxReplica(withPacer, await Sandbox.create(withPacer));
  }

  /** How its calls enter the isolate now, and how often a slow call sent it back to asynchronous entries. */
  get pacing(): { mode: 'sync' | 'async'; demotions: number } {
    return { mode: this.options.pacer.mode, demotions: this.options.pacer.demotions };
  }

  /** Functions of the script, as the most recent Sandbox found them. */
  get functions(): ReadonlySet<string> {
    return this.latest.functions;
  }

  /** How many times the Sandbox was built again after its isolate was disposed. */
  get rebuilds(): number {
    return this.rebuildCount;
  }

  /**
   * Queues a call behind the ones already waiting. Errors as Sandbox.call. A call whose `deadline`
   * (Date.now() time) has passed when its turn comes is not run: DEADLINE_EXCEEDED.
   */
  call(fn: string, args: readonly unknown[], budget: LogBudget, deadline?: number): Promise<CallResult> {
    return Promise.resolve(this.use(`${fn}()`, (sandbox) => {
      beforeDeadline(deadline);
      return sandbox.call(fn, args, budget);
    }));
  }

  /** Queues a predict flow like a call; answers without a promise when it completes synchronously. Errors as Sandbox.flow. */
  flow(input: unknown, budget: LogBudget, plan: FlowPlan, model: FlowModel, deadline?: number): CallResult | Promise<CallResult> {
    return this.use('the predict flow', (sandbox) => {
      beforeDeadline(deadline);
      return sandbox.flow(input, budget, plan, model);
    });
  }

  private use(what: string, job: (sandbox: Sandbox) => CallResult | Promise<CallResult>): CallResult | Promise<CallResult> {
    // Nothing queued and the Sandbox ready: run now rather than a few promise hops later; a
    // synchronous script then completes inside this call. Calls that arrive meanwhile queue on tail.
    const idle = this.queued === 0 && this.building === 0 && !this.latest.disposed && !this.closed;
    const run = idle ? this.runOn(this.latest, job) : this.tail.then(() => this.runWhenReady(what, job));
    if (!(run instanceof Promise)) return run;
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

  private async runWhenReady(what: string, job: (sandbox: Sandbox) => CallResult | Promise<CallResult>): Promise<CallResult> {
    if (this.closed) throw new ServeError('INTERNAL', `the sandbox replica is disposed; ${what} was not called`, { stdout: [], stderr: [] });
    return this.runOn(await this.ready(), job);
  }

  /** Runs the job; a Sandbox it leaves disposed (time or memory limit) is rebuilt for the next call. */
  private runOn(sandbox: Sandbox, job: (sandbox: Sandbox) => CallResult | Promise<CallResult>): CallResult | Promise<CallResult> {
    const after = () => {
      if (sandbox.disposed && !this.closed) this.rebuild().catch(() => undefined);
    };
    let out: CallResult | Promise<CallResult>;
    try {
      out = job(sandbox);
    } catch (err) {
      after();
      throw err;
    }
    if (!(out instanceof Promise)) {
      after();
      return out;
    }
    return out.finally(after);
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
