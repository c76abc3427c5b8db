/**
 * The model formats, in one registry that every side enumerates: the worker's runtimes are keyed
 * by SERVING_FORMATS (a format without a runtime does not compile), the publish path answers with a
 * SOURCE_FORMATS key, the front shows both, and docs/formats.md has a section for each source
 * format (checked by test/unit/docs-contract.test.ts). Adding a format: docs/architecture.md.
 */

/** What a runtime loads: Keras uploads are converted to TF.js at publish, so they serve as "tfjs". */
export const SERVING_FORMATS = ['onnx', 'tfjs'] as const;
export type ServingFormat = (typeof SERVING_FORMATS)[number];

export interface SourceFormatInfo {
  /** The runtime format it is served as. */
  readonly serving: ServingFormat;
  /** Its heading in docs/formats.md. */
  readonly docsHeading: string;
}

/** What a user can upload, as told from its bytes at publish. */
export const SOURCE_FORMATS = {
  onnx: { serving: 'onnx', docsHeading: 'ONNX' },
  'keras-h5': { serving: 'tfjs', docsHeading: 'Keras 2 `.h5`' },
  keras3: { serving: 'tfjs', docsHeading: 'Keras 3 `.keras`' },
  'tfjs-layers': { serving: 'tfjs', docsHeading: 'TensorFlow.js' },
  'tfjs-graph': { serving: 'tfjs', docsHeading: 'TensorFlow.js' },
} as const satisfies Record<string, SourceFormatInfo>;
export type SourceFormat = keyof typeof SOURCE_FORMATS;
