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

export interface InvokeRequest {
  readonly t: 'invoke';
  readonly id: number;
  readonly model: ModelRef;
  /** The function called: "predict" or a script function. */
  readonly fn: string;
  readonly args: InvokeArgs;
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

export type WorkerRequest = InspectRequest | InvokeRequest | EvictRequest | StatsRequest;

export interface ModelSignature {
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
  readonly backend: string;
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
