import type { DeploymentView, EvaluationView, LabelsView, ModelVersionView, PlacementView, TensorView } from '../api/types.js';
import type { Config } from '../config.js';
import type { ModelRef } from '../protocol/messages.js';
import type { DeploymentRecord, Store, VersionManifest } from '../store/index.js';
import { exampleRecord, PREDICT_FUNCTION, zeroOf, type TensorSpec } from '../model/index.js';

export function tensorView(spec: TensorSpec): TensorView {
  const view: TensorView = { name: spec.name, dtype: spec.dtype, shape: spec.shape === null ? null : [...spec.shape] };
  if (spec.dimNames) view.dim_names = [...spec.dimNames];
  if (spec.kind) view.kind = spec.kind;
  if (spec.classes) view.classes = [...spec.classes];
  return view;
}

export function evaluationView(e: VersionManifest['evaluation']): EvaluationView | null {
  if (e === null || e === undefined) return null;
  const view: EvaluationView = { metric: e.metric, value: e.value, samples: e.samples };
  if (e.yTestKind !== undefined) view.y_test_kind = e.yTestKind;
  return view;
}

export function versionView(m: VersionManifest): ModelVersionView {
  return {
    model_name: m.name,
    model_version: String(m.version),
    format: m.format,
    source_format: m.sourceFormat ?? m.format,
    keras_version: m.kerasVersion ?? null,
    backend: m.backend,
    description: m.description,
    mining_function: m.miningFunction,
    inputs: m.inputs.map(tensorView),
    outputs: m.outputs.map(tensorView),
    sample: m.sample,
    evaluation: evaluationView(m.evaluation),
    ...(m.preprocess ? { preprocess: m.preprocess, ...(m.preprocessSource ? { preprocess_source: m.preprocessSource } : {}) } : {}),
    size: m.bytes,
    sha256: m.sha256,
    files: m.files,
    created: m.createdAt,
  };
}

/** How a worker finds a version; the key changes if a deleted version number is ever reused. */
export function modelRef(store: Store, m: VersionManifest): ModelRef {
  return {
    key: `${m.name}@${m.version}:${m.sha256.slice(0, 16)}:${m.createdAt}`,
    name: m.name,
    version: m.version,
    format: m.format,
    dir: store.models.versionDir(m),
    mainFile: m.mainFile,
    bytes: m.bytes,
  };
}

export function endpointUrl(baseUrl: string, deployment: string, fn = PREDICT_FUNCTION): string {
  return `${baseUrl}/api/v1/svc/${encodeURIComponent(deployment)}/${fn}`;
}

export function deploymentView(d: DeploymentRecord, baseUrl: string, config: Config, placement: PlacementView): DeploymentView {
  return {
    deployment_name: d.name,
    model_name: d.modelName,
    model_version: String(d.modelVersion),
    replicas: d.replicas,
    has_script: d.script !== null,
    endpoint_url: endpointUrl(baseUrl, d.name),
    timeout_ms: d.limits.timeoutMs ?? config.sandbox.timeoutMs,
    memory_limit_mb: d.limits.memoryLimitMb ?? config.sandbox.memoryLimitMb,
    max_result_bytes: d.limits.maxResultBytes ?? config.sandbox.maxResultBytes,
    max_records: d.limits.maxRecords ?? config.limits.maxRecords,
    max_elements: d.limits.maxElements ?? config.limits.maxElements,
    request_timeout_ms: d.limits.requestTimeoutMs ?? config.limits.requestTimeoutMs,
    max_queue: d.limits.maxQueue ?? config.limits.maxQueue,
    max_batch_size: d.limits.maxBatchSize ?? 1,
    max_delay_us: d.limits.maxDelayUs ?? 0,
    preprocess: d.preprocess ?? null,
    preprocess_inferred: d.preprocessInferred === true,
    placement,
    ...(d.labels === undefined ? {} : { labels: labelsView(d.labels) }),
    created: d.createdAt,
    updated: d.updatedAt,
  };
}

/** Per labelled output: how many labels, and whether the scores are the model's probabilities or softmaxed logits. */
export function labelsView(labels: NonNullable<DeploymentRecord['labels']>): LabelsView {
  return { top_k: labels.topK, scores_set: labels.scoresSet ?? 'auto', outputs: labels.outputs.map((o) => ({ output: o.output, count: o.names.length, scores: o.scores })) };
}

/** A record that predicts: the stored sample, or zeros of each input's shape (batch dim dropped). */
export function samplePayload(m: VersionManifest): Record<string, unknown> {
  return m.sample ?? exampleRecord(m.inputs, zeroOf);
}
