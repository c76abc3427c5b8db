/**
 * Response bodies of the REST contract, shared by the front and the client SDK.
 * Field names follow the DaaS client (snake_case) so its payloads work unchanged.
 */
import type { PreprocessSource, PreprocessSpec } from '../model/index.js';

/** Where a version's implied preprocess block came from: `onnx_metadata_props` or `keras_layers`, and a sentence saying why. */
export type PreprocessSourceView = PreprocessSource;

/** A tensor as the API shows it; -1 marks a free dimension. */
export interface TensorView {
  name: string;
  /** null for a value that is not a tensor (e.g. a ZipMap's sequence of maps), which is not returned. */
  dtype: string | null;
  shape: number[] | null;
  /** Symbolic names of free dimensions, where the model file has them. */
  dim_names?: (string | null)[];
  kind?: string;
  /** A probability output returned as `{ label: probability }` per row (scikit-learn ZipMap). */
  classes?: (number | string)[];
}

export interface PublishResponse {
  model_name: string;
  model_version: string;
  /** The score on x_test/y_test, when both were sent (the version view's `evaluation`). */
  evaluation?: EvaluationView;
}

/**
 * Accuracy (classification) or R² (regression) on the x_test/y_test sent at publish, with how
 * y_test was read: class labels, one-hot rows, rows of probabilities (scored by their argmax) or
 * regression values (absent for versions published before it was recorded).
 */
export interface EvaluationView {
  metric: 'accuracy' | 'r2';
  value: number;
  samples: number;
  y_test_kind?: 'labels' | 'one_hot' | 'probabilities' | 'values';
}

/** `GET /api/v1/models/{name}/versions/{version}/example`: a body for `POST /api/v1/test`. */
export interface ExampleBody {
  args: { model_name: string; model_version: string; X: Record<string, unknown>[] };
}

export interface ModelVersionView {
  model_name: string;
  model_version: string;
  /** The runtime format served: "onnx" or "tfjs" (Keras uploads are converted to TF.js). */
  format: string;
  /** What was uploaded: "onnx", "keras-h5", "keras3", "tfjs-layers" or "tfjs-graph". */
  source_format: string;
  /** The Keras version that saved a Keras upload, else null. */
  keras_version: string | null;
  backend: string;
  description: string;
  mining_function: string | null;
  inputs: TensorView[];
  outputs: TensorView[];
  /** One record that predicts: the first row of x_test, or null. */
  sample: Record<string, unknown> | null;
  /** The score on the x_test/y_test sent at publish, or null. */
  evaluation: EvaluationView | null;
  /**
   * Present when the model file says how it wants images (ONNX metadata_props, WinML's
   * Image.BitmapPixelFormat / Image.NominalPixelRange; or a Keras model's own leading Rescaling,
   * Normalization, Resizing, CenterCrop layers): the preprocess block that implies, which a new
   * deployment of the version takes unless its body gives one.
   */
  preprocess?: Record<string, PreprocessSpec>;
  /** With `preprocess`: what in the file implied it, and why (so a user can tell whether to correct it). */
  preprocess_source?: PreprocessSourceView;
  size: number;
  sha256: string;
  files: { name: string; bytes: number; sha256: string }[];
  created: string;
}

/** One entry of `GET /api/v1/models`. */
export interface ModelSummary {
  model_name: string;
  latest_version: string;
  versions: string[];
  format: string;
  /** What the latest version was uploaded as, e.g. "keras-h5" (see ModelVersionView). */
  source_format: string;
  description: string;
  /** Bytes of the latest version's files. */
  size: number;
  created: string;
}

export interface ModelView {
  model_name: string;
  latest_version: string;
  versions: ModelVersionView[];
}

export interface PredictResponse {
  result: unknown;
  stdout?: string[];
  stderr?: string[];
}

/** Why a deployment is kept apart from the others, and until when (it answered such an error meanwhile). */
export interface MisbehaviourView {
  /** The last of its answers that marked it: a script call over its time or memory limit, or one that took its worker down. */
  reason: 'SCRIPT_TIMEOUT' | 'SCRIPT_MEMORY_LIMIT' | 'SCRIPT_CRASHED';
  /** When the first of them came (ISO 8601). */
  since: string;
  /** When it is placed like the others again unless another such answer comes first (ISO 8601). */
  until: string;
}

