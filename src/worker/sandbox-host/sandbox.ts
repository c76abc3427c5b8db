import type ivm from 'isolated-vm';
import { ServeError, toServeError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { flowSteps } from '../../model/index.js';
import { ScriptBridge } from './bridge.js';
import { asInitFailure, classifyEnvelope, classifyIsolateFailure, isAllocationFailure, messageOf, type CallOutput, type Ending } from './classify.js';
import { Deadline } from './deadline.js';
import { detailsFromSandbox } from './error-details.js';
import { withOwnFileBytes } from './files.js';
import { createScriptIsolate, DRAIN_GRACE_MS, drainLogs, type PreludeRefs } from './isolate.js';
import { admitLogs, NO_LOGS, readLogs, truncationMarker, type IsolateLogs } from './logs.js';
import { CallPacer, type EntryMode } from './pacer.js';
import { isPlainJson } from './plain-json.js';
import { jsonBytesOver, resultTooLarge } from './result-size.js';
import {
  createLogBudget,
  type CallResult,
  type FlowModel,
  type FlowPlan,
  type LogBudget,
  type SandboxHeap,
  type SandboxLimits,
  type SandboxOptions,
} from './types.js';

/** One prelude envelope, read defensively (see PreludeEnvelope in sandbox/prelude/api.ts). */
type Envelope =
  /** `text`: the value as JSON text, to parse in finish() when `parse` (after its size is checked). */
  | { kind: 'ok'; value: unknown; logs: IsolateLogs; json: boolean; text?: string; parse?: boolean }
  /** `call`: the number the prelude will tell this call's end with (see settle). */
  | { kind: 'pending'; call: number }
  | { kind: 'missing'; logs: IsolateLogs }
  | { kind: 'rejected'; message: string; logs: IsolateLogs }
  /** `details`: a host call's details the prelude kept for its error (see error-details.ts), read as untrusted. */
  | { kind: 'threw'; name: string; message: string; report: string; code: string | null; details: Record<string, unknown> | null; logs: IsolateLogs }
  /** Not an envelope the prelude makes: the call's answer cannot be trusted (see readEnvelope). */
  | { kind: 'unreadable'; logs: IsolateLogs };

const MAX_REPORT_CHARS = 16_384;

const unreadable = (what: string, output: CallOutput) =>
  new ServeError('SCRIPT_FAILED', `${what} answered a result the sandbox could not read (did the script patch built-ins such as Object.prototype.then?)`, output);

/**
 * A flow call's watchdog runs this much past the time limit: a model run inside the call is held off
 * the script's clock, which isolated-vm's watchdog cannot see (the limit itself is checked on return).
 * The model runs there only when expected to take at most FLOW_SYNC_MODEL_SHARE of the limit.
 */
const FLOW_WATCHDOG_EXTRA_SHARE = 0.5;
export const FLOW_SYNC_MODEL_SHARE = 0.05;

/**
 * How far past isolated-vm's own timeout the host waits for an asynchronous entry before it
 * disposes the isolate: isolated-vm's timeout does not cover the end of an entry, where it reads
 * the `message` and `stack` of a promise rejection nobody handled, and a getter there can loop for
 * ever (found while building #14: on a synchronous entry it hangs the worker thread for good).
 * Generous (the limit again, at least 1 s): isolated-vm's own timeout stops every script before it,
 * and a builtin that cannot be interrupted (a huge `fill`) must be left to end in its memory limit
 * rather than be abandoned as stuck on a loaded machine.
 */
const ENTRY_WATCHDOG_GRACE_SHARE = 1;
const ENTRY_WATCHDOG_GRACE_MIN_MS = 1000;

/**
 * Disposing an isolate terminates what its thread runs, once. isolated-vm's end-of-entry reading of
 * an unhandled rejection catches that termination and goes on to read the next property (a Proxy
 * whose get trap loops gets a second go at `stack`), so its thread can spin on after the dispose,
 * for good. An entry still unanswered this long after the dispose means that happened: the call
 * is answered SCRIPT_TIMEOUT without it, and `onStuck` tells the worker to be replaced.
 */
export const STUCK_AFTER_MS = 1000;

/** What failures of a flow name: its functions in order, e.g. "prepare() → postprocess()". */
export function flowLabel(plan: FlowPlan): string {
  const steps = flowSteps(plan);
  return steps.length === 0 ? 'the predict flow' : steps.map((f) => `${f}()`).join(' → ');
}

/**
 * What the isolate answered, read as untrusted data: never throws. `keepText`: a JSON text answer is
 * kept as it is, unparsed (a flow's result, passed on to the front, which writes it into its answer
 * raw). Only the synchronous entry passes `keepText`: there the text is the prelude's own
 * JSON.stringify (captured before the script ran) of a copy it built from own data properties with
 * null prototypes, so no script code runs while it is made and it is valid JSON. The asynchronous
 * end (settle) is made in a promise handler, after script code ran in the call (it once could reach
 * the value through Object.prototype.then), so its text is always parsed (in finish(), once its size
 * passed the result limit), and a text that does not parse fails that one call.
 */
function readEnvelope(raw: unknown, keepText = false): Envelope {
  // The prelude's common case: ok, nothing printed, the value as JSON text.
  if (typeof raw === 'string') return { kind: 'ok', value: undefined, text: raw, parse: !keepText, logs: NO_LOGS, json: true };
  if (typeof raw !== 'object' || raw === null) return { kind: 'unreadable', logs: NO_LOGS };
  const e = raw as Record<string, unknown>;
  const text = (v: unknown, fallback = '') => (typeof v === 'string' ? v : fallback);
  switch (e['kind']) {
    case 'ok':
      return { kind: 'ok', value: e['value'], logs: readLogs(e['logs']), json: false };
    case 'pending':
      return { kind: 'pending', call: typeof e['call'] === 'number' ? e['call'] : -1 };
    case 'missing':
      return { kind: 'missing', logs: readLogs(e['logs']) };
    case 'rejected':
      return { kind: 'rejected', message: text(e['message']), logs: readLogs(e['logs']) };
    case 'threw':
    default: {
      const code = typeof e['code'] === 'string' ? e['code'] : null;
      const message = text(e['message'], 'the script failed');
      const report = text(e['report']).slice(0, MAX_REPORT_CHARS);
      const details = code === null ? null : detailsFromSandbox(e['details']);
      return { kind: 'threw', name: text(e['name'], 'Error'), message, report, code, details, logs: readLogs(e['logs']) };
    }
  }
}

/**
 * One isolate with one context running one user script. A call enters the isolate synchronously
 * (applySync: the script runs on this thread) or asynchronously (apply: on the isolate's own
 * thread, so a busy script does not hold the worker's other work), as its CallPacer decides from
 * how long the script's calls run; both under isolated-vm's timeout. A function that returns a
 * thenable then continues on the asynchronous settle path (a host-side Deadline disposes the
 * isolate if it never settles). Not re-entrant: SandboxReplica queues calls.
 */
export class Sandbox {
  private ending: Ending = 'none';
  private busy = false;
  private readonly marker: string;
  private readonly limits: SandboxLimits;
  private readonly isolate: ivm.Isolate;
  private readonly refs: PreludeRefs;
  private readonly log: Logger;
  private readonly pacer: CallPacer;
  private readonly onStuck: ((what: string) => void) | undefined;
  /** Entries into the isolate not yet answered (calls, host answers), and the stuck check. */
  private entries = 0;
  private stuckTimer: NodeJS.Timeout | undefined;
  /** The call whose end settle() waits for; an end the prelude told before settle() began waits here. */
  private waiter: { readonly call: number; resolve(raw: unknown): void; fail(err: unknown): void } | undefined;
  private early: { readonly call: unknown; readonly raw: unknown } | undefined;
  /** The same for every call: made once, not per call on the hot path. */
  private readonly dispatchOptions: { arguments: { copy: true }; result: { copy: true }; timeout: number };
  private readonly flowOptions: { arguments: { copy: true }; result: { copy: true }; timeout: number };

  private constructor(
    options: SandboxOptions,
    parts: { isolate: ivm.Isolate; refs: PreludeRefs; functions: ReadonlySet<string> },
    private readonly bridge: ScriptBridge,
  ) {
    this.limits = options.limits;
    this.isolate = parts.isolate;
    this.refs = parts.refs;
    this.functions = parts.functions;
    this.log = options.log;
    this.pacer = options.pacer ?? new CallPacer();
    this.onStuck = options.onStuck;
    this.bridge.trackEntry = (entry) => void this.track(entry);
    this.bridge.onEnd = (call, raw) => this.ended(call, raw);
    this.marker = truncationMarker(options.limits);
    this.dispatchOptions = { arguments: { copy: true }, result: { copy: true }, timeout: options.limits.timeoutMs };
    const flowTimeout = Math.ceil(options.limits.timeoutMs * (1 + FLOW_WATCHDOG_EXTRA_SHARE));
    this.flowOptions = { arguments: { copy: true }, result: { copy: true }, timeout: flowTimeout };
  }

  /** Names of the top-level functions the script defines (declarations, and const/let/var bound to functions). */
  readonly functions: ReadonlySet<string>;

  get disposed(): boolean {
    return this.isolate.isDisposed;
  }

  /**
   * Creates the isolate and its one context, runs the prelude then the script, then `init(ctx)` if
   * defined. Throws ServeError SCRIPT_INVALID (syntax error with line and column; top level or init
   * failed, with its message), details `{ stdout, stderr }`.
   */
  static async create(options: SandboxOptions): Promise<Sandbox> {
    const started = performance.now();
    const bridge = new ScriptBridge(options.bridge, options.limits, options.log);
    const parts = await createScriptIsolate(options, bridge);
    const sandbox = new Sandbox(options, parts, bridge);
    const output = parts.loadOutput;
    if (parts.functions.has('init')) {
      const { name, version, inputs, outputs } = options.model;
      try {
        const result = await sandbox.call('init', [{ model: { name, version, inputs, outputs } }], createLogBudget(options.limits));
        output.stdout.push(...result.stdout);
        output.stderr.push(...result.stderr);
      } catch (err) {
        sandbox.dispose();
        const failure = asInitFailure(toServeError(err));
        const details = failure.details ?? {};
        const stdout = [...output.stdout, ...((details['stdout'] as string[] | undefined) ?? [])];
        const stderr = [...output.stderr, ...((details['stderr'] as string[] | undefined) ?? [])];
        throw new ServeError('SCRIPT_INVALID', failure.message, { ...details, stdout, stderr }, { cause: failure.cause ?? err });
      }
    }
    const ms = Math.round(performance.now() - started);
    options.log.debug({ ms, functions: [...parts.functions], stdout: output.stdout, stderr: output.stderr }, 'sandbox ready');
    return sandbox;
  }

  /**
   * Calls a top-level function with copied arguments; returns the copied result and what the call
   * printed. Throws ServeError FUNCTION_NOT_FOUND, SCRIPT_REJECTED, SCRIPT_FAILED, SCRIPT_TIMEOUT or
   * SCRIPT_MEMORY_LIMIT (the last two dispose the isolate), or a code model.run or file.image failed with;
   * details always hold `{ stdout, stderr }` of this call so far.
   */
  async call(fn: string, args: readonly unknown[], budget: LogBudget): Promise<CallResult> {
    return this.enter(() => `${fn}()`, budget, undefined, (mode) => {
      const callArgs = isPlainJson(args) ? JSON.stringify(args) : args.length > 0 ? [withOwnFileBytes(args[0]), ...args.slice(1)] : [];
      const entry = [fn, callArgs, budget.lines, budget.bytes, budget.truncated] as const;
      return mode === 'sync' ? this.refs.dispatch.applySync(undefined, [...entry], this.dispatchOptions) : this.refs.dispatch.apply(undefined, [...entry], this.dispatchOptions);
    });
  }

  /**
   * The predict flow in one isolate entry (see sandbox/prelude/flow.ts) for `input`, the args
   * object or its JSON text. `model` serves its model step, synchronously inside the entry when it
   * can. The value is the last step's: postprocess's, one per record, or the model's rows. Answers
   * without a promise when the script's functions are synchronous (each promise turn costs
   * microseconds here). Errors as call(), and SCRIPT_TIMEOUT when the script's own time (the model's
   * not counted) passed the limit.
   */
  flow(input: unknown, budget: LogBudget, plan: FlowPlan, model: FlowModel): CallResult | Promise<CallResult> {
    // Off the script's clock, before the entry: see ScriptBridge.predecode.
    if (plan.files) input = this.bridge.predecode(input);
    return this.enter(() => flowLabel(plan), budget, model, (mode) => {
      const { files, prepare, postprocess } = plan;
      // One JSON text rather than seven copied arguments: at low load the entry runs with cold
      // caches, where isolated-vm's per-argument copies cost more than JSON.parse (see bridge.ts).
      const json = typeof input === 'string' ? input : isPlainJson(input) ? JSON.stringify(input) : undefined;
      const call =
        json === undefined
          ? [withOwnFileBytes(input), budget.lines, budget.bytes, budget.truncated, files, prepare, postprocess]
          : `[${json},${budget.lines},${budget.bytes},${budget.truncated},${files},${prepare === null ? 'null' : `"${prepare}"`},${postprocess}]`;
      return mode === 'sync' ? this.refs.flow.applySync(undefined, [call], this.flowOptions) : this.refs.flow.apply(undefined, [call], this.flowOptions);
    });
  }

  /**
   * One call: the entry (synchronous or asynchronous, as the pacer says), then the asynchronous
   * settle path if the script answered a promise. `label` names the call in errors ("spin()"); it
   * is only built for one. `apply` enters the isolate: its raw answer, or a promise of it for 'async'.
   */
  private enter(label: () => string, budget: LogBudget, model: FlowModel | undefined, apply: (mode: EntryMode) => unknown): CallResult | Promise<CallResult> {
    const output: CallOutput = { stdout: [], stderr: [] };
    if (this.disposed) throw new ServeError('INTERNAL', `the sandbox is disposed; ${label()} was not called`, output);
    if (this.busy) throw new ServeError('INTERNAL', 'Sandbox.call() while another call runs; queue calls with SandboxReplica', output);
    this.busy = true;
    const mode = this.pacer.mode;
    const deadline = new Deadline(this.limits.timeoutMs);
    this.bridge.begin(deadline, model);
    const cpuBefore = this.pacer.adaptive && mode === 'async' ? this.isolate.cpuTime : 0n;
    const done = (err?: unknown) => {
      deadline.stop();
      this.bridge.end();
      this.busy = false;
      this.waiter = undefined;
      this.early = undefined;
      if (!this.pacer.adaptive) return;
      const limitHit = err instanceof ServeError && err.code === 'SCRIPT_TIMEOUT';
      // The clock is held while the host works for the script (model runs); see CallPacer.record.
      const scriptMs = mode === 'sync' || this.isolate.isDisposed ? deadline.limitMs - deadline.remainingMs() : Number(this.isolate.cpuTime - cpuBefore) / 1e6;
      this.pacer.record(mode, scriptMs, limitHit);
    };
    if (mode === 'async') {
      return this.enterAsync(label, budget, model, apply, deadline, output).then(
        (result) => {
          done();
          return result;
        },
        (err: unknown) => {
          done(err);
          throw err;
        },
      );
    }
    let pending = false;
    let call = -1;
    try {
      let raw: unknown;
      this.bridge.entry(true);
      try {
        raw = apply('sync');
      } catch (err) {
        throw this.syncFailure(err, label(), budget, output);
      } finally {
        this.bridge.entry(false);
      }
      const envelope = readEnvelope(raw, model !== undefined);
      if (envelope.kind !== 'pending') {
        // Only a flow's watchdog runs past the limit; its script time is checked here.
        if (model !== undefined && deadline.remainingMs() === 0) throw this.overrun(label(), envelope, budget, output);
        return this.finish(label, envelope, budget, output);
      }
      pending = true;
      call = envelope.call;
    } catch (err) {
      done(err);
      throw err;
    } finally {
      if (!pending && this.busy) done();
    }
    return this.settle(label(), deadline, budget, output, call).then(
      (settled) => {
        done();
        return this.finish(label, settled, budget, output);
      },
      (err: unknown) => {
        done(err);
        throw err;
      },
    );
  }

  /** The asynchronous entry: the script runs on the isolate's thread while this one serves other work. */
  private async enterAsync(
    label: () => string,
    budget: LogBudget,
    model: FlowModel | undefined,
    apply: (mode: EntryMode) => unknown,
    deadline: Deadline,
    output: CallOutput,
  ): Promise<CallResult> {
    let raw: unknown;
    this.bridge.entry(true);
    const entryTimeoutMs = (model === undefined ? this.dispatchOptions : this.flowOptions).timeout;
    let timer: NodeJS.Timeout | undefined;
    // Should the disposed isolate's thread not come back, the call ends without it (STUCK_AFTER_MS).
    const abandoned = new Promise<never>((_, reject) => {
      const watchdog = setTimeout(() => {
        this.ending = 'timeout';
        this.end('timeout'); // the entry's promise rejects: the isolate is gone
        timer = setTimeout(() => reject(new Error('Script execution timed out.')), STUCK_AFTER_MS);
      }, entryTimeoutMs + Math.max(ENTRY_WATCHDOG_GRACE_MIN_MS, this.limits.timeoutMs * ENTRY_WATCHDOG_GRACE_SHARE));
      timer = watchdog;
    });
    abandoned.catch(() => undefined);
    try {
      raw = await Promise.race([this.track(apply('async') as Promise<unknown>), abandoned]);
    } catch (err) {
      throw await this.asyncFailure(err, label(), budget, output);
    } finally {
      clearTimeout(timer);
      this.bridge.entry(false);
    }
    const envelope = readEnvelope(raw, model !== undefined);
    if (envelope.kind !== 'pending') {
      if (model !== undefined && deadline.remainingMs() === 0) throw this.overrun(label(), envelope, budget, output);
      return this.finish(label, envelope, budget, output);
    }
    return this.finish(label, await this.settle(label(), deadline, budget, output, envelope.call), budget, output);
  }

  /** A flow that finished past its limit: SCRIPT_TIMEOUT, keeping what it printed (the isolate is fine). */
  private overrun(what: string, envelope: Envelope, budget: LogBudget, output: CallOutput): ServeError {
    if (envelope.kind !== 'pending') admitLogs(envelope.logs, budget, output, this.marker);
    return classifyIsolateFailure(new Error('Script execution timed out.'), this.failureContext(what, output));
  }

  /** Heap figures of the isolate (for leak checks and metrics). */
  async heapStatistics(): Promise<SandboxHeap> {
    const h = await this.isolate.getHeapStatistics();
    return {
      usedHeapBytes: h.used_heap_size,
      totalHeapBytes: h.total_heap_size,
      externalBytes: h.externally_allocated_size,
      heapLimitBytes: h.heap_size_limit,
    };
  }

  dispose(): void {
    this.end('disposed');
  }

  private end(ending: Exclude<Ending, 'none'>): void {
    if (this.isolate.isDisposed) return;
    this.ending = ending;
    this.isolate.dispose();
    // A call waiting for its end (settle) with no entry running would otherwise wait for its deadline.
    this.waiter?.fail(new Error('Isolate is disposed'));
    if (this.entries > 0) {
      this.stuckTimer = setTimeout(() => {
        this.log.error({ entries: this.entries }, 'a disposed sandbox isolate did not stop; its thread stays busy');
        this.onStuck?.(`an isolate of this worker kept running after it was disposed (${this.ending})`);
      }, STUCK_AFTER_MS);
      this.stuckTimer.unref();
    }
  }

  /** Counts an entry into the isolate until it is answered (see STUCK_AFTER_MS). */
  private track<T>(entry: Promise<T>): Promise<T> {
    this.entries++;
    const answered = () => {
      if (--this.entries > 0 || this.stuckTimer === undefined) return;
      clearTimeout(this.stuckTimer);
      this.stuckTimer = undefined;
    };
    entry.then(answered, (err: unknown) => {
      answered();
      // An entry that ended with the isolate (its memory limit, hit while it ran a continuation
      // of the call settle() waits for) ends that call: no end will be told any more.
      if (this.isolate.isDisposed) this.waiter?.fail(err);
    });
    return entry;
  }

  /** The prelude told the end of call `call` (see settle). */
  private ended(call: unknown, raw: unknown): void {
    const waiter = this.waiter;
    if (waiter !== undefined && waiter.call === call) waiter.resolve(raw);
    else this.early = { call, raw };
  }

  /** As syncFailure, for the asynchronous entry: the isolate answers the drain asynchronously too. */
  private async asyncFailure(err: unknown, what: string, budget: LogBudget, output: CallOutput): Promise<ServeError> {
    if (/timed out/i.test(messageOf(err)) && !this.isolate.isDisposed) {
      this.ending = 'timeout';
      admitLogs(await drainLogs(this.isolate, this.refs.drain), budget, output, this.marker);
      this.end('timeout');
    }
    const failure = classifyIsolateFailure(err, this.failureContext(what, output));
    this.logFatal(what, failure);
    return failure;
  }

  private syncFailure(err: unknown, what: string, budget: LogBudget, output: CallOutput): ServeError {
    if (/timed out/i.test(messageOf(err)) && !this.isolate.isDisposed) {
      // Terminated, but the isolate still answers: keep what the call printed, then replace it.
      try {
        const raw = this.refs.drain.applySync(undefined, [], { result: { copy: true }, timeout: DRAIN_GRACE_MS });
        admitLogs(readLogs(raw), budget, output, this.marker);
      } catch {
        // the output is lost with the isolate
      }
      this.end('timeout');
    }
    const failure = classifyIsolateFailure(err, this.failureContext(what, output));
    this.logFatal(what, failure);
    return failure;
  }

  /**
   * The asynchronous path: wait for the end of call `call`, which the prelude tells through the
   * bridge's endCallback once the script's promise settles (no entry of the host's waits for it:
   * a script whose awaits all resolve inside its entry costs no second entry), or dispose the
   * isolate at the deadline.
   */
  private settle(what: string, deadline: Deadline, budget: LogBudget, output: CallOutput, call: number): Promise<Envelope> {
    const early = this.early;
    this.early = undefined;
    if (early !== undefined && early.call === call) return Promise.resolve(readEnvelope(early.raw));
    return new Promise<Envelope>((resolve, reject) => {
      let done = false;
      const finished = () => {
        if (done) return false;
        done = true;
        this.waiter = undefined;
        return true;
      };
      this.waiter = {
        call,
        // (readEnvelope never throws: a throw here would reach isolated-vm's callback)
        resolve: (raw) => finished() && resolve(readEnvelope(raw)),
        fail: (err) => {
          if (!finished()) return;
          const failure = classifyIsolateFailure(err, this.failureContext(what, output));
          this.logFatal(what, failure);
          reject(failure);
        },
      };
      deadline.arm(() => {
        if (!finished()) return;
        this.ending = 'timeout';
        void drainLogs(this.isolate, this.refs.drain).then((logs) => {
          admitLogs(logs, budget, output, this.marker);
          this.end('timeout');
          const failure = classifyIsolateFailure(new Error('Script execution timed out.'), this.failureContext(what, output));
          this.logFatal(what, failure);
          reject(failure);
        });
      });
    });
  }

  private finish(label: () => string, envelope: Envelope, budget: LogBudget, output: CallOutput): CallResult {
    if (envelope.kind === 'pending') throw new ServeError('INTERNAL', `${label()} settled with another promise`, output);
    admitLogs(envelope.logs, budget, output, this.marker);
    if (envelope.kind === 'ok') return this.answered(label, envelope, output);
    if (envelope.kind === 'unreadable') throw unreadable(label(), output);
    if (envelope.kind === 'threw' && envelope.report !== '') output.stderr.push(envelope.report);
    if (envelope.kind === 'threw' && envelope.code === null && isAllocationFailure(envelope)) {
      // The isolate's memory is full (its array buffer allocator refused): every later call would
      // fail the same way, so replace the isolate as after the hard limit.
      this.end('memory');
      const failure = classifyIsolateFailure(new Error(`${envelope.name}: ${envelope.message}`), this.failureContext(label(), output));
      this.logFatal(label(), failure);
      throw failure;
    }
    throw classifyEnvelope(envelope, label(), output);
  }

  /**
   * An answer given as JSON text is sized before anything reads it (a value given as data is sized
   * where it is serialized, src/worker/scripts/result-json.ts); the text is then parsed when asked.
   * Parsed text is valid JSON, so it is kept too, for the caller to pass on without serializing again.
   */
  private answered(label: () => string, envelope: Extract<Envelope, { kind: 'ok' }>, output: CallOutput): CallResult {
    const { value, json, text } = envelope;
    if (text === undefined) return { value, json, stdout: output.stdout, stderr: output.stderr };
    const bytes = jsonBytesOver(text, this.limits.maxResultBytes);
    if (bytes !== null) throw resultTooLarge(label(), bytes, this.limits.maxResultBytes, false, output);
    if (envelope.parse !== true) return { value: undefined, json, text, stdout: output.stdout, stderr: output.stderr };
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw unreadable(label(), output);
    }
    return { value: parsed, json, text, stdout: output.stdout, stderr: output.stderr };
  }

  private failureContext(what: string, output: CallOutput) {
    return { what, limits: this.limits, ending: this.ending, isolateDisposed: this.isolate.isDisposed, output };
  }

  private logFatal(what: string, failure: ServeError): void {
    if (failure.code === 'SCRIPT_TIMEOUT' || failure.code === 'SCRIPT_MEMORY_LIMIT') {
      this.log.warn({ call: what, code: failure.code }, 'sandbox isolate disposed');
    }
  }
}
