import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { ServeError, toServeError, type ErrorCode } from '../../errors.js';
import type { Logger } from '../../log.js';
import { encodeFrame, FrameDecoder, writeAll } from '../../protocol/frame.js';
import type { WorkerMessage, WorkerReply, WorkerRequest } from '../../protocol/messages.js';
import type { WorkerConfig } from '../../protocol/worker-config.js';
import { FairQueue } from './fair-queue.js';

export interface WorkerPoolOptions {
  /** Serving workers. One more, the scratch worker, runs untrusted one-off work (inline script tests, model inspection). */
  readonly count: number;
  readonly config: WorkerConfig;
  readonly startTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly maxQueue: number;
  /** Requests of one tenant (deployment) in flight on one worker; more wait in the tenant's queue. */
  readonly maxInflightPerDeployment: number;
  /** Tenants' requests in flight on one worker, all tenants together; more wait, admitted round robin. */
  readonly maxInflightPerWorker: number;
  readonly log: Logger;
  /** Called when a worker becomes ready again after it exited (not at the first start). */
  readonly onRestarted?: (worker: number) => void;
}

/** What to tell a caller whose request was in flight when its worker died. */
export type CrashVerdict = (exit: { code: number | null; signal: NodeJS.Signals | null; pid: number }) => ServeError;

export interface RequestOptions {
  /** Pin to one worker (0-based; `scratchIndex` for the scratch worker). */
  readonly worker?: number;
  /**
   * Choose among these workers; by default any serving worker. The one with the fewest requests in
   * flight wins, ties in turn. A function is asked when a worker is picked, so a request that waited
   * goes where its deployment is placed then (it throws to refuse the request).
   */
  readonly workers?: readonly number[] | (() => readonly number[]);
  readonly onCrash?: CrashVerdict;
  /**
   * Whose request this is (a deployment). A tenant's requests are admitted under
   * `maxInflightPerDeployment` per worker and `maxInflightPerWorker`, fairly between tenants.
   * Without one (management work, retries) a request goes to its worker as soon as it is ready.
   */
  readonly tenant?: string;
  /**
   * Most of the tenant's requests that may wait in the front: a request that would wait behind
   * that many is refused at once with OVERLOADED. Without one, only `maxQueue` (all requests) bounds it.
   */
  readonly maxQueue?: number;
  /**
   * When the caller stops waiting (Date.now() time). Past it the request is answered 504
   * DEADLINE_EXCEEDED: while it waits in the front it is dropped, never sent; in flight, it is
   * answered at once and the worker's late answer discarded. An invoke carries it to the worker,
   * which drops it if it has not started it by then (handle.ts).
   */
  readonly deadline?: number;
}

/** The 504 of a request past its deadline; `where` says how far it got. */
export function deadlineExceeded(where: string): ServeError {
  return new ServeError('DEADLINE_EXCEEDED', `the request's deadline passed ${where}`);
}

function tenantOverloaded(tenant: string, maxQueue: number): ServeError {
  return new ServeError('OVERLOADED', `"${tenant}" already has ${maxQueue} requests waiting for a runtime worker (its max_queue); retry after the Retry-After seconds`, { retryAfterSeconds: 1, max_queue: maxQueue });
}

export type Outgoing = WorkerRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

/** The message for the worker a request was given to, decided then; a throw refuses the request. */
export type MessageFor = (worker: number) => { readonly msg: Outgoing; readonly onCrash?: CrashVerdict };

interface Pending {
  readonly resolve: (value: unknown) => void;
  readonly reject: (err: ServeError) => void;
  /** When the worker counts as wedged and is killed (performance.now()): workers.requestTimeoutMs after it was sent. */
  readonly deadline: number;
  /** The caller's deadline (Date.now() time), from RequestOptions.deadline. */
  readonly expiresAt?: number;
  /**
   * Answered DEADLINE_EXCEEDED while the worker still has it: it stays on the worker's books (it
   * still holds the worker and its slot) until the worker answers, and that answer is dropped.
   */
  abandoned?: boolean;
  readonly onCrash?: CrashVerdict;
  readonly tenant?: string;
}

