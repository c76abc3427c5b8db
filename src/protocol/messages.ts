import type { ErrorCode } from '../errors.js';
import type { TensorSpec } from '../worker/runtimes/types.js';

/**
 * Messages between the front and its runtime workers (encoded by frame.ts).
 * Every request carries an `id`; the worker answers each with exactly one `reply`.
 */

/** Where a model version lives and how to load it; `key` changes whenever the files could. */
export interface ModelRef {
  readonly key: string;
  readonly name: string;
  readonly version: number;
  readonly format: string;
  readonly dir: string;
  readonly mainFile: string;
  readonly bytes: number;
}

/** The request arguments of the DaaS contract: records (or a split table) and uploaded files. */
export interface InvokeArgs {
  X?: unknown;
  files?: Record<string, UploadedFile>;
  [extra: string]: unknown;
}

export interface UploadedFile {
  readonly name: string;
  readonly type: string;
  readonly size: number;
  readonly bytes: Uint8Array;
}

export interface InspectRequest {
  readonly t: 'inspect';
  readonly id: number;
  readonly format: string;
  readonly dir: string;
  readonly mainFile: string;
}

/** Limits of one sandbox (see config `sandbox.*`). */
export interface ScriptLimits {
  readonly timeoutMs: number;
  readonly memoryLimitMb: number;
  readonly maxLogLines: number;
  readonly maxLogBytes: number;
}

/** A custom script and the sandboxes a worker keeps for it. */
export interface ScriptRef {
  /** Whose sandboxes: a deployment name, or "test:<revision>" for inline script tests. */
  readonly owner: string;
  /** Changes whenever the script, its limits or the model version change. */
  readonly revision: string;
  readonly text: string;
  readonly limits: ScriptLimits;
  /** Sandboxes (isolates) this worker keeps for the owner: how many calls run scripts at once here. */
  readonly replicas: number;
}

export interface InvokeRequest {
  readonly t: 'invoke';
  readonly id: number;
  readonly model: ModelRef;
  /** The function called: "predict" or a script function. */
  readonly fn: string;
  readonly args: InvokeArgs;
  readonly script?: ScriptRef;
}

/** Builds a script's sandboxes (running init) ahead of traffic; answers the script's function names. */
export interface PrepareRequest {
  readonly t: 'prepare';
  readonly id: number;
  readonly model: ModelRef;
  readonly script: ScriptRef;
}

/** Disposes the sandboxes of an owner (deployment deleted or moved). */
export interface DropRequest {
  readonly t: 'drop';
  readonly id: number;
  readonly owner: string;
}

export interface EvictRequest {
  readonly t: 'evict';
  readonly id: number;
  /** Model name; with `version`, only that version. */
  readonly name: string;
  readonly version?: number;
}

export interface StatsRequest {
  readonly t: 'stats';
  readonly id: number;
}

export type WorkerRequest = InspectRequest | InvokeRequest | PrepareRequest | DropRequest | EvictRequest | StatsRequest;

export interface ModelSignature {
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
  readonly backend: string;
}

/** What inspecting a staged upload found, and what it added to serve it. */
export interface InspectResult extends ModelSignature {
  /** The file the runtime loads (may be a serving copy written next to the upload). */
  readonly mainFile: string;
  /** Files the worker wrote into the staging folder (serving copies, notes). */
  readonly written: readonly string[];
}

export interface InvokeResult {
  readonly result: unknown;
  readonly stdout: readonly string[];
  readonly stderr: readonly string[];
  /** Stage timings in milliseconds, for the access log. */
  readonly timings: Readonly<Record<string, number>>;
}

export interface PoolStats {
  readonly loaded: number;
  readonly bytes: number;
  readonly hits: number;
  readonly misses: number;
  readonly loads: number;
  readonly evictions: number;
}

export interface WorkerStats {
  readonly pid: number;
  readonly pool: PoolStats;
  /** Live sandboxes (isolates) in this worker. */
  readonly sandboxes: number;
  /** Sandboxes built again after a time or memory limit disposed their isolate. */
  readonly rebuilds: number;
  readonly rssBytes: number;
}

export interface WireError {
  readonly code: ErrorCode;
  readonly message: string;
  readonly details?: Readonly<Record<string, unknown>>;
}

export type WorkerReply =
  | { readonly t: 'reply'; readonly id: number; readonly ok: true; readonly value: unknown }
  | { readonly t: 'reply'; readonly id: number; readonly ok: false; readonly error: WireError };

export interface WorkerReady {
  readonly t: 'ready';
  readonly pid: number;
  readonly backends: Readonly<Record<string, string>>;
}

export type WorkerMessage = WorkerReply | WorkerReady;
