export type { DType, DTypeMap, Tensor } from './tensor.js';
export { TYPED_ARRAY, DTYPES, isDType, elementCount, formatShape, toHalf, fromHalf, toJsonValues, nest, sliceBatch } from './tensor.js';
export type { TensorSpec } from './tensor-spec.js';
export { batchDimProblem } from './tensor-spec.js';
export { imageLayoutOf, imageOptionsOf, IMAGE_SHAPES, type ImageLayout, type InputImageOptions } from './image-layout.js';
export {
  imageOptionsWith, inferredPreprocess, kerasImpliedPreprocess, pipelineImageOptions, preprocessProblems,
  type ImpliedPreprocess, type KerasInputPreprocessing, type KerasPreprocessingLayer, type PreprocessBlock, type PreprocessSource, type PreprocessSpec,
} from './preprocess.js';
export { SCRIPT_HOOKS, PREDICT_FUNCTION, HOOK_FUNCTIONS, planFlow, flowSteps, type ScriptHook, type FlowPlan } from './script-hooks.js';
export { SERVING_FORMATS, SOURCE_FORMATS, type ServingFormat, type SourceFormat, type SourceFormatInfo } from './formats.js';
export { exampleRecord, randomOf, zeroOf } from './example-record.js';
export { HOOK } from './hook-names.js';
