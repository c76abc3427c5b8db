import { z } from 'zod';
import { PreprocessBlockSchema } from '../api/schemas.js';
import { DTYPES, type DType } from '../model/index.js';

/** What the store keeps on disk, parsed back with these schemas (a damaged file is reported, not trusted). */

export const TensorSpecSchema = z.object({
  name: z.string(),
  dtype: z.enum(DTYPES as [DType, ...DType[]]).nullable(),
  shape: z.array(z.number().int()).readonly().nullable(),
  dimNames: z.array(z.string().nullable()).readonly().optional(),
  kind: z.string().optional(),
  classes: z.array(z.union([z.number(), z.string()])).readonly().optional(),
});

export const ModelFileSchema = z.object({ name: z.string(), bytes: z.number().int(), sha256: z.string() });

export const VersionManifestSchema = z.object({
  name: z.string(),
  version: z.number().int().min(1),
  format: z.string(),
  /** What was uploaded ("keras-h5", "tfjs-layers"...); absent in versions published before it was kept. */
  sourceFormat: z.string().optional(),
  /** The Keras version that saved a Keras upload, else null. */
  kerasVersion: z.string().nullable().optional(),
  mainFile: z.string(),
  files: z.array(ModelFileSchema),
  bytes: z.number().int(),
  sha256: z.string(),
  createdAt: z.string(),
  description: z.string(),
  miningFunction: z.string().nullable(),
  backend: z.string(),
  inputs: z.array(TensorSpecSchema),
  outputs: z.array(TensorSpecSchema),
  sample: z.record(z.string(), z.unknown()).nullable(),
  /** The preprocess block the model file implies (ONNX metadata_props, WinML's keys; Keras preprocessing layers); absent when none. */
  preprocess: PreprocessBlockSchema.optional(),
  /** Where that block came from and why; absent in versions published before it was recorded. */
  preprocessSource: z.object({ from: z.enum(['onnx_metadata_props', 'keras_layers']), reason: z.string() }).optional(),
  /** Accuracy or R² on the x_test/y_test sent at publish; absent for versions published without them. */
  evaluation: z
    .object({
      metric: z.enum(['accuracy', 'r2']),
      value: z.number(),
      samples: z.number().int(),
      /** How y_test was read (front/dispatch/evaluate.ts); absent in versions published before it was recorded. */
      yTestKind: z.enum(['labels', 'one_hot', 'probabilities', 'values']).optional(),
    })
    .nullable()
    .optional(),
});
export type VersionManifest = z.infer<typeof VersionManifestSchema>;

/** A manifest before the store gives it a version number and a time. */
export type ManifestDraft = Omit<VersionManifest, 'name' | 'version' | 'createdAt'>;

export const DeploymentRecordSchema = z.object({
  name: z.string(),
  modelName: z.string(),
  modelVersion: z.number().int().min(1),
  replicas: z.number().int().min(1),
  /** The script text the deployment runs, copied at deploy time; null for none. */
  script: z.string().nullable(),
  tokenHash: z.string(),
  createdAt: z.string(),
  updatedAt: z.string(),
  /** Only what the deployment set; the rest is the server's default at each use. */
  limits: z.object({
    timeoutMs: z.number().int().optional(),
    memoryLimitMb: z.number().int().optional(),
    maxRecords: z.number().int().optional(),
    maxElements: z.number().int().optional(),
    maxResultBytes: z.number().int().optional(),
    requestTimeoutMs: z.number().int().optional(),
    maxQueue: z.number().int().optional(),
    /** Dynamic batching (worker/models/batcher.ts): rows per model run; absent or 1 is off. */
    maxBatchSize: z.number().int().optional(),
    maxDelayUs: z.number().int().optional(),
  }),
  /** Labels of outputs (deployments without a script): absent for none. See front/deployment-labels.ts. */
  labels: z
    .object({
      topK: z.number().int().min(1),
      /** Scores the deployment chose ("softmax", "sigmoid" or "probabilities"); absent: detected from the sample. */
      scoresSet: z.enum(['probabilities', 'softmax', 'sigmoid']).optional(),
      outputs: z.array(z.object({ output: z.string(), names: z.array(z.string()), scores: z.enum(['probabilities', 'softmax', 'sigmoid']) })),
    })
    .optional(),
  /** The declarative image preprocessing per image input (#15), as validated at deploy time; absent for none. */
  preprocess: PreprocessBlockSchema.optional(),
  /** Set when `preprocess` is the block its model version implies, taken because the deploy call gave none. */
  preprocessInferred: z.literal(true).optional(),
});
export type DeploymentRecord = z.infer<typeof DeploymentRecordSchema>;
