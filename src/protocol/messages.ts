import type { ErrorCode } from '../errors.js';
import type { ImpliedPreprocess, KerasInputPreprocessing, PreprocessBlock, ServingFormat, SourceFormat, TensorSpec } from '../model/index.js';
import type { ScriptLimits } from './worker-config.js';

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

/** One uploaded file as staged for publish: where it is in the staging folder, and the client's name for it. */
export interface StagedUpload {
  readonly stored: string;
  readonly filename: string;
}

/** Asks the scratch worker to turn staged uploads into a servable version and read its signature. */
export interface InspectRequest {
  readonly t: 'inspect';
  readonly id: number;
  readonly dir: string;
  readonly uploads: readonly StagedUpload[];
  /** What an uploaded zip may inflate to (limits.maxModelBytes). */
  readonly maxUnzippedBytes: number;
}

export type { ScriptLimits };

/**
 * Names a script revision whose sandboxes a worker may already keep. Invokes send only this: the
 * worker builds a revision from a prepare (or an earlier invoke) and keeps it; one that lacks the
 * revision answers SCRIPT_NOT_LOADED and the front sends the invoke again with the full ScriptRef.
 * Sending the text and limits every time would cost each request their size twice (encode, decode).
 */
export interface ScriptHandle {
  /** Whose sandboxes: a deployment name, or "test:<revision>" for inline script tests. */
  readonly owner: string;
  /** Changes whenever the script, its limits or the model version change. */
  readonly revision: string;
}

/** A custom script and the sandboxes a worker keeps for it: what building a revision needs. */
export interface ScriptRef extends ScriptHandle {
  readonly text: string;
  readonly limits: ScriptLimits;
  /** Sandboxes (isolates) this worker keeps for the owner: how many calls run scripts at once here. */
  readonly replicas: number;
  /** The deployment's preprocess block: what `file.image()` without options does for a file under a blocked input's name. */
  readonly preprocess?: PreprocessBlock;
}

export interface InvokeRequest {
  readonly t: 'invoke';
  readonly id: number;
  readonly model: ModelRef;
  /** The function called: "predict" or a script function. */
  readonly fn: string;
  /**
   * A string is the args as JSON text: script predict invokes without files send that, and the
   * worker hands it to the sandbox without parsing it and encoding it again. Calls without a
   * script send the object: without files it is plain JSON in the frame, parsed once in the
   * worker with the rest of the message.
   */
  readonly args: InvokeArgs | string;
  readonly script?: ScriptHandle | ScriptRef;
  /** The deployment's preprocess block: how the pipeline without a script feeds uploaded images. */
  readonly preprocess?: PreprocessBlock;
  /** A deployment's labels (calls without a script only): those outputs answer their top labels. */
  readonly labels?: LabelsRef;
  /**
   * When the front stops waiting for the answer (Date.now() time; both processes share the clock).
   * A worker that picks the request up later drops it (DEADLINE_EXCEEDED) instead of running it.
   */
  readonly deadline?: number;
  /**
   * Calls without a script only: answer each record's output tensors as they are (`result` is
   * `{ outputs: { name: Tensor }[] }`, typed arrays that travel as raw bytes), not as JSON. The Open
   * Inference Protocol (front/oip/) asks so: it wants dtypes and shapes, and no class maps or labels.
   */
  readonly tensors?: true;
  /** A deployment's dynamic batching, when on (max_batch_size > 1): its model step may share runs with concurrent calls. */
  readonly batching?: BatchingRef;
}

/** Dynamic batching of one deployment: concurrent calls' records stacked into shared model runs (worker/models/batcher.ts). */
export interface BatchingRef {
  /** Whose calls may share a run (the deployment's name): runs never mix deployments, whose settings may differ. */
  readonly owner: string;
  /** Most rows (entries of the first dimension) one run takes. */
  readonly maxBatchSize: number;
  /** Microseconds a run may wait for more calls once the first is waiting. */
  readonly maxDelayUs: number;
}

/** How a labelled output's values become scores (front/deployment-labels.ts). */
export type LabelScores = 'probabilities' | 'softmax' | 'sigmoid';

/** Labels of a deployment without a script: each labelled output's rows answer `[{ label, score }]`, best first. */
export interface LabelsRef {
  readonly topK: number;
  readonly outputs: readonly OutputLabels[];
}