/**
 * The runtime workers that serve a deployment: `replicas` of them, at most `workers.count`
 * (fewer while it misbehaves and others need a worker free of it).
 */
export interface PlacementView {
  /** Serving runtime workers (0-based, as in /healthz) that take the deployment's requests. */
  workers: number[];
  /** With a script: its sandboxes on each of those workers, by worker index; `{}` without a script. */
  sandboxes: Record<string, number>;
  /** Set while the deployment misbehaves and is kept on workers the others avoid; null otherwise. */
  misbehaving: MisbehaviourView | null;
}

export interface DeploymentView {
  deployment_name: string;
  model_name: string;
  model_version: string;
  /** Runtime workers that serve it (and, with a script, its sandboxes): see `placement`. */
  replicas: number;
  has_script: boolean;
  endpoint_url: string;
  timeout_ms: number;
  memory_limit_mb: number;
  /** Bytes a script's result may take as JSON (the deployment's own, or sandbox.maxResultBytes). */
  max_result_bytes: number;
  /** Most records (rows of `args.X`) one call may carry: the deployment's own, else `limits.maxRecords`. */
  max_records: number;
  /** Most values one call's arguments may hold (files aside): the deployment's own, else `limits.maxElements`. */
  max_elements: number;
  /** A call's deadline from its arrival, ms (the deployment's own, else `limits.requestTimeoutMs`); past it 504 DEADLINE_EXCEEDED. */
  request_timeout_ms: number;
  /** Calls that may wait in the front for a worker slot (the deployment's own, else `limits.maxQueue`); beyond, 503 OVERLOADED. */
  max_queue: number;
  /** Dynamic batching: most rows one model run takes from concurrent calls; 1 is off (the default). */
  max_batch_size: number;
  /** Dynamic batching: microseconds a model run may wait for more calls once one is waiting. */
  max_delay_us: number;
  /** Declarative image preprocessing per image input (docs/uploads.md); null for none. */
  preprocess: Record<string, PreprocessSpec> | null;
  /** True when `preprocess` is the block the model version implies (see ModelVersionView.preprocess_source), taken because the deploy call gave none. */
  preprocess_inferred: boolean;
  placement: PlacementView;
  /** Present when outputs answer labels (deployments without a script). */
  labels?: LabelsView;
  created: string;
  updated: string;
}

/** A deployment's labels: per labelled output, how many, and whether its scores are softmaxed logits or the model's probabilities. */
export interface LabelsView {
  top_k: number;
  /** "auto": each output's scores were detected from a run of the sample; otherwise the deployment's choice. */
  scores_set: 'auto' | 'probabilities' | 'softmax' | 'sigmoid';
  outputs: { output: string; count: number; scores: 'probabilities' | 'softmax' | 'sigmoid' }[];
}

/** A deployment's new token (POST /api/v1/deployments/{name}/token); the previous one stops working. */
export interface TokenResponse {
  deployment_name: string;
  access_token: string;
}

export interface CreateDeploymentResponse extends DeploymentView {
  access_token: string;
  payload: { args: { X: Record<string, unknown>[] } };
}

/** One function's calls on a deployment since the server started (GET /api/v1/deployments/{name}/stats). */
export interface FunctionStatsView {
  function: string;
  count: number;
  /** Calls that answered an error (any status >= 400). */
  errors: number;
  /** Wall time in the front, from the request to the answer. median: over the last 1,024 calls. */
  latency_ms: { avg: number; median: number; min: number; max: number };
  first_call: string;
  last_call: string;
}

export interface DeploymentStatsView {
  deployment_name: string;
  /** When counting started: the server's start. Statistics are kept in memory, per server process. */
  since: string;
  /** The script's sandboxes: none (no script), running, or quarantined (it crashed its worker twice). */
  sandboxes: { state: 'none' | 'running' | 'quarantined'; replicas: number; crashes: number };
  /**
   * Where its requests went: per worker, the calls sent there since the server started and those in
   * flight there now (one entry per worker it is placed on or was sent calls), and how many wait in
   * the front for a slot (`workers.maxInflightPerDeployment`).
   */
  dispatch: { queued: number; workers: { worker: number; calls: number; in_flight: number }[] };
  functions: FunctionStatsView[];
}

/** Every error answer: the one body src/errors.ts renders. */
export type { ErrorBody as ErrorResponse } from '../errors.js';
