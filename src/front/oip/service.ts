import { performance } from 'node:perf_hooks';
import { ServeError } from '../../errors.js';
import { PREDICT_FUNCTION, type Tensor } from '../../model/index.js';
import { PACKAGE_VERSION } from '../../package-info.js';
import type { InvokeResult } from '../../protocol/messages.js';
import type { DeploymentRecord, VersionManifest } from '../../store/index.js';
import { verifyToken } from '../auth/index.js';
import type { AppDeps } from '../deps.js';
import { requestDeadline } from '../deadline.js';
import { invokeDeploymentTensors, invokeVersion } from '../dispatch/invoke.js';
import { checkRequestSize, deploymentSizeLimits, serverSizeLimits } from '../request-size.js';
import { joinOutputs, OIP_DATATYPE, recordsOf, tensorMetadata, type FieldOf, type OipInput, type OipTensorMetadata } from './tensors.js';

/**
 * The Open Inference Protocol (KServe's V2) on inferbox, whatever the transport: REST (rest.ts) and
 * gRPC (grpc.ts) read their requests into these shapes and write the answers out.
 *
 * A protocol "model" is a deployment (its token or the admin token; its one served version) or a
 * published model (the admin token; every version, the latest by default). A deployment shadows a
 * model of the same name. Inference runs the model version without the deployment's script and
 * labels: the protocol sends and answers tensors, which a script's free-form JSON is not.
 */

/** The call counted in a deployment's statistics (GET /api/v1/deployments/{name}/stats): no script function can be named so. */
export const OIP_STATS_FUNCTION = 'v2.infer';

export const SERVER_NAME = 'inferbox';
/** Triton's name for the binary tensor data extension, which its clients look for. */
export const EXTENSIONS = ['binary_tensor_data'] as const;

/** What a protocol name (and version) stands for, once the token is checked. */
export interface OipTarget {
  readonly name: string;
  readonly deployment: DeploymentRecord | null;
  /** The version that answers (the deployment's, or the requested / latest one). */
  readonly manifest: VersionManifest;
  /** The versions that may be asked for. */
  readonly versions: readonly string[];
}

export interface OipModelMetadata {
  readonly name: string;
  readonly versions: readonly string[];
  readonly platform: string;
  readonly inputs: readonly OipTensorMetadata[];
  readonly outputs: readonly OipTensorMetadata[];
}

export interface OipInferRequest {
  readonly id?: string;
  readonly inputs: readonly OipInput[];
  /** Requested outputs by name; absent: all of them. */
  readonly outputs?: readonly string[];
}

export interface OipInferResponse {
  readonly model_name: string;
  readonly model_version: string;
  readonly id?: string;
  /** In the requested order, else the model's. */
  readonly outputs: readonly { name: string; datatype: string; shape: readonly number[]; tensor: Tensor }[];
  /** The worker's stage timings, for the access log. */
  readonly timings: Readonly<Record<string, number>>;
}

/**
 * The platform names: Triton's `onnxruntime_onnx` for ONNX; the others name what was uploaded
 * (Keras files and TF.js models are all served by TensorFlow.js).
 */
const PLATFORM: Readonly<Record<string, string>> = {
  onnx: 'onnxruntime_onnx',
  'keras-h5': 'keras_h5',
  keras3: 'keras_v3',
  'tfjs-layers': 'tensorflowjs_layers',
  'tfjs-graph': 'tensorflowjs_graph',
};

export function platformOf(manifest: VersionManifest): string {
  return PLATFORM[manifest.sourceFormat ?? manifest.format] ?? (manifest.format === 'tfjs' ? 'tensorflowjs' : manifest.format);
}

export function serverMetadata(): { name: string; version: string; extensions: readonly string[] } {
  return { name: SERVER_NAME, version: PACKAGE_VERSION, extensions: EXTENSIONS };
}

/** Whether the server takes inference: a worker is up and it is not draining (as GET /readyz). */
export function serverReady(deps: AppDeps): boolean {
  return !deps.lifecycle.draining && deps.workers.readyCount > 0;
}

/**
 * Checks the token for `name`, then finds what it names. The token is checked before existence
 * (as for /api/v1/svc), so a stranger cannot probe names: a wrong token is 401 whether or not the
 * name exists. `token` null: no credentials were sent.
 */
export function resolveTarget(deps: AppDeps, token: string | null, name: string, version: string | undefined): OipTarget {
  if (token === null) throw new ServeError('AUTH_MISSING_TOKEN', 'this endpoint needs an Authorization: Bearer <token> header');
  const deployment = deps.store.deployments.find(name) ?? null;
  const admin = verifyToken(token, deps.adminTokenHash);
  if (!admin && !(deployment !== null && verifyToken(token, deployment.tokenHash))) {
    throw new ServeError('AUTH_INVALID_TOKEN', `the bearer token is not valid for model "${name}" (a deployment's token, or the admin token)`);
  }
  if (deployment !== null) {
    const served = String(deployment.modelVersion);
    if (version !== undefined && version !== served) {
      throw new ServeError('MODEL_NOT_FOUND', `model "${name}" (a deployment) has only version ${served}, not ${JSON.stringify(version)}`, { versions: [served] });
    }
    return { name, deployment, manifest: deps.store.models.get(deployment.modelName, deployment.modelVersion), versions: [served] };
  }
  let all: VersionManifest[];
  try {
    all = deps.store.models.versions(name);
  } catch (err) {
    if (err instanceof ServeError && err.code === 'MODEL_NOT_FOUND') throw new ServeError('MODEL_NOT_FOUND', `no model or deployment is named "${name}"`);
    throw err;
  }
  const versions = all.map((m) => String(m.version));
  let manifest = all.at(-1)!;
  if (version !== undefined) {
    const found = all.find((m) => String(m.version) === version);
    if (found === undefined) throw new ServeError('MODEL_NOT_FOUND', `model "${name}" has no version ${JSON.stringify(version)} (versions: ${versions.join(', ')})`, { versions });
    manifest = found;
  }
  return { name, deployment: null, manifest, versions };
}