interface Waiting {
  readonly msg: Outgoing | MessageFor;
  readonly options: RequestOptions;
  readonly resolve: (value: unknown) => void;
  readonly reject: (err: ServeError) => void;
  /** When it started waiting (Date.now()). */
  readonly since: number;
  /** When the waiting sweep looks at it next (Date.now() time). */
  checkAt: number;
}

interface Slot {
  readonly index: number;
  child: ChildProcess | null;
  channel: Socket | null;
  /** Frames for the channel, written together once this turn of the event loop is done (see send). */
  outbox: Buffer[];
  ready: boolean;
  readonly inflight: Map<number, Pending>;
  /** Fires at the next in-flight deadline (a caller's, or the watchdog's); one per worker rather than one per request. */
  sweep: NodeJS.Timeout | undefined;
  /** When it fires (performance.now() time); Infinity when it is not armed. */
  sweepAt: number;
  /** Tenants' requests in flight here, by tenant, and their sum. */
  readonly tenants: Map<string, number>;
  tenanted: number;
  recentCrashes: number;
  lastCrashAt: number;
  restarts: number;
  /** Set when we killed it for not answering in time: its in-flight requests did not crash it. */
  killedForTimeout: boolean;
  /** The worker asked to be replaced: it gets no new work and is killed once its in-flight work is answered. */
  retiring: boolean;
}

/**
 * Set to 1 by `npm test` right after `npm run build`: a front running from source (tsx) then spawns
 * the compiled workers of dist/src/ instead of loading TypeScript through tsx in each of them (the
 * slow part of a test server's start). Only that script sets it, so no test run picks up a stale
 * build: run on its own, a test file spawns workers from source.
 */
const BUILT_WORKERS_ENV = 'INFERBOX_TEST_BUILT_WORKERS';

/**
 * Compiled JS next to this module in production (dist/); the .ts source through tsx in development,
 * or dist/src/worker/main.js when BUILT_WORKERS_ENV asks for it (an error if it was not built).
 */
function workerEntry(): { entry: string; execArgv: string[] } {
  const js = fileURLToPath(new URL('../../worker/main.js', import.meta.url));
  if (!import.meta.url.endsWith('.ts')) return { entry: js, execArgv: ['--no-node-snapshot'] };
  if (process.env[BUILT_WORKERS_ENV] === '1') {
    const built = fileURLToPath(new URL('../../../dist/src/worker/main.js', import.meta.url));
    if (!existsSync(built)) throw new Error(`${BUILT_WORKERS_ENV}=1 but ${built} is missing: run npm run build`);
    return { entry: built, execArgv: ['--no-node-snapshot'] };
  }
  const ts = fileURLToPath(new URL('../../worker/main.ts', import.meta.url));
  return { entry: ts, execArgv: ['--no-node-snapshot', '--import', 'tsx'] };
}

/**
 * The front's side of the runtime workers: spawns them, routes requests, answers a dead worker's
 * in-flight requests with 503, restarts it (with backoff when it keeps dying), and queues requests
 * while no worker is ready.
 */
export class WorkerPool {
  private readonly slots: Slot[];
  /** Requests without a tenant waiting for their worker to be ready. */
  private readonly waiting: Waiting[] = [];
  /** Tenants' requests waiting for a ready worker under the caps. */
  private readonly queued = new FairQueue<Waiting>();
  /** The one timer of the waiting requests (see armWaitSweep). */
  private waitSweep: NodeJS.Timeout | undefined;
  /** When it fires (Date.now() time); Infinity when it is not armed. */
  private waitSweepAt = Infinity;
  /** Rotates where the search for the least busy worker starts, so equally busy workers take turns. */
  private turn = 0;
  /** Every serving worker's index: where a request with no `worker` or `workers` may go. */
  private readonly serving: readonly number[];
  private nextId = 1;
  private closing = false;
  private readonly launch = workerEntry();
  private readonly readyListeners = new Set<() => void>();
  /** What each model format runs on, as the workers report it (for /healthz). */
  backends: Readonly<Record<string, string>> = {};
  /** Backends workers started lazily (tfjs), by format. */
  private readonly startedBackends: Record<string, string> = {};

