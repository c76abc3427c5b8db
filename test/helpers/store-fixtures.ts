import type { ManifestDraft } from '../../src/store/index.js';

/** A version's manifest as the store's own tests commit it: a 3-byte "model.onnx" with one input. */
export const ONNX_DRAFT: ManifestDraft = {
  format: 'onnx',
  mainFile: 'model.onnx',
  files: [{ name: 'model.onnx', bytes: 3, sha256: 'abc' }],
  bytes: 3,
  sha256: 'abc',
  description: '',
  miningFunction: null,
  backend: 'test',
  inputs: [{ name: 'x', dtype: 'float32', shape: [-1, 4] }],
  outputs: [],
  sample: null,
};
