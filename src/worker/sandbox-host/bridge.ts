/**
 * The host side of `model.run`. The script calls an *ignored* ivm.Callback (copied arguments, no
 * value back: a Callback cannot return a promise); the host runs HostBridge.runModel and resolves
 * the script's promise by id through a Reference into the prelude that only the host holds.
 */
import ivm from 'isolated-vm';
import { ServeError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { Deadline } from './deadline.js';
import type { HostBridge } from './types.js';

type ResolveRun = (id: number, ok: boolean, payload: unknown) => void;

/** What a failed model.run hands the script: the server's code and message. */
interface BridgeFailure {
  readonly code: string;
  readonly message: string;
}

export class ModelBridge {
  /** Handed to the prelude once; it keeps it in a closure and deletes nothing reachable. */
  readonly callback: ivm.Callback<(id: unknown, feeds: unknown) => void>;
  private resolveRef: ivm.Reference<ResolveRun> | undefined;
  private current: Deadline | undefined;

  constructor(
    private readonly host: HostBridge,
    /** Bounds continuations that run outside a call (late answers): they still get a time limit. */
    private readonly timeoutMs: number,
    private readonly log: Logger,
  ) {
    this.callback = new ivm.Callback((id: unknown, feeds: unknown) => this.start(id, feeds), { ignored: true });
  }

  attach(resolveRef: ivm.Reference<ResolveRun>): void {
    this.resolveRef = resolveRef;
  }

  /** model.run is allowed from now on, against this call's deadline. */
  begin(deadline: Deadline): void {
    this.current = deadline;
  }

  end(): void {
    this.current = undefined;
  }

  private start(id: unknown, feeds: unknown): void {
    if (typeof id !== 'number') return;
    const deadline = this.current;
    if (deadline === undefined) {
      const message = 'model.run() can only be used while a script function is running';
      this.resolve(id, false, { code: 'SCRIPT_FAILED', message }, undefined);
      return;
    }
    deadline.hold();
    Promise.resolve()
      .then(() => this.host.runModel(feeds as Record<string, unknown>))
      .then(
        (outputs) => this.settle(id, true, outputs, deadline),
        (err: unknown) => this.settle(id, false, this.toFailure(err), deadline),
      );
  }

  private settle(id: number, ok: boolean, payload: unknown, deadline: Deadline): void {
    deadline.release();
    // A late answer for a call that already ended still resolves its promise; nobody waits on it.
    this.resolve(id, ok, payload, deadline === this.current ? deadline : undefined);
  }

  private resolve(id: number, ok: boolean, payload: unknown, deadline: Deadline | undefined): void {
    const ref = this.resolveRef;
    if (ref === undefined) return;
    const timeout = deadline === undefined ? this.timeoutMs : Math.max(1, Math.ceil(deadline.remainingMs()));
    let applied: Promise<unknown>;
    try {
      applied = ref.apply(undefined, [id, ok, payload], { arguments: { copy: true }, timeout });
    } catch (err) {
      // The outputs could not be copied in: answer with an error so the script's promise settles.
      this.log.error({ err }, 'model.run outputs cannot be copied into the sandbox');
      if (ok) this.resolve(id, false, { code: 'INTERNAL', message: 'model.run() failed' }, deadline);
      return;
    }
    applied.catch((err: unknown) => this.log.debug({ err }, 'model.run result not delivered (sandbox gone or timed out)'));
  }

  private toFailure(err: unknown): BridgeFailure {
    if (err instanceof ServeError) return { code: err.code, message: err.message };
    this.log.error({ err }, 'model.run failed in the host');
    return { code: 'INTERNAL', message: 'model.run() failed' };
  }
}