export function modelMetadata(target: OipTarget): OipModelMetadata {
  const { manifest } = target;
  return { name: target.name, versions: target.versions, platform: platformOf(manifest), inputs: tensorMetadata(manifest.inputs), outputs: tensorMetadata(manifest.outputs) };
}

/** A target is ready when the server is, and a deployment once it is placed on workers. */
export function modelReady(deps: AppDeps, target: OipTarget): boolean {
  if (!serverReady(deps)) return false;
  if (target.deployment === null) return true;
  try {
    return deps.placer.served(target.name).placement.workers.length > 0;
  } catch {
    return false;
  }
}

/** When the call arrived (Date.now() time) and the client's own timeout in ms (REST `Request-Timeout`, a gRPC deadline). */
export interface CallBounds {
  readonly receivedAt: number;
  readonly clientTimeoutMs?: number;
  /** Hears a deployment's call as /metrics counts it (the REST route: inferbox_calls_total, stages, batch sizes). */
  readonly onCall?: (call: { fn: string; ms: number; frontQueueMs?: number; batchRows?: number }) => void;
}

/**
 * Runs one inference: the inputs are checked against the version's signature here (names,
 * datatypes, shapes, value counts) and sent as one record to a worker, which binds them as it binds
 * every call (records -> tensors) and answers the output tensors.
 */
export async function infer(deps: AppDeps, target: OipTarget, request: OipInferRequest, fieldOf: FieldOf, bounds: CallBounds): Promise<OipInferResponse> {
  const { manifest, deployment } = target;
  if (request.inputs.length === 0) throw new ServeError('REQUEST_INVALID', 'inputs must list at least one input tensor', { field: 'inputs' });
  const known = new Set(tensorMetadata(manifest.outputs).map((o) => o.name));
  for (const name of request.outputs ?? []) {
    if (!known.has(name)) {
      throw new ServeError('REQUEST_INVALID', `output '${name}' is not an output of model "${target.name}" (outputs: ${[...known].map((n) => `'${n}'`).join(', ')})`, { field: 'outputs' });
    }
  }
  const args = { X: recordsOf(request.inputs, manifest.inputs, fieldOf) };
  checkRequestSize(args, deployment === null ? serverSizeLimits(deps.config) : deploymentSizeLimits(deployment, deps.config));
  // The deployment's request_timeout_ms (or limits.requestTimeoutMs), shortened by the client's own.
  const deadline = requestDeadline(deps.config, deployment, bounds.receivedAt, bounds.clientTimeoutMs);
  let out: InvokeResult;
  if (deployment === null) {
    out = await invokeVersion(deps, manifest, PREDICT_FUNCTION, args, { tensors: true, deadline });
  } else {
    const started = performance.now();
    let frontQueueMs: number | undefined;
    const onWorker = (worker: number) => {
      frontQueueMs = performance.now() - started;
      deps.stats.sentTo(deployment.name, worker);
    };
    const queued = () => (frontQueueMs === undefined ? {} : { frontQueueMs });
    try {
      out = await invokeDeploymentTensors(deps, deployment.name, args, onWorker, { deadline });
      const ms = performance.now() - started;
      deps.stats.record(deployment.name, OIP_STATS_FUNCTION, ms, true);
      bounds.onCall?.({ fn: OIP_STATS_FUNCTION, ms, ...queued(), ...(out.batchRows === undefined ? {} : { batchRows: out.batchRows }) });
    } catch (err) {
      const ms = performance.now() - started;
      deps.stats.record(deployment.name, OIP_STATS_FUNCTION, ms, false);
      bounds.onCall?.({ fn: OIP_STATS_FUNCTION, ms, ...queued() });
      throw err;
    }
  }
  const tensors = joinOutputs((out.result as { outputs: Readonly<Record<string, Tensor>>[] }).outputs);
  const names = request.outputs ?? manifest.outputs.filter((o) => o.dtype !== null).map((o) => o.name);
  const outputs = names.flatMap((name) => {
    const tensor = tensors[name];
    return tensor === undefined ? [] : [{ name, datatype: OIP_DATATYPE[tensor.dtype], shape: tensor.shape, tensor }];
  });
  return { model_name: target.name, model_version: String(manifest.version), ...(request.id !== undefined ? { id: request.id } : {}), outputs, timings: out.timings };
}
