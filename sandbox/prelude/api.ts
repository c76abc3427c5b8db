/**
 * The contract between the prelude and the host (the worker's sandbox-host/): what setup is given,
 * and the shapes it hands back. Types only, so the bundle gets no code from this file.
 */

export interface PreludeOptions {
  readonly maxLogLines: number;
  readonly maxLogBytes: number;
  /** The user script's filename in stack traces, e.g. "script.js". */
  readonly scriptFilename: string;
}
export interface PreludeLogs {
  out: string[];
  err: string[];
  /** 0: nothing dropped; 1 or 2: output was dropped, first on stdout (1) or stderr (2). */
  dropped: 0 | 1 | 2;
}
export type PreludeEnvelope =
  | { kind: 'ok'; value: unknown; logs: PreludeLogs | null }
  /** The common case, cheaper to hand over than an object: ok, nothing printed, the value as JSON text. */
  | string
  /** The function answered a promise: its end is told to the host later, through EndCall with this `call`. */
  | { kind: 'pending'; call: number }
  | { kind: 'missing'; logs: PreludeLogs | null }
  | { kind: 'rejected'; message: string; logs: PreludeLogs | null }
  /** `code` and `details` (the host's JSON text) only for errors the host made: see errors.ts. */
  | { kind: 'threw'; name: string; message: string; report: string; code: string | null; details?: string | null; logs: PreludeLogs | null };
/**
 * The model step's answer: one row per record (postprocess's argument, the outputs in order; or the
 * record itself when there is no postprocess), the output names postprocess's arrays zip with, and
 * whether the request came as a split table.
 */
export interface FlowRows {
  rows: unknown[];
  names: string[];
  split: boolean;
}
/** The flow's arguments in one (as JSON text when the args are plain JSON): one value crosses, not seven. */
export type FlowCall = [args: unknown, linesLeft: number, bytesLeft: number, truncated: boolean, files: boolean, prepare: string | null, postprocess: boolean];
export interface PreludeApi {
  /** `args` comes as JSON text when the host found it plain JSON (cheaper to copy than objects). */
  dispatch(name: string, args: unknown[] | string, linesLeft: number, bytesLeft: number, truncated: boolean): PreludeEnvelope;
  /**
   * The predict flow in one call: preprocess_files (when `files`), then `prepare` (its name, or null),
   * then the model, then postprocess per record (when `postprocess`). Answers like dispatch, with the
   * call's result: the records, or `{ columns, data }` for a split table.
   */
  flow(call: FlowCall | string): PreludeEnvelope;
  drain(): PreludeLogs | null;
  /** Runs the user's script (already syntax-checked on the host) and finds its top-level functions. */
  load(source: string, candidates: string[], linesLeft: number, bytesLeft: number): PreludeEnvelope;
  /** Settles host call `id` (model.run or image); payload is its answer, or a HostFailure. */
  resolveHost(id: number, ok: boolean, payload: unknown): void;
}

/** A failed host call: the server's code and message, and its details as JSON text when it has some. */
export interface HostFailure {
  code: string;
  message: string;
  details?: string;
}

/** The host's Callbacks, handed to setup once; host-calls.ts keeps them where no global leads. */
export type StartRun = (id: number, feeds: unknown) => void;
export type StartImage = (id: number, bytes: Uint8Array, options: unknown, field: string, name: string) => void;
/**
 * The flow's model step while the host is inside the flow call. `prepared` is the args as JSON
 * text when they are plain JSON, else as data. Answers FlowRows (as JSON text when they are plain
 * JSON), null to run the step asynchronously instead (through startInfer), or a HostFailure.
 */
export type InferSync = (prepared: unknown) => unknown;
export type StartInfer = (id: number, prepared: unknown) => void;
/**
 * image() answered inside the host's call, when the host decodes the file without waiting: the
 * image, null to decode it through StartImage instead, or a HostFailure.
 */
/**
 * The end of a call whose function answered a promise, pushed to the host once it settles (an
 * ignored Callback: no entry of the host's into the isolate waits for it).
 */
export type EndCall = (call: number, envelope: PreludeEnvelope) => void;
export type ImageNow = (bytes: Uint8Array, options: unknown, field: string, name: string) => unknown;