  constructor(private readonly options: WorkerPoolOptions) {
    this.serving = Array.from({ length: options.count }, (_, i) => i);
    this.slots = Array.from({ length: options.count + 1 }, (_, index) => ({
      index,
      child: null,
      channel: null,
      outbox: [],
      ready: false,
      inflight: new Map(),
      sweep: undefined,
      sweepAt: Infinity,
      tenants: new Map(),
      tenanted: 0,
      recentCrashes: 0,
      lastCrashAt: 0,
      restarts: 0,
      killedForTimeout: false,
      retiring: false,
    }));
  }

  /** Spawns every worker and resolves when all are ready. */
  async start(): Promise<void> {
    for (const slot of this.slots) this.spawn(slot);
    const deadline = Date.now() + this.options.startTimeoutMs;
    while (this.slots.some((s) => !s.ready)) {
      if (Date.now() > deadline) throw new Error(`runtime workers did not start within ${this.options.startTimeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const done = () => {
          this.readyListeners.delete(done);
          clearTimeout(t);
          resolve();
        };
        const t = setTimeout(done, 200);
        this.readyListeners.add(done);
      });
    }
  }

  /** Serving workers (the scratch worker not counted). */
  get size(): number {
    return this.options.count;
  }

  /** The worker that runs one-off untrusted work, so a crash there never costs a deployed service. */
  get scratchIndex(): number {
    return this.options.count;
  }

  /** Serving workers that are ready. */
  get readyCount(): number {
    return this.slots.filter((s) => s.ready && s.index !== this.scratchIndex).length;
  }

  /** Requests in flight or waiting, across all workers. */
  get load(): number {
    return this.waiting.length + this.queued.size + this.slots.reduce((n, s) => n + s.inflight.size, 0);
  }

  /** A tenant's requests waiting in the front, and in flight on each serving worker. */
  tenantLoad(tenant: string): { queued: number; inflight: number[] } {
    return { queued: this.queued.lengthOf(tenant), inflight: this.slots.slice(0, this.size).map((s) => s.tenants.get(tenant) ?? 0) };
  }

  /**
   * Refuses at once (OVERLOADED) a tenant's request that would wait behind `maxQueue` others: called
   * before its body is read, so a flood costs no parsing. `request` checks again when it queues.
   */
  assertQueueRoom(tenant: string, maxQueue: number): void {
    const queued = this.queued.lengthOf(tenant);
    if (queued > 0 && queued >= maxQueue) throw tenantOverloaded(tenant, maxQueue);
  }

  workerInfo(): { index: number; role: 'serving' | 'scratch'; pid: number | null; ready: boolean; inflight: number; restarts: number }[] {
    return this.slots.map((s) => ({
      index: s.index,
      role: s.index === this.scratchIndex ? 'scratch' : 'serving',
      pid: s.child?.pid ?? null,
      ready: s.ready,
      inflight: s.inflight.size,
      restarts: s.restarts,
    }));
  }

  /**
   * Sends a message to a worker and resolves with its answer. `msg` may be a function of the worker
   * picked, for messages that depend on it or on state that may change while the request waits.
   */
  request<T>(msg: Outgoing | MessageFor, options: RequestOptions = {}): Promise<T> {
    if (this.closing) return Promise.reject(new ServeError('SHUTTING_DOWN', 'the server is shutting down'));
    if (this.load >= this.options.maxQueue) {
      return Promise.reject(new ServeError('OVERLOADED', `${this.load} requests are already queued (workers.maxQueue = ${this.options.maxQueue})`, { retryAfterSeconds: 1 }));
    }
    const since = Date.now();
    const { tenant, deadline, maxQueue } = options;
    if (deadline !== undefined && since >= deadline) return Promise.reject(deadlineExceeded('before it reached a runtime worker'));
    return new Promise<T>((resolve, reject) => {
      const checkAt = Math.min(since + Math.min(this.options.startTimeoutMs, this.options.requestTimeoutMs), deadline ?? Infinity);
      const waiting: Waiting = { msg, options, resolve: resolve as (v: unknown) => void, reject, since, checkAt };
      // A tenant's requests keep their order: behind its queue if it has one.
      if ((tenant === undefined || !this.queued.has(tenant)) && this.tryDispatch(waiting)) return;
      if (tenant !== undefined && maxQueue !== undefined && this.queued.lengthOf(tenant) >= maxQueue) {
        reject(tenantOverloaded(tenant, maxQueue));
        return;
      }
      if (tenant === undefined) this.waiting.push(waiting);
      else this.queued.push(tenant, waiting);
      if (waiting.checkAt < this.waitSweepAt) this.armWaitSweep(waiting.checkAt);
    });
  }

  /**
   * A waiting request gives up after `workers.startTimeoutMs` when none of its workers is ready
   * (WORKER_UNAVAILABLE), or after `workers.requestTimeoutMs` when they are but the caps keep it
   * waiting (OVERLOADED). It is looked at first after the shorter of the two, then when the one
   * that applies runs out. One timer for all waiting requests, armed for the next look: under load
   * most requests wait a moment for a slot, and a timer each cost a setTimeout and a clearTimeout
   * per request (#14).
   */
  private armWaitSweep(at: number): void {
    clearTimeout(this.waitSweep);
    this.waitSweepAt = at;
    this.waitSweep = setTimeout(() => this.sweepWaiting(), Math.max(0, at - Date.now()));
    // It may outlive the requests it was armed for: it must not hold a closed front's process open.
    this.waitSweep.unref();
  }

  private sweepWaiting(): void {
    this.waitSweep = undefined;
    this.waitSweepAt = Infinity;
    const now = Date.now();
    let next = Infinity;
    for (const w of [...this.waiting, ...this.queued.items()]) {
      if (w.checkAt > now || this.stillWaits(w, now)) next = Math.min(next, w.checkAt);
    }
    if (next !== Infinity) this.armWaitSweep(next);
  }

  /** Refuses a request that waited past the limit that applies to it (false), or sets when to look again (true). */
  private stillWaits(w: Waiting, now: number): boolean {
    const elapsed = now - w.since;
    const { deadline } = w.options;
    if (deadline !== undefined && now >= deadline) {
      this.unqueue(w);
      w.reject(deadlineExceeded(`after waiting ${elapsed} ms in the front's queue for a runtime worker; it was not run`));
      return false;
    }
    let anyReady: boolean;
    try {
      anyReady = this.candidates(w.options).some((i) => this.slots[i]?.ready);
    } catch (err) {
      this.unqueue(w);
      w.reject(toServeError(err));
      return false;
    }
    // With a deadline, the caller's deadline bounds the wait for a slot, not workers.requestTimeoutMs.
    const limit = anyReady ? (deadline === undefined ? this.options.requestTimeoutMs : Infinity) : this.options.startTimeoutMs;
    if (elapsed < limit) {
      w.checkAt = Math.min(w.since + limit, deadline ?? Infinity);
      return true;
    }
    this.unqueue(w);
    if (!anyReady) {
      w.reject(new ServeError('WORKER_UNAVAILABLE', `no runtime worker was ready within ${this.options.startTimeoutMs} ms`));
      return false;
    }
    const { tenant } = w.options;
    w.reject(
      new ServeError(
        'OVERLOADED',
        `waited ${elapsed} ms for a free slot on a runtime worker ("${tenant}" has ${this.queued.lengthOf(tenant ?? '')} more requests queued; workers.maxInflightPerDeployment = ${this.options.maxInflightPerDeployment}, workers.maxInflightPerWorker = ${this.options.maxInflightPerWorker})`,
        { retryAfterSeconds: 1 },
      ),
    );
    return false;
  }

  private unqueue(w: Waiting): void {
    const { tenant } = w.options;
    if (tenant !== undefined) {
      this.queued.remove(tenant, w);
      return;
    }
    const i = this.waiting.indexOf(w);
    if (i >= 0) this.waiting.splice(i, 1);
  }

  /** Sends it if a worker can take it now (or refuses it); false when it must wait. */
  private tryDispatch(w: Waiting): boolean {
    let slot: Slot | undefined;
    let sent: { msg: Outgoing; onCrash?: CrashVerdict };
    try {
      slot = this.pick(w.options);
      if (!slot) return false;
      sent = typeof w.msg === 'function' ? w.msg(slot.index) : { msg: w.msg, ...(w.options.onCrash ? { onCrash: w.options.onCrash } : {}) };
    } catch (err) {
      w.reject(toServeError(err));
      return true;
    }
    this.dispatch(slot, sent.msg, sent.onCrash, w.options, w.resolve, w.reject);
    return true;
  }

  /** Sends one message to every ready worker and collects the answers (failures become null). */
  async broadcast<T>(msg: Outgoing): Promise<(T | null)[]> {
    return Promise.all(
      this.slots.map((s) => (s.ready ? this.request<T>(msg, { worker: s.index }).catch(() => null) : Promise.resolve(null))),
    );
  }

  /** Stops accepting work, lets workers finish what they hold (up to graceMs), then ends them. */
  async close(graceMs = 5000): Promise<void> {
    this.closing = true;
    clearTimeout(this.waitSweep);
    for (const w of [...this.waiting.splice(0), ...this.queued.clear()]) {
      w.reject(new ServeError('SHUTTING_DOWN', 'the server is shutting down'));
    }
    const deadline = Date.now() + graceMs;
    while (this.slots.some((s) => s.inflight.size > 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await Promise.all(this.slots.map((slot) => this.stop(slot, Math.max(1000, deadline - Date.now()))));
  }

  private candidates(options: RequestOptions): readonly number[] {
    if (options.worker !== undefined) return [options.worker];
    if (options.workers === undefined) return this.serving;
    return typeof options.workers === 'function' ? options.workers() : options.workers;
  }

  /** Whether the worker may take one more of the tenant's requests now. */
  private admits(slot: Slot, tenant: string | undefined): boolean {
    if (!slot.ready) return false;
    if (tenant === undefined) return true;
    return slot.tenanted < this.options.maxInflightPerWorker && (slot.tenants.get(tenant) ?? 0) < this.options.maxInflightPerDeployment;
  }

  /** The worker for a request: ready, under the caps, the fewest in flight; equally busy ones take turns. */
  private pick(options: RequestOptions): Slot | undefined {
    const list = this.candidates(options);
    const start = list.length > 1 ? this.turn++ % list.length : 0;
    let best: Slot | undefined;
    for (let k = 0; k < list.length; k++) {
      const s = this.slots[list[(start + k) % list.length]!];
      if (s && this.admits(s, options.tenant) && (best === undefined || s.inflight.size < best.inflight.size)) best = s;
    }
    return best;
  }

  private dispatch(slot: Slot, msg: Outgoing, onCrash: CrashVerdict | undefined, options: RequestOptions, resolve: (v: unknown) => void, reject: (e: ServeError) => void): void {
    const id = this.nextId++;
    const { tenant, deadline } = options;
    const now = performance.now();
    const pending: Pending = { resolve, reject, deadline: now + this.options.requestTimeoutMs, ...(deadline !== undefined ? { expiresAt: deadline } : {}), ...(onCrash ? { onCrash } : {}), ...(tenant !== undefined ? { tenant } : {}) };
    slot.inflight.set(id, pending);
    const due = Math.min(pending.deadline, deadline === undefined ? Infinity : now + (deadline - Date.now()));
    if (due < slot.sweepAt) this.armSweep(slot, due);
    if (tenant !== undefined) {
      slot.tenants.set(tenant, (slot.tenants.get(tenant) ?? 0) + 1);
      slot.tenanted++;
    }
    this.send(slot, encodeFrame(deadline !== undefined && msg.t === 'invoke' ? { ...msg, id, deadline } : { ...msg, id }));
  }

  /**
   * Frames given to a worker in one turn of the event loop leave in one write, after the turn
   * (setImmediate). A write per request cost a system call and woke the worker for each one: under
   * load the front reads several requests per turn, and the worker then reads them at once (#14).
   */
  private send(slot: Slot, frame: Buffer): void {
    slot.outbox.push(frame);
    if (slot.outbox.length === 1) setImmediate(() => this.flush(slot));
  }

  private flush(slot: Slot): void {
    const frames = slot.outbox;
    slot.outbox = [];
    // A worker that exited meanwhile took its requests with it (onExit answered them).
    if (frames.length === 0 || slot.channel === null) return;
    writeAll(slot.channel, frames);
  }

  /** Takes a request off a worker's books (answered, timed out, or the worker died). */
  private release(slot: Slot, id: number): Pending | undefined {
    const pending = slot.inflight.get(id);
    if (!pending) return undefined;
    slot.inflight.delete(id);
    const { tenant } = pending;
    if (tenant !== undefined) {
      const n = (slot.tenants.get(tenant) ?? 1) - 1;
      if (n === 0) slot.tenants.delete(tenant);
      else slot.tenants.set(tenant, n);
      slot.tenanted--;
    }
    return pending;
  }

  /**
   * A timer per request cost every call a setTimeout and a clearTimeout (#14). One timer per worker
   * is armed for the next deadline of its in-flight requests (a caller's or the watchdog's); when it
   * fires it answers what is due and is armed again for the next one. It is re-armed on a send only
   * when the new request is due sooner, which with the default deadlines (arrival order) is rare.
   */
  private armSweep(slot: Slot, at: number): void {
    clearTimeout(slot.sweep);
    slot.sweepAt = at;
    slot.sweep = setTimeout(() => this.sweepInflight(slot), Math.max(0, Math.ceil(at - performance.now())));
    // It outlives the requests it was armed for: it must not hold a closed front's process open.
    slot.sweep.unref();
  }

  private sweepInflight(slot: Slot): void {
    slot.sweep = undefined;
    slot.sweepAt = Infinity;
    const now = performance.now();
    const wall = Date.now();
    let next = Infinity;
    for (const [id, pending] of [...slot.inflight]) {
      if (pending.deadline <= now) {
        this.timeOut(slot, id);
        continue;
      }
      next = Math.min(next, pending.deadline);
      if (pending.abandoned || pending.expiresAt === undefined) continue;
      if (pending.expiresAt <= wall) {
        // Answered now; the worker keeps it (a model run cannot be stopped) and its answer is dropped.
        pending.abandoned = true;
        pending.reject(deadlineExceeded('while a runtime worker was serving it; its answer is dropped'));
      } else next = Math.min(next, now + (pending.expiresAt - wall));
    }
    if (next !== Infinity) this.armSweep(slot, next);
  }

  private timeOut(slot: Slot, id: number): void {
    const pending = this.release(slot, id);
    if (!pending) return;
    pending.reject(new ServeError('WORKER_TIMEOUT', `the runtime worker did not answer within ${this.options.requestTimeoutMs} ms; it is being restarted`));
    // A worker that cannot answer in time is wedged in synchronous work: replace it.
    this.options.log.error({ worker: slot.index, workerPid: slot.child?.pid }, 'runtime worker timed out; killing it');
    slot.killedForTimeout = true;
    slot.child?.kill('SIGKILL');
  }

  /** Gives waiting requests to workers that can take them: first those without a tenant, then tenants in turn. */
  private drain(): void {
    for (let i = 0; i < this.waiting.length; ) {
      const w = this.waiting[i]!;
      if (!this.tryDispatch(w)) {
        i++;
        continue;
      }
      this.waiting.splice(i, 1);
    }
    if (this.queued.size === 0) return;
    this.queued.drain((w) => this.tryDispatch(w));
  }

  private spawn(slot: Slot): void {
    const { entry, execArgv } = this.launch;
    const child = spawn(process.execPath, [...execArgv, entry, JSON.stringify(this.options.config)], {
      stdio: ['ignore', 'inherit', 'inherit', 'pipe'],
    });
    const channel = child.stdio[3] as Socket;
    slot.child = child;
    slot.channel = channel;
    const decoder = new FrameDecoder();
    channel.on('data', (chunk: Buffer) => {
      let messages: unknown[];
      try {
        messages = decoder.push(chunk);
      } catch (err) {
        this.options.log.error({ err, worker: slot.index }, 'corrupt frame from runtime worker; killing it');
        child.kill('SIGKILL');
        return;
      }
      for (const m of messages) this.onMessage(slot, m as WorkerMessage);
    });
    channel.on('error', () => undefined); // the exit handler does the cleanup
    child.once('exit', (code, signal) => this.onExit(slot, child, code, signal));
    child.once('error', (err) => {
      this.options.log.error({ err, worker: slot.index }, 'runtime worker failed to start');
    });
  }

  private onMessage(slot: Slot, msg: WorkerMessage): void {
    if (msg.t === 'backend') {
      this.startedBackends[msg.format] = msg.backend;
      this.backends = { ...this.backends, ...this.startedBackends };
      return;
    }
    if (msg.t === 'retire') {
      this.retire(slot, msg.reason);
      return;
    }
    if (msg.t === 'ready') {
      slot.ready = true;
      if (slot.restarts > 0) this.options.onRestarted?.(slot.index);
      // A fresh worker has not started tfjs yet; what another worker started still tells what runs.
      this.backends = { ...msg.backends, ...this.startedBackends };
      this.options.log.info({ worker: slot.index, workerPid: msg.pid }, 'runtime worker ready');
      this.drain();
      for (const l of [...this.readyListeners]) l();
      return;
    }
    this.settle(slot, msg);
  }

  private settle(slot: Slot, reply: WorkerReply): void {
    const pending = this.release(slot, reply.id);
    if (!pending) return; // already timed out
    if (pending.abandoned) {
      // Its caller was answered at its deadline; the slot it held is free now.
    } else if (reply.ok) pending.resolve(reply.value);
    else pending.reject(new ServeError(reply.error.code as ErrorCode, reply.error.message, reply.error.details));
    if (slot.retiring && slot.inflight.size === 0) this.replace(slot);
    this.drain();
  }

  /**
   * The worker asked to be replaced: no new work goes to it; once what it has in flight is
   * answered (or timed out, which kills it), it is killed and restarted like after a crash, with
   * nobody's request in flight. Killed rather than asked to exit: a thread that does not stop also
   * holds up the process's exit.
   */
  private retire(slot: Slot, reason: string): void {
    if (slot.retiring || slot.child === null) return;
    slot.retiring = true;
    slot.ready = false;
    this.options.log.error({ worker: slot.index, workerPid: slot.child.pid, reason, inFlight: slot.inflight.size }, 'runtime worker asked to be replaced');
    if (slot.inflight.size === 0) this.replace(slot);
  }

  private replace(slot: Slot): void {
    slot.killedForTimeout = true; // not a crash of anyone's request: none is in flight
    slot.child?.kill('SIGKILL');
  }

  private onExit(slot: Slot, child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (slot.child !== child) return;
    slot.ready = false;
    slot.retiring = false;
    slot.child = null;
    slot.channel = null;
    slot.outbox = [];
    const pid = child.pid ?? -1;
    const killedForTimeout = slot.killedForTimeout;
    slot.killedForTimeout = false;
    for (const id of [...slot.inflight.keys()]) {
      const pending = this.release(slot, id)!;
      const crashed = () => new ServeError('WORKER_CRASHED', `the runtime worker (pid ${pid}) exited (${signal ?? `code ${code}`}) while serving this request`);
      pending.reject(killedForTimeout ? crashed() : (pending.onCrash?.({ code, signal, pid }) ?? crashed()));
    }
    if (this.closing) return;
    const now = Date.now();
    slot.recentCrashes = now - slot.lastCrashAt < 30_000 ? slot.recentCrashes + 1 : 1;
    slot.lastCrashAt = now;
    const delayMs = Math.min(5000, 50 * 2 ** (slot.recentCrashes - 1));
    this.options.log.error({ worker: slot.index, workerPid: pid, code, signal, restartInMs: delayMs }, 'runtime worker exited; restarting');
    setTimeout(() => {
      if (this.closing) return;
      slot.restarts++;
      this.spawn(slot);
    }, delayMs);
  }

  private async stop(slot: Slot, graceMs: number): Promise<void> {
    const child = slot.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    slot.channel?.end();
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }
}
