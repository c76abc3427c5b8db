/**
 * Public contracts of the sandbox host: what the runtime worker passes in and gets back.
 * Implementation lives in sandbox.ts / replica.ts; the isolate side in sandbox/prelude.ts.
 */
import type { Logger } from '../../log.js';
import type { TensorSpec } from '../runtimes/types.js';

/** Limits of one sandbox. isolated-vm mixes units, so every name carries its unit. */
export interface SandboxLimits {
  /** Wall time one call may take in the script, ms. Time spent awaiting `model.run` or `file.image` does not count. */
  readonly timeoutMs: number;
  /** Isolate heap limit, MB (approximate: V8 may overshoot it 2–3× before stopping a hostile script). */
  readonly memoryLimitMb: number;
  /** console lines one request may keep, across all its calls. */
  readonly maxLogLines: number;
  /** console bytes (UTF-8) one request may keep, across all its calls. */
  readonly maxLogBytes: number;
}

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
   * runModel: e.g. INPUT_IMAGE_INVALID for an unreadable upload, SCRIPT_FAILED for a bad option.
   */
  decodeImage(bytes: Uint8Array, options: unknown, file: { field: string; name: string }): Promise<{ data: Float32Array | Uint8Array; shape: number[] }>;
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
