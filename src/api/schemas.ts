import { z } from 'zod';
import { ServeError } from '../errors.js';

/** Request bodies of the REST contract (docs/api/), parsed at the edge into typed values. */

const version = z.union([z.number().int().min(1), z.string().regex(/^(\d+|latest)$/, 'a version number or "latest"')]);

export const ArgsSchema = z.looseObject({ X: z.unknown().optional() });

export const TestBodySchema = z.object({
  args: z.looseObject({
    model_name: z.string().min(1),
    model_version: version.optional(),
    X: z.unknown().optional(),
  }),
});

export const PredictBodySchema = z.object({ args: ArgsSchema });

/** A script sent as JSON to `PUT .../script` (it may also come as a text body). */
export const ScriptBodySchema = z.object({ script: z.string() });

export const ScriptTestSchema = z.object({
  /** Inline script; absent means the version's saved script. Same 4 MiB cap as a saved one. */
  script: z.string().max(4 * 2 ** 20, 'at most 4 MiB').optional(),
  /** "predict" (the DaaS flow) or any function the script defines. */
  function: z.string().regex(/^[A-Za-z_$][A-Za-z0-9_$]*$/, 'a JavaScript function name').optional(),
  args: ArgsSchema,
});

const limits = {
  timeout_ms: z.number().int().min(1).optional(),
  memory_limit_mb: z.number().int().min(8).optional(),
  max_result_bytes: z.number().int().min(1024).optional(),
  /** Most records one call may carry; at most limits.maxRecordsCap. */
  max_records: z.number().int().min(1).optional(),
  /** Most values one call's arguments may hold; at most limits.maxElementsCap. */
  max_elements: z.number().int().min(1).optional(),
  /** The deadline of one call, from its arrival, ms; at most limits.requestTimeoutMsCap. */
  request_timeout_ms: z.number().int().min(1).optional(),
  /** Calls that may wait in the front for a worker slot; at most limits.maxQueueCap. */
  max_queue: z.number().int().min(0).optional(),
  /** Dynamic batching: most rows one model run takes from concurrent calls; 1 (the default) is off. At most limits.maxBatchSizeCap. */
  max_batch_size: z.number().int().min(1).optional(),
  /** Dynamic batching: microseconds a run may wait for more calls; at most limits.maxBatchDelayUsCap. */
  max_delay_us: z.number().int().min(0).optional(),
};

/** Class names: a list for the one output they fit, or `{ "<output name>": [...] }`; null (PATCH) removes them. */
const labels = z.union([z.array(z.string().min(1, 'a non-empty label')).min(1), z.record(z.string(), z.array(z.string().min(1, 'a non-empty label')).min(1))]);
const labelFields = {
  labels: labels.optional(),
  /** How many labels a labelled output answers per row, best first. */
  top_k: z.number().int().min(1).optional(),
  /** How the labelled outputs' values become scores; "auto" (the default) detects probabilities from the sample. */
  scores: z.enum(['auto', 'probabilities', 'softmax', 'sigmoid']).optional(),
};

const perChannel = z.union([z.number(), z.array(z.number()).min(1).max(4)]);

/** One image input's declarative preprocessing (docs/uploads.md); every key optional. */
export const PreprocessSpecSchema = z
  .object({
    width: z.number().int().min(1).max(16384).optional(),
    height: z.number().int().min(1).max(16384).optional(),
    fit: z.enum(['fill', 'cover', 'contain']).optional(),
    color: z.enum(['rgb', 'bgr', 'gray']).optional(),
    layout: z.enum(['nchw', 'nhwc', 'chw', 'hwc']).optional(),
    scale: z.number().optional(),
    mean: perChannel.optional(),
    std: perChannel.refine((v) => (Array.isArray(v) ? v : [v]).every((x) => x !== 0), 'no std of 0').optional(),
    dtype: z.enum(['float32', 'float16', 'uint8']).optional(),
  })
  .strict();

/** Image input name -> its preprocessing; checked against the model's inputs by the route. */
export const PreprocessBlockSchema = z.record(z.string(), PreprocessSpecSchema);

export const CreateDeploymentSchema = z.object({
  deployment_name: z.string().min(1),
  model_name: z.string().min(1),
  model_version: version.optional(),
  replicas: z.number().int().min(1).optional(),
  /** true: the version's saved script; a string: that script; false/absent: none. */
  script: z.union([z.boolean(), z.string()]).optional(),
  ...limits,
  ...labelFields,
  /** Declarative image preprocessing per image input (#15). */
  preprocess: PreprocessBlockSchema.optional(),
});
export type CreateDeploymentBody = z.infer<typeof CreateDeploymentSchema>;

export const PatchDeploymentSchema = z.object({
  model_version: version.optional(),
  replicas: z.number().int().min(1).optional(),
  script: z.union([z.boolean(), z.string()]).optional(),
  ...limits,
  ...labelFields,
  labels: labels.nullable().optional(),
  /** Replaces the block; null removes it. */
  preprocess: PreprocessBlockSchema.nullable().optional(),
});
export type PatchDeploymentBody = z.infer<typeof PatchDeploymentSchema>;

/**
 * The Open Inference Protocol's inference request (REST, `POST /v2/models/{name}/infer`): KServe's
 * `$inference_request`, with the parameters of Triton's binary tensor extension. Members the
 * protocol allows and inferbox does not use (other parameters) pass through.
 */
export const OipInferInputSchema = z.object({
  name: z.string().min(1),
  shape: z.array(z.number().int().min(0)),
  datatype: z.string().min(1),
  parameters: z.looseObject({ binary_data_size: z.number().int().min(0).optional() }).optional(),
  /** Flat or nested values, row-major; absent when the tensor's bytes follow the JSON (binary_data_size). */
  data: z.array(z.unknown()).optional(),
});
export const OipInferBodySchema = z.object({
  id: z.string().optional(),
  parameters: z.looseObject({ binary_data_output: z.boolean().optional() }).optional(),
  inputs: z.array(OipInferInputSchema),
  outputs: z.array(z.object({ name: z.string().min(1), parameters: z.looseObject({ binary_data: z.boolean().optional() }).optional() })).optional(),
});
export type OipInferBody = z.infer<typeof OipInferBodySchema>;

/** Parses a body or throws REQUEST_INVALID naming each bad field and what it expects. */
export function parseBody<S extends z.ZodType>(schema: S, body: unknown, what = 'body'): z.output<S> {
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => {
    const path = issue.path.length > 0 ? issue.path.join('.') : what;
    return `${path}: ${issue.message}`;
  });
  throw new ServeError('REQUEST_INVALID', `invalid ${what}: ${problems.join('; ')}`, { issues: problems });
}
