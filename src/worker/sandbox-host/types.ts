/**
 * Public contracts of the sandbox host: what the runtime worker passes in and gets back.
 * Implementation lives in sandbox.ts / replica.ts; the isolate side in sandbox/prelude/ (bundled by sandbox/build.mjs).
 */
import type { Logger } from '../../log.js';
import type { ScriptLimits } from '../../protocol/index.js';
import type { TensorSpec } from '../runtimes/types.js';
import type { CallPacer } from './pacer.js';

/** Limits of one sandbox: the front's ScriptLimits (src/protocol/worker-config.ts), as the host calls them. */
export type SandboxLimits = ScriptLimits;

/** What `init(ctx)` sees as `ctx.model`, and the global `model` carries. */
export interface ScriptModelInfo {
  readonly name: string;
  readonly version: string;
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
}

/** Host capabilities offered to scripts, each exposed as an ivm.Callback (copied args), never a Reference. */
export interface HostBridge {
  /**
   * Backs `await model.run(feeds)` in scripts: feeds is `{ [inputName]: nested number arrays | { data: TypedArray|number[], shape: number[] } }`;
   * resolves to `{ [outputName]: nested arrays }`. May reject with a ServeError: its code and message reach
   * the script as an Error it can catch (`err.code`), and if uncaught the request fails with that same code.
   */
  runModel(feeds: Record<string, unknown>): Promise<Record<string, unknown>>;
  /**
   * Backs `await file.image(options)` in scripts: decodes an upload's bytes (a copy the bridge may
   * keep) as `options` ask (unchecked: the script's own value). Resolves to a typed array and its
   * shape; the sandbox may take over (detach) `data.buffer` when `data` covers it whole. Rejects like
   * runModel: e.g. INPUT_IMAGE_INVALID for an unreadable upload, SCRIPT_FAILED for a bad option,
   * INPUT_IMAGE_TOO_LARGE, before decoding, for a tensor over `sandbox.maxTensorBytes`.
   */
  decodeImage(
    bytes: Uint8Array,
    options: unknown,
    file: { field: string; name: string },
    sandbox: { maxTensorBytes: number; memoryLimitMb: number },
  ): Promise<{ data: Float32Array | Uint16Array | Uint8Array; shape: number[] }>;
  /**
   * decodeImage for an image the host decodes without waiting (a small PNG: microseconds on this
   * thread, see src/worker/images/decode.ts), so a script's image() is answered inside its entry;
   * null for any other image, which then takes decodeImage. Throws as decodeImage rejects.
   */
  decodeImageNow?(
    bytes: Uint8Array,
    options: unknown,
    file: { field: string; name: string },
    sandbox: { maxTensorBytes: number; memoryLimitMb: number },
  ): { data: Float32Array | Uint16Array | Uint8Array; shape: number[] } | null;
}

export type { FlowPlan } from '../../model/index.js';

/** The model step's answer (see FlowRows in sandbox/prelude/api.ts). */
export interface FlowRows {
  /** One per record: the outputs in order (postprocess's argument), or the record itself without postprocess. */
  readonly rows: unknown[];
  /** The output names postprocess's arrays zip with. */
  readonly names: readonly string[];
  /** The request came as a split table `{ columns, data }`, and the result goes back as one. */
  readonly split: boolean;
}

/**
 * The model step of one predict flow, for the request being served: the prepared args (copied out of
 * the isolate) in, one row per record out. Both throw ServeError for args the model cannot take.
 */
export interface FlowModel {
  /**
   * Runs the model now, or answers null to have it run through `run` (asynchronously) instead.
   * May answer JSON text of the FlowRows when it knows they are plain JSON.
   */
  runSync(prepared: unknown): string | FlowRows | null;
  run(prepared: unknown): Promise<FlowRows>;
}

/** Per-request log budget, shared by all calls of one request; the sandbox decrements it. */
export interface LogBudget {
  lines: number;
  bytes: number;
  /** Set once output was dropped; the marker line has then been written. */
  truncated: boolean;
}

export interface CallResult {
  /** The function's return value (or resolved value), copied out of the isolate. */
  readonly value: unknown;
  /** The value left the isolate as JSON text: it holds only JSON values. */
  readonly json: boolean;
  /**
   * That JSON text (checked against limits.maxResultBytes), for the caller to pass on unparsed.
   * A predict flow's synchronous answer is not parsed at all: `value` is then undefined.
   */
  readonly text?: string;
  /** What this call printed with console.log/info/debug/dir. */
  readonly stdout: string[];
  /** What this call printed with console.warn/error/trace/assert, then the stack of an uncaught error. */
  readonly stderr: string[];
}

export interface SandboxOptions {
  /** The user's JavaScript. Compiled as its own script ("script.js") so errors carry its line numbers. */
  readonly script: string;
  readonly limits: SandboxLimits;
  readonly model: ScriptModelInfo;
  readonly bridge: HostBridge;
  readonly log: Logger;
  /**
   * Chooses synchronous or asynchronous isolate entries per call (see pacer.ts). A replica passes
   * its one pacer to every isolate it builds; by default each Sandbox gets its own, adaptive.
   */
  readonly pacer?: CallPacer;
  /**
   * Called when a disposed isolate's thread does not come back: isolated-vm could not stop what it
   * runs (see STUCK_AFTER_MS in sandbox.ts). The thread stays busy until the process ends, so the
   * worker should stop taking work and be replaced.
   */
  readonly onStuck?: (what: string) => void;
}

/** Heap figures of one isolate, bytes. */
export interface SandboxHeap {
  readonly usedHeapBytes: number;
  readonly totalHeapBytes: number;
  readonly externalBytes: number;
  readonly heapLimitBytes: number;
}

/** A fresh budget for one request. */
export function createLogBudget(limits: Pick<SandboxLimits, 'maxLogLines' | 'maxLogBytes'>): LogBudget {
  return { lines: limits.maxLogLines, bytes: limits.maxLogBytes, truncated: false };
}
