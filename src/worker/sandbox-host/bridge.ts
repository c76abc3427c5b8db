/**
 * The host side of a script's host calls: `model.run(feeds)`, `file.image(options)` and the model
 * step of the predict flow. The script calls an *ignored* ivm.Callback (copied arguments, no value
 * back: a Callback cannot return a promise); the host runs the work with the call's clock held, then
 * settles the script's promise by id through a Reference into the prelude that only the host holds.
 * The flow's model step may instead run synchronously, inside the flow call (`inferSyncCallback`),
 * which saves the flow a second isolate entry; so may an image() the host decodes without waiting
 * (`imageNowCallback`, a small PNG), which saves it two more (the answer's entry, and the model
 * step's, which then still runs inside the call).
 * Answers enter as an ExternalCopy; a decoded image's buffer is transferred in (host memory moved,
 * not copied). Nothing of the isolate is ever transferred out.
 */
import ivm from 'isolated-vm';
import { ServeError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { Deadline } from './deadline.js';
import { detailsForSandbox } from './error-details.js';
import { isPlainJson } from './plain-json.js';
import type { FlowModel, HostBridge, SandboxLimits } from './types.js';

type ResolveHost = (id: number, ok: boolean, payload: ivm.Copy<unknown>) => void;

/**
 * What a failed host call hands the script: the server's code and message, and its details as JSON
 * text when it has some (see error-details.ts).
 */
interface BridgeFailure {
  readonly code: string;
  readonly message: string;
  readonly details?: string;
}

/** An answer for the script, and the host buffer it may take over instead of copying. */
interface Answer {
  readonly value: unknown;
  readonly transfer?: ArrayBuffer;
}

/** An answer ready to enter the isolate. */
interface Payload {
  readonly ok: boolean;
  readonly copy: ivm.Copy<unknown>;
}

/**
 * Host calls (model.run, image decodes, the flow's asynchronous model step) one sandbox may have
 * started and not yet been answered. The prelude enforces the same number for model.run inside
 * the isolate (MAX_RUNS_IN_FLIGHT in sandbox/prelude/host-calls.ts, plus 2 image decodes and 1
 * flow step), so a script that fires thousands without awaiting is refused there and costs the
 * host nothing.
 */
export const MAX_HOST_CALLS_IN_FLIGHT = 67;

/**
 * Host time (ms) one call may spend decoding images synchronously, inside its entry: past it,
 * image() takes the asynchronous path, where decodes interleave with the worker's other work. A
 * script calling image() in a loop thus holds this thread for about this long per call at most,
 * on top of what it may hold anyway (SLICE_MS in pacer.ts, run-records.ts).
 */
export const IMAGE_NOW_BUDGET_MS = 2;

/** Fields whose last image() options a bridge remembers for predecode (a script decodes one or a few). */
const MAX_REMEMBERED_FIELDS = 8;
/** Longest options' JSON text remembered: options are a handful of keys. */
const MAX_OPTIONS_KEY_CHARS = 1024;

/** A decoded tensor may use at most this share of the sandbox memory limit (which V8 treats loosely). */
const MAX_IMAGE_SHARE_OF_MEMORY = 0.5;

export class ScriptBridge {
  /** Handed to the prelude once; it keeps them in a closure that no global leads to. */
  readonly runCallback: ivm.Callback<(id: unknown, feeds: unknown) => void>;
  readonly imageCallback: ivm.Callback<(id: unknown, bytes: unknown, options: unknown, field: unknown, name: unknown) => void>;
  readonly inferSyncCallback: ivm.Callback<(prepared: unknown) => unknown>;
  readonly inferStartCallback: ivm.Callback<(id: unknown, prepared: unknown) => void>;
  readonly imageNowCallback: ivm.Callback<(bytes: unknown, options: unknown, field: unknown, name: unknown) => unknown>;
  /** The end of a call that answered a promise, pushed by the prelude (see Sandbox.settle). */
  readonly endCallback: ivm.Callback<(call: unknown, envelope: unknown) => void>;
  private resolveRef: ivm.Reference<ResolveHost> | undefined;
  private current: Deadline | undefined;
  /** The model step of the flow call running now, if it is one. */
  private flow: FlowModel | undefined;
  /** True only while the call's isolate entry runs (synchronous or asynchronous, not its settle path). */
  private inEntry = false;
  /** Set by the Sandbox: hears of the end of each call that answered a promise (see Sandbox.settle). */
  onEnd: ((call: unknown, envelope: unknown) => void) | undefined;
  /** Set by the Sandbox: hears of every entry into the isolate the bridge makes (see Sandbox.track). */
  trackEntry: ((entry: Promise<unknown>) => void) | undefined;
  /** Host calls started and not yet answered, across calls: bounded by MAX_HOST_CALLS_IN_FLIGHT. */
  private inFlight = 0;
  /** Host time this call spent on synchronous decodes (IMAGE_NOW_BUDGET_MS). */
  private imageNowMs = 0;
  /** Per upload field, the options image() last decoded it with inside an entry, and their JSON text. */
  private readonly imageOptions = new Map<string, { readonly options: unknown; readonly key: string }>();

  constructor(
    private readonly host: HostBridge,
    /** timeoutMs bounds continuations that run outside a call (late answers); memoryLimitMb caps images. */
    private readonly limits: Pick<SandboxLimits, 'timeoutMs' | 'memoryLimitMb'>,
    private readonly log: Logger,
  ) {
    this.runCallback = new ivm.Callback((id: unknown, feeds: unknown) => this.startRun(id, feeds), { ignored: true });
    this.inferSyncCallback = new ivm.Callback((prepared: unknown) => this.inferSync(prepared));
    this.inferStartCallback = new ivm.Callback((id: unknown, prepared: unknown) => this.startInfer(id, prepared), { ignored: true });
    this.endCallback = new ivm.Callback((call: unknown, envelope: unknown) => this.onEnd?.(call, envelope), { ignored: true });
    this.imageNowCallback = new ivm.Callback((bytes: unknown, options: unknown, field: unknown, name: unknown) => this.imageNow(bytes, options, field, name));
    this.imageCallback = new ivm.Callback(
      (id: unknown, bytes: unknown, options: unknown, field: unknown, name: unknown) => this.startImage(id, bytes, options, field, name),
      { ignored: true },
    );
  }

  attach(resolveRef: ivm.Reference<ResolveHost>): void {
    this.resolveRef = resolveRef;
  }

  /** Host calls are allowed from now on, against this call's deadline; `flow` serves a flow's model step. */
  begin(deadline: Deadline, flow?: FlowModel): void {
    this.current = deadline;
    this.flow = flow;
    this.imageNowMs = 0;
  }

  end(): void {
    this.current = undefined;
    this.flow = undefined;
  }

  /**
   * Brackets the call's isolate entry: only inside it may the model step run within the entry. In
   * an asynchronous entry the isolate's thread waits while this thread runs the model.
   */
  entry(inside: boolean): void {
    this.inEntry = inside;
  }

  /**
   * The flow's model step inside the entry: its FlowRows as JSON text (as data when they
   * are not plain JSON, e.g. NaN), null to have the prelude run it asynchronously, or a BridgeFailure.
   * Text, because at low load the entry runs with cold caches, and JSON.parse/stringify (builtins the
   * host uses too) then cost less than isolated-vm's structured copy: 4 µs less per request, measured.
   */
  private inferSync(prepared: unknown): unknown {
    const flow = this.flow;
    const deadline = this.current;
    if (flow === undefined || deadline === undefined || !this.inEntry) return null;
    deadline.hold();
    try {
      const rows = flow.runSync(fromPayload(prepared));
      if (rows === null || typeof rows === 'string') return rows;
      return isPlainJson(rows) ? JSON.stringify(rows) : rows;
    } catch (err) {
      return this.toFailure(err, 'the model');
    } finally {
      deadline.release();
    }
  }

  /**
   * image() inside the entry: the tensor (copied in by the Callback), null to have the prelude
   * decode it asynchronously (not an image the host decodes without waiting, outside the call's
   * entry, or past IMAGE_NOW_BUDGET_MS), or a BridgeFailure. Off the script's clock, as the
   * asynchronous decode is.
   */
  private imageNow(bytes: unknown, options: unknown, field: unknown, name: unknown): unknown {
    const deadline = this.current;
    const decodeNow = this.host.decodeImageNow;
    if (deadline === undefined || !this.inEntry || decodeNow === undefined || this.imageNowMs >= IMAGE_NOW_BUDGET_MS) return null;
    if (!(bytes instanceof Uint8Array) || typeof field !== 'string' || typeof name !== 'string') return null; // the asynchronous path says what is wrong
    this.remember(field, options);
    const started = performance.now();
    deadline.hold();
    try {
      const sandbox = { maxTensorBytes: this.maxImageBytes(), memoryLimitMb: this.limits.memoryLimitMb };
      const tensor = decodeNow.call(this.host, bytes, options, { field, name }, sandbox);
      return tensor === null ? null : this.imageAnswer(tensor, { field, name }).value;
    } catch (err) {
      return this.toFailure(err, 'image()');
    } finally {
      this.imageNowMs += performance.now() - started;
      deadline.release();
    }
  }

  /** Remembers `options` as `field`'s for predecode, when they are plain JSON (the prelude's key is their JSON text). */
  private remember(field: string, options: unknown): void {
    const key = options === undefined ? '' : isPlainJson(options) ? JSON.stringify(options) : undefined;
    if (key === undefined || key.length > MAX_OPTIONS_KEY_CHARS) {
      this.imageOptions.delete(field);
    } else if (this.imageOptions.has(field) || this.imageOptions.size < MAX_REMEMBERED_FIELDS) {
      this.imageOptions.set(field, { options, key });
    }
  }

  /**
   * A flow's args with each small-PNG upload decoded ahead, before the entry, with the options
   * image() last used for its field (`predecoded` on the upload, kept by the prelude out of the
   * script's reach): a script that asks for the same options again, as a deployment's script does on
   * every request, gets the tensor without a Callback into this thread. The same decode as imageNow,
   * on the same bytes, within IMAGE_NOW_BUDGET_MS; anything else (another image, a failure) is left
   * to image() itself.
   */
  predecode(input: unknown): unknown {
    const decodeNow = this.host.decodeImageNow;
    if (this.imageOptions.size === 0 || decodeNow === undefined || typeof input !== 'object' || input === null) return input;
    const files = (input as { files?: unknown }).files;
    if (typeof files !== 'object' || files === null || Array.isArray(files)) return input;
    const started = performance.now();
    const sandbox = { maxTensorBytes: this.maxImageBytes(), memoryLimitMb: this.limits.memoryLimitMb };
    let copied: Record<string, unknown> | undefined;
    for (const [field, { options, key }] of this.imageOptions) {
      if (performance.now() - started >= IMAGE_NOW_BUDGET_MS) break;
      if (!Object.hasOwn(files, field)) continue;
      const upload = (files as Record<string, unknown>)[field] as { bytes?: unknown; name?: unknown } | null;
      if (upload === null || typeof upload !== 'object' || !(upload.bytes instanceof Uint8Array) || typeof upload.name !== 'string') continue;
      let tensor: { data: Float32Array | Uint16Array | Uint8Array; shape: number[] } | null;
      try {
        tensor = decodeNow.call(this.host, upload.bytes, options, { field, name: upload.name }, sandbox);
      } catch {
        continue; // image() gets the same failure, if the script asks
      }
      if (tensor === null || tensor.data.byteLength > sandbox.maxTensorBytes) continue;
      copied ??= { ...files };
      copied[field] = { ...upload, predecoded: { key, data: tensor.data, shape: tensor.shape } };
    }
    return copied === undefined ? input : { ...input, files: copied };
  }

  private startInfer(id: unknown, prepared: unknown): void {
    const flow = this.flow;
    this.start(id, 'the model', async () => {
      if (flow === undefined) throw new Error('the model step ran outside a predict flow');
      return { value: await flow.run(fromPayload(prepared)) };
    });
  }

  private startRun(id: unknown, feeds: unknown): void {
    this.start(id, 'model.run()', async () => ({ value: await this.host.runModel(feeds as Record<string, unknown>) }));
  }

  private startImage(id: unknown, bytes: unknown, options: unknown, field: unknown, name: unknown): void {
    this.start(id, 'image()', async () => {
      if (!(bytes instanceof Uint8Array) || typeof field !== 'string' || typeof name !== 'string') {
        throw new Error('image(): the prelude sent a malformed request');
      }
      // The host sizes the tensor from the image header and the options before it decodes a pixel.
      const sandbox = { maxTensorBytes: this.maxImageBytes(), memoryLimitMb: this.limits.memoryLimitMb };
      const tensor = await this.host.decodeImage(bytes, options, { field, name }, sandbox);
      return this.imageAnswer(tensor, { field, name });
    });
  }

  private maxImageBytes(): number {
    return this.limits.memoryLimitMb * 2 ** 20 * MAX_IMAGE_SHARE_OF_MEMORY;
  }

  /** The decoded tensor, checked again against the sandbox it is about to enter (a header may lack its size). */
  private imageAnswer(tensor: { data: Float32Array | Uint16Array | Uint8Array; shape: number[] }, file: { field: string; name: string }): Answer {
    const { data, shape } = tensor;
    const maxBytes = this.maxImageBytes();
    if (data.byteLength > maxBytes) {
      const mb = (data.byteLength / 2 ** 20).toFixed(1);
      const text = `file '${file.field}'${file.name ? ` (${file.name})` : ''} decodes to ${mb} MB (shape [${shape.join(',')}], ${data instanceof Uint8Array ? 'uint8' : data instanceof Uint16Array ? 'float16' : 'float32'}); a sandbox with a ${this.limits.memoryLimitMb} MB memory limit takes images of up to ${maxBytes / 2 ** 20} MB: ask image() for a smaller width/height or dtype "uint8"`;
      throw new ServeError('INPUT_IMAGE_TOO_LARGE', text, { field: file.field });
    }
    // Only a buffer the view covers whole is moved; a view into a larger (shared) buffer is copied.
    const whole = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength && data.buffer instanceof ArrayBuffer;
    return { value: { data, shape: [...shape] }, ...(whole ? { transfer: data.buffer as ArrayBuffer } : {}) };
  }

  private start(id: unknown, what: string, work: () => Promise<Answer>): void {
    if (typeof id !== 'number') return;
    const deadline = this.current;
    const refuse = (message: string) => this.deliver(id, this.payloadOf(false, { value: { code: 'SCRIPT_FAILED', message } }, what), undefined);
    if (deadline === undefined) return refuse(`${what} can only be used while a script function is running`);
    // The prelude refuses calls past its own cap before they leave the isolate (host-calls.ts);
    // this is the host's own bound, should the prelude's be bypassed.
    if (this.inFlight >= MAX_HOST_CALLS_IN_FLIGHT) return refuse(`${what}: ${MAX_HOST_CALLS_IN_FLIGHT} host calls are already in flight in this sandbox`);
    this.inFlight++;
    deadline.hold();
    Promise.resolve()
      .then(() => {
        // A call that ended (the script returned without awaiting it) gets no host work done for it.
        if (deadline !== this.current) throw new ServeError('SCRIPT_FAILED', `${what} was not run: the script function that started it had already returned`);
        return work();
      })
      .then(
        (answer) => this.settle(id, true, answer, deadline, what),
        (err: unknown) => this.settle(id, false, { value: this.toFailure(err, what) }, deadline, what),
      );
  }

  private settle(id: number, ok: boolean, answer: Answer, deadline: Deadline, what: string): void {
    this.inFlight--;
    const payload = this.payloadOf(ok, answer, what); // copying is host work: still off the clock
    deadline.release();
    // A late answer for a call that already ended still settles its promise; nobody waits on it.
    this.deliver(id, payload, deadline === this.current ? deadline : undefined);
  }

  /** The answer as a one-use copy for the isolate; one that cannot be copied becomes an INTERNAL failure. */
  private payloadOf(ok: boolean, answer: Answer, what: string): Payload {
    try {
      return { ok, copy: copyOf(answer) };
    } catch (err) {
      this.log.error({ err }, `${what} answer cannot be copied into the sandbox`);
      return { ok: false, copy: copyOf({ value: { code: 'INTERNAL', message: `${what} failed` } }) };
    }
  }

  private deliver(id: number, payload: Payload, deadline: Deadline | undefined): void {
    const ref = this.resolveRef;
    if (ref === undefined) return;
    const timeout = deadline === undefined ? this.limits.timeoutMs : Math.max(1, Math.ceil(deadline.remainingMs()));
    const undelivered = (err: unknown) => this.log.debug({ err }, 'host call answer not delivered (sandbox gone or timed out)');
    try {
      const entry = ref.apply(undefined, [id, payload.ok, payload.copy], { timeout });
      this.trackEntry?.(entry);
      entry.catch(undelivered);
    } catch (err) {
      undelivered(err);
    }
  }

  private toFailure(err: unknown, what: string): BridgeFailure {
    if (err instanceof ServeError) {
      const details = detailsForSandbox(err);
      return details === undefined ? { code: err.code, message: err.message } : { code: err.code, message: err.message, details };
    }
    this.log.error({ err }, `${what} failed in the host`);
    return { code: 'INTERNAL', message: `${what} failed` };
  }
}

/** The flow's prepared args: JSON text when they were plain JSON (they are an object otherwise). */
function fromPayload(prepared: unknown): unknown {
  if (typeof prepared !== 'string') return prepared;
  try {
    return JSON.parse(prepared) as unknown;
  } catch {
    // Text from the isolate is untrusted: it fails this call, it never throws outside it.
    throw new ServeError('SCRIPT_FAILED', 'the args for the model step could not be read from the sandbox');
  }
}

/** The answer as a one-use copy for the isolate, moving `transfer` in when it can be detached. */
function copyOf(answer: Answer): ivm.Copy<unknown> {
  if (answer.transfer !== undefined) {
    try {
      return new ivm.ExternalCopy(answer.value, { transferList: [answer.transfer] }).copyInto({ release: true, transferIn: true });
    } catch {
      // not detachable (e.g. a buffer Node shares): copy it instead
    }
  }
  return new ivm.ExternalCopy(answer.value).copyInto({ release: true });
}