export interface OutputLabels {
  readonly output: string;
  /** One per class, in the order of the output's last dimension. */
  readonly names: readonly string[];
  /** How the output's values become scores: kept (already probabilities), softmax per row, or sigmoid per value. */
  readonly scores: LabelScores;
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

/** Loads a model version into the worker's pool ahead of traffic (the deployment was placed there). */
export interface WarmRequest {
  readonly t: 'warm';
  readonly id: number;
  readonly model: ModelRef;
}

export interface StatsRequest {
  readonly t: 'stats';
  readonly id: number;
}

export type WorkerRequest = InspectRequest | InvokeRequest | PrepareRequest | DropRequest | EvictRequest | WarmRequest | StatsRequest;

export interface ModelSignature {
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
  readonly backend: string;
}

export type { SourceFormat };

/** How staged uploads are served: the runtime format, the file it loads, and what was written for it. */
export interface PreparedUpload {
  /** The runtime that serves it (Keras files are converted to TF.js). */
  readonly format: ServingFormat;
  readonly sourceFormat: SourceFormat;
  /** The Keras version that saved a Keras upload; null for other formats. */
  readonly kerasVersion: string | null;
  /** The staged upload whose hash identifies the version (the one model file, model.json, or the zip). */
  readonly primary: string;
  /** The file the runtime loads (may be a serving copy written next to the upload). */
  readonly mainFile: string;
  /** Files the worker wrote into the staging folder (converted artefacts, serving copies, notes). */
  readonly written: readonly string[];
  /** An ONNX model's metadata_props (key -> value); absent for other formats. */
  readonly metadataProps?: Readonly<Record<string, string>>;
  /** A Keras model's leading preprocessing layers per input; absent for other formats. */
  readonly kerasPreprocessing?: readonly KerasInputPreprocessing[];
}

/** What inspecting a staged upload found, and what it added to serve it. */
export interface InspectResult extends ModelSignature, PreparedUpload {
  /** The preprocess block the model file implies (ONNX metadata_props, Keras preprocessing layers) and why, or null. */
  readonly preprocess: ImpliedPreprocess | null;
}

export interface InvokeResult {
  readonly result: unknown;
  /**
   * The result as JSON instead of `result` (which is then undefined): a script's answer, serialized
   * once (in the sandbox, or in the worker for typed arrays, Map, BigInt...), or what a call without
   * a script computed, which the front puts in the response body as it is. Large texts come as
   * UTF-8 bytes: they then travel as a raw blob of the frame, which the front never turns into a
   * string (see frame.ts).
   */
  readonly resultJson?: string | Uint8Array;
  readonly stdout: readonly string[];
  readonly stderr: readonly string[];
  /**
   * Stage timings in milliseconds, for the access log and the stage histograms of /metrics:
   * `queueMs` (waiting in the worker for a batched run), `preprocessMs`, `inferMs`, `postprocessMs`
   * (see STAGE_TIMINGS), and others a path adds (`loadMs` for a model's first load, `scriptMs`).
   */
  readonly timings: Readonly<Record<string, number>>;
  /**
   * Rows of the batched model run this call led (the first call taken into it), absent otherwise:
   * the front counts each run once in its batch-size histogram.
   */
  readonly batchRows?: number;
}

/** The timings keys that feed the `stage` label of inferbox_stage_duration_seconds, by stage. */
export const STAGE_TIMINGS = { queue: 'queueMs', preprocess: 'preprocessMs', inference: 'inferMs', postprocess: 'postprocessMs' } as const;

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

/** Sent when a lazily started backend (tfjs) comes up in a worker, so /healthz shows what runs. */
export interface WorkerBackendStarted {
  readonly t: 'backend';
  readonly format: string;
  readonly backend: string;
}

/**
 * Sent when the worker can no longer be trusted to run work to completion (an isolate's thread
 * kept running after it was disposed): the front stops sending it work, lets what it has in flight
 * finish, then replaces it.
 */
export interface WorkerRetire {
  readonly t: 'retire';
  readonly reason: string;
}

export type WorkerMessage = WorkerReply | WorkerReady | WorkerBackendStarted | WorkerRetire;
