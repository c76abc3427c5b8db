/**
 * The TypeScript SDK: `import { Client } from 'inferbox'` (docs/sdk.md). Works in Node 20+ and, for
 * everything but file paths, in browsers. Imports only the HTTP contract (src/api) and src/model.
 */
export { Client, type CallOptions, type ClientOptions, type FormFiles, type PublishOptions, type TestEndpoint } from './client.js';
export { ApiError, ConnectionError } from './errors.js';
export type { FilePart, ModelSource } from './files.js';
export type * from '../api/types.js';
export type { CreateDeploymentBody, PatchDeploymentBody } from '../api/schemas.js';

/** The SDK's first name, kept for code written against it. */
export { Client as InferboxClient } from './client.js';
