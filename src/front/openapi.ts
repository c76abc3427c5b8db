import { z } from 'zod';
import { CreateDeploymentSchema, OipInferBodySchema, PatchDeploymentSchema, PredictBodySchema, ScriptBodySchema, ScriptTestSchema, TestBodySchema } from '../api/schemas.js';
import { ERRORS, type ErrorCode } from '../errors.js';
import { PACKAGE_VERSION } from '../package-info.js';
import { REQUEST_TIMEOUT_HEADER } from './deadline.js';

/**
 * The OpenAPI 3.1 document of `GET /openapi.json`. Request bodies come from the zod schemas the
 * routes parse with (src/api/schemas.ts) through `z.toJSONSchema`: there is no second copy of a
 * schema to drift. What is written here is what a schema cannot say: each route's summary, who may
 * call it, its other body types, its query parameters and its notable error codes.
 *
 * Adding a route: add a ROUTE_DOCS entry keyed `"<METHOD> <path as the router registers it>"`
 * (`:name` parameters, the router's prefix included). test/unit/openapi.test.ts walks the routers
 * of appRouters (app.ts) and fails naming any registered route without an entry, and any entry
 * without a route.
 */

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface ParamDoc {
  readonly schema: z.ZodType;
  readonly description: string;
}

export interface RouteDoc {
  readonly summary: string;
  /** The docs/api/ page that describes it (also the operation's tag). */
  readonly page: 'models' | 'test' | 'scripts' | 'deployments' | 'svc' | 'health-metrics' | 'console' | 'openapi' | 'oip';
  /**
   * admin: the admin token; deployment: the deployment's token or the admin token; none: public;
   * oip: a deployment's token for a deployment's name, the admin token for a model's (docs/api/oip.md).
   */
  readonly auth: 'admin' | 'deployment' | 'none' | 'oip';
  /** The JSON body, as the route parses it; `name` is its components.schemas entry. */
  readonly json?: { readonly name: string; readonly schema: z.ZodType };
  /** Other body types the route takes (media type -> what the body holds). */
  readonly bodies?: Readonly<Record<string, string>>;
  readonly query?: Readonly<Record<string, ParamDoc>>;
  readonly headers?: Readonly<Record<string, ParamDoc>>;
  /** The success answer: its status, what it holds and its media type (JSON by default). */
  readonly ok: { readonly status: number; readonly description: string; readonly type?: string };
  /** Error codes this route answers besides those of its auth and body (docs/errors.md). */
  readonly errors?: readonly ErrorCode[];
}

const FORM = 'multipart/form-data';
const deadlineHeader: Readonly<Record<string, ParamDoc>> = {
  [REQUEST_TIMEOUT_HEADER]: {
    schema: z.string().regex(/^\d*\.?\d+$/),
    description: 'The client\'s deadline in seconds, a decimal allowed ("2.5"); it can only shorten the deployment\'s request_timeout_ms. Past it: 504 DEADLINE_EXCEEDED.',
  },
};
const callErrors: readonly ErrorCode[] = ['REQUEST_TOO_LARGE', 'INPUT_MISSING', 'INPUT_UNKNOWN', 'INPUT_SHAPE_MISMATCH', 'INPUT_DTYPE_MISMATCH', 'INPUT_IMAGE_INVALID', 'INFERENCE_FAILED', 'OVERLOADED', 'DEADLINE_EXCEEDED', 'WORKER_CRASHED', 'WORKER_TIMEOUT'];
const scriptErrors: readonly ErrorCode[] = ['SCRIPT_REJECTED', 'SCRIPT_FAILED', 'SCRIPT_TIMEOUT', 'SCRIPT_MEMORY_LIMIT', 'SCRIPT_RESULT_TOO_LARGE'];

/** The Open Inference Protocol's routes answer its own error body, `{ "error": "..." }` (front/oip/rest.ts). */
const oipErrors: readonly ErrorCode[] = ['MODEL_NOT_FOUND', 'DEPLOYMENT_NOT_FOUND'];
const oipInferErrors: readonly ErrorCode[] = [...oipErrors, ...callErrors.filter((c) => c !== 'INPUT_IMAGE_INVALID')];
const oipBinary = 'Triton\'s binary tensor extension: the JSON request, then the tensors\' bytes; `Inference-Header-Content-Length` gives the JSON\'s length';

/** Every route of the front, keyed as its router registers it. */
export const ROUTE_DOCS: Readonly<Record<string, RouteDoc>> = {
  'GET /': { summary: 'The web console page', page: 'console', auth: 'none', ok: { status: 200, description: 'The console\'s HTML page', type: 'text/html' } },
  'GET /console/:file': { summary: 'A web console asset (its script, styles, source maps)', page: 'console', auth: 'none', ok: { status: 200, description: 'The asset', type: 'text/javascript' }, errors: ['ROUTE_NOT_FOUND'] },
  'GET /healthz': { summary: 'Liveness: version, backends, runtime workers', page: 'health-metrics', auth: 'none', ok: { status: 200, description: '`{ status, version, uptime_s, backends, workers }`' } },
  'GET /readyz': { summary: 'Readiness: a runtime worker can serve and the server is not draining', page: 'health-metrics', auth: 'none', ok: { status: 200, description: '`{ ready, workers_ready, workers, draining }`; 503 with the same body when not ready' } },
  'GET /metrics': { summary: 'Prometheus metrics (text exposition format)', page: 'health-metrics', auth: 'none', ok: { status: 200, description: 'The metrics', type: 'text/plain' } },
  'GET /openapi.json': { summary: 'This document: the REST contract as OpenAPI 3.1', page: 'openapi', auth: 'none', ok: { status: 200, description: 'The OpenAPI document' } },

  'GET /v2': { summary: 'Open Inference Protocol: server metadata', page: 'oip', auth: 'none', ok: { status: 200, description: '`{ name, version, extensions }`' } },
  'GET /v2/health/live': { summary: 'Open Inference Protocol: server liveness', page: 'oip', auth: 'none', ok: { status: 200, description: '`{ live: true }`' } },
  'GET /v2/health/ready': { summary: 'Open Inference Protocol: server readiness', page: 'oip', auth: 'none', ok: { status: 200, description: '`{ ready }`; 503 when not ready' } },
  'GET /v2/models/:name': { summary: 'Open Inference Protocol: a deployment\'s or a model\'s metadata', page: 'oip', auth: 'oip', ok: { status: 200, description: '`{ name, versions, platform, inputs, outputs }` with OIP datatypes and shapes (-1 free)' }, errors: oipErrors },
  'GET /v2/models/:name/ready': { summary: 'Open Inference Protocol: model readiness', page: 'oip', auth: 'oip', ok: { status: 200, description: '`{ name, ready }`; 503 when not ready' }, errors: oipErrors },
  'POST /v2/models/:name/infer': {
    summary: 'Open Inference Protocol: inference',
    page: 'oip',
    auth: 'oip',
    json: { name: 'OipInferRequest', schema: OipInferBodySchema },
    bodies: { 'application/octet-stream': oipBinary },
    headers: deadlineHeader,
    ok: { status: 200, description: '`{ model_name, model_version, id?, outputs: [{ name, datatype, shape, data }] }`, or JSON then binary outputs (binary_data)' },
    errors: oipInferErrors,
  },
  'GET /v2/models/:name/versions/:version': { summary: 'Open Inference Protocol: one version\'s metadata', page: 'oip', auth: 'oip', ok: { status: 200, description: 'As for the model, for that version' }, errors: oipErrors },
  'GET /v2/models/:name/versions/:version/ready': { summary: 'Open Inference Protocol: one version\'s readiness', page: 'oip', auth: 'oip', ok: { status: 200, description: '`{ name, ready }`' }, errors: oipErrors },
  'POST /v2/models/:name/versions/:version/infer': {
    summary: 'Open Inference Protocol: inference on one version',
    page: 'oip',
    auth: 'oip',
    json: { name: 'OipInferRequest', schema: OipInferBodySchema },
    bodies: { 'application/octet-stream': oipBinary },
    headers: deadlineHeader,
    ok: { status: 200, description: 'As for the model, for that version' },
    errors: oipInferErrors,
  },

  'POST /api/v1/models': {
    summary: 'Publish a model: a new version',
    page: 'models',
    auth: 'admin',
    bodies: { [FORM]: 'Parts: `name` (text), the model file(s) (`file`, or several parts for Keras and TF.js), optional `description`, `x_test` and `y_test` (JSON text)' },
    ok: { status: 201, description: '`{ model_name, model_version, evaluation? }`' },
    errors: ['REQUEST_INVALID', 'REQUEST_TOO_LARGE', 'MODEL_INVALID', 'MODEL_UNSUPPORTED'],
  },
  'GET /api/v1/models': { summary: 'List models', page: 'models', auth: 'admin', ok: { status: 200, description: 'A list of model summaries' } },
  'GET /api/v1/models/:name': { summary: 'One model and all its versions', page: 'models', auth: 'admin', ok: { status: 200, description: '`{ model_name, latest_version, versions }`' }, errors: ['MODEL_NOT_FOUND'] },
  'DELETE /api/v1/models/:name': { summary: 'Delete a model and all its versions', page: 'models', auth: 'admin', ok: { status: 204, description: 'Deleted' }, errors: ['MODEL_NOT_FOUND', 'MODEL_IN_USE'] },
  'GET /api/v1/models/:name/versions/:version': { summary: 'One version\'s metadata', page: 'models', auth: 'admin', ok: { status: 200, description: 'The version: format, inputs, outputs, files, evaluation' }, errors: ['MODEL_NOT_FOUND'] },
  'DELETE /api/v1/models/:name/versions/:version': { summary: 'Delete a version', page: 'models', auth: 'admin', ok: { status: 204, description: 'Deleted' }, errors: ['MODEL_NOT_FOUND', 'MODEL_IN_USE'] },
  'GET /api/v1/models/:name/versions/:version/example': {
    summary: 'A test body: the stored sample, zeros, or random values',
    page: 'models',
    auth: 'admin',
    query: { random: { schema: z.enum(['true', 'false']), description: 'true: random values of each input\'s dtype and shape' } },
    ok: { status: 200, description: '`{ args: { model_name, model_version, X } }`' },
    errors: ['MODEL_NOT_FOUND', 'REQUEST_INVALID'],
  },

  'POST /api/v1/test': {
    summary: 'Run a model version on test data, without deploying it',
    page: 'test',
    auth: 'admin',
    json: { name: 'TestBody', schema: TestBodySchema },
    bodies: { [FORM]: 'Fields `model_name`, `model_version`, `X` (JSON text) and image files by input name' },
    headers: deadlineHeader,
    ok: { status: 200, description: '`{ result, stdout, stderr }`' },
    errors: ['MODEL_NOT_FOUND', ...callErrors],
  },

  'GET /api/v1/models/:name/versions/:version/script-template': { summary: 'A starting script for the version', page: 'scripts', auth: 'admin', ok: { status: 200, description: 'The script', type: 'application/javascript' }, errors: ['MODEL_NOT_FOUND'] },
  'GET /api/v1/models/:name/versions/:version/script': { summary: 'The version\'s saved script', page: 'scripts', auth: 'admin', ok: { status: 200, description: 'The script', type: 'application/javascript' }, errors: ['MODEL_NOT_FOUND', 'SCRIPT_NOT_FOUND'] },
  'PUT /api/v1/models/:name/versions/:version/script': {
    summary: 'Check and save the version\'s script',
    page: 'scripts',
    auth: 'admin',
    json: { name: 'ScriptBody', schema: ScriptBodySchema },
    bodies: { 'text/plain': 'The script text', 'application/javascript': 'The script text' },
    ok: { status: 200, description: '`{ model_name, model_version, functions, bytes }`' },
    errors: ['MODEL_NOT_FOUND', 'SCRIPT_INVALID'],
  },
  'POST /api/v1/models/:name/versions/:version/script/test': {
    summary: 'Run a script once, without deploying it',
    page: 'scripts',
    auth: 'admin',
    json: { name: 'ScriptTestBody', schema: ScriptTestSchema },
    bodies: { [FORM]: 'Fields `script`, `function`, `X` (JSON text) and files' },
    ok: { status: 200, description: '`{ result, stdout, stderr }`' },
    errors: ['MODEL_NOT_FOUND', 'SCRIPT_NOT_FOUND', 'SCRIPT_INVALID', 'FUNCTION_NOT_FOUND', ...scriptErrors, ...callErrors],
  },

  'POST /api/v1/deployments': {
    summary: 'Deploy a model version as a named service',
    page: 'deployments',
    auth: 'admin',
    json: { name: 'CreateDeploymentBody', schema: CreateDeploymentSchema },
    ok: { status: 201, description: 'The deployment, its `access_token` (shown only here) and a `payload`' },
    errors: ['MODEL_NOT_FOUND', 'DEPLOYMENT_EXISTS', 'SCRIPT_INVALID'],
  },
  'GET /api/v1/deployments': { summary: 'List deployments', page: 'deployments', auth: 'admin', ok: { status: 200, description: 'A list of deployments' } },
  'GET /api/v1/deployments/:name': { summary: 'One deployment', page: 'deployments', auth: 'admin', ok: { status: 200, description: 'The deployment' }, errors: ['DEPLOYMENT_NOT_FOUND'] },
  'PATCH /api/v1/deployments/:name': {
    summary: 'Change a deployment\'s version, replicas, script, limits, labels or preprocessing',
    page: 'deployments',
    auth: 'admin',
    json: { name: 'PatchDeploymentBody', schema: PatchDeploymentSchema },
    ok: { status: 200, description: 'The deployment' },
    errors: ['DEPLOYMENT_NOT_FOUND', 'MODEL_NOT_FOUND', 'SCRIPT_INVALID'],
  },
  'DELETE /api/v1/deployments/:name': { summary: 'Delete a deployment', page: 'deployments', auth: 'admin', ok: { status: 204, description: 'Deleted' }, errors: ['DEPLOYMENT_NOT_FOUND'] },
  'GET /api/v1/deployments/:name/script': { summary: 'The script a deployment runs', page: 'deployments', auth: 'admin', ok: { status: 200, description: 'The script', type: 'application/javascript' }, errors: ['DEPLOYMENT_NOT_FOUND', 'SCRIPT_NOT_FOUND'] },
  'POST /api/v1/deployments/:name/token': { summary: 'Replace the deployment\'s token', page: 'deployments', auth: 'admin', ok: { status: 200, description: '`{ deployment_name, access_token }`' }, errors: ['DEPLOYMENT_NOT_FOUND'] },
  'GET /api/v1/deployments/:name/stats': { summary: 'Calls per function, where they went, the sandboxes\' state', page: 'deployments', auth: 'admin', ok: { status: 200, description: '`{ deployment_name, since, sandboxes, dispatch, functions }`' }, errors: ['DEPLOYMENT_NOT_FOUND'] },
  'PUT /api/v1/deployments/:name/labels': {
    summary: 'A label file: one label per line, or index_to_name.json',
    page: 'deployments',
    auth: 'admin',
    bodies: { 'text/plain': 'One label per line, class 0 first', 'application/json': 'TorchServe\'s index_to_name.json (`{ "0": "cat", ... }`) or a list of labels' },
    query: {
      output: { schema: z.string().min(1), description: 'The output the labels are for, when the model has several' },
      top_k: { schema: z.string().regex(/^\d+$/), description: 'How many labels each row answers' },
    },
    ok: { status: 200, description: 'The deployment' },
    errors: ['DEPLOYMENT_NOT_FOUND', 'REQUEST_INVALID'],
  },
  'GET /api/v1/deployments/:name/labels': { summary: 'The labels, by output', page: 'deployments', auth: 'admin', ok: { status: 200, description: '`{ top_k, labels }`' }, errors: ['DEPLOYMENT_NOT_FOUND', 'LABELS_NOT_FOUND'] },

  'POST /api/v1/svc/:deployment/:fn': {
    summary: 'Call a deployment: predict, or a function of its script',
    page: 'svc',
    auth: 'deployment',
    json: { name: 'PredictBody', schema: PredictBodySchema },
    bodies: { [FORM]: 'Files by input name (or any name a script reads) and text fields; `X` as JSON text' },
    query: { debug: { schema: z.enum(['true', '1', 'false', '0']), description: 'true: the answer carries what the script printed, and X-Inferbox-Worker' } },
    headers: deadlineHeader,
    ok: { status: 200, description: '`{ result }` (with `stdout` and `stderr` when debug)' },
    errors: ['DEPLOYMENT_NOT_FOUND', 'FUNCTION_NOT_FOUND', 'SCRIPT_QUARANTINED', 'SCRIPT_CRASHED', ...scriptErrors, ...callErrors],
  },
};

/** Routes that no router registers: answered by middleware (metrics.ts serves /metrics). */
export const MIDDLEWARE_ROUTES: ReadonlySet<string> = new Set(['GET /metrics']);

const ErrorBodySchema = z.object({
  error: z.object({
    code: z.enum(Object.keys(ERRORS) as [ErrorCode, ...ErrorCode[]]),
    message: z.string(),
    details: z.record(z.string(), z.unknown()).optional(),
  }),
  requestId: z.string().optional(),
});

/** `/api/v1/models/:name` -> `/api/v1/models/{name}`. */
export function openApiPath(routerPath: string): string {
  return routerPath.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

/** A zod schema as the JSON Schema of a request (what a client may send), without its own $schema. */
function jsonSchemaOf(schema: z.ZodType): Record<string, unknown> {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  return rest;
}

const errorResponse = (description: string, body = 'ErrorBody') => ({
  description,
  content: { 'application/json': { schema: { $ref: `#/components/schemas/${body}` } } },
});

function operationOf(key: string, doc: RouteDoc): Record<string, unknown> {
  const [method, path] = key.split(' ') as [HttpMethod, string];
  const parameters: Record<string, unknown>[] = [];
  for (const [, name] of path.matchAll(/:([A-Za-z0-9_]+)/g)) parameters.push({ name, in: 'path', required: true, schema: { type: 'string' } });
  for (const [name, p] of Object.entries(doc.query ?? {})) parameters.push({ name, in: 'query', required: false, description: p.description, schema: jsonSchemaOf(p.schema) });
  for (const [name, p] of Object.entries(doc.headers ?? {})) parameters.push({ name, in: 'header', required: false, description: p.description, schema: jsonSchemaOf(p.schema) });

  const content: Record<string, unknown> = {};
  if (doc.json) content['application/json'] = { schema: { $ref: `#/components/schemas/${doc.json.name}` } };
  for (const [type, description] of Object.entries(doc.bodies ?? {})) {
    content[type] = type === FORM ? { schema: { type: 'object', description, additionalProperties: true } } : { schema: { type: type === 'application/json' ? 'object' : 'string', description } };
  }

  const codes = new Set<ErrorCode>(doc.errors ?? []);
  if (doc.auth !== 'none') codes.add('AUTH_MISSING_TOKEN').add('AUTH_INVALID_TOKEN');
  if (Object.keys(content).length > 0) codes.add('REQUEST_INVALID');
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of codes) byStatus.set(ERRORS[code].status, [...(byStatus.get(ERRORS[code].status) ?? []), code]);

  const ok = doc.ok.status === 204 ? { description: doc.ok.description } : { description: doc.ok.description, content: { [doc.ok.type ?? 'application/json']: { schema: {} } } };
  const responses: Record<string, unknown> = { [String(doc.ok.status)]: ok };
  // The protocol's body carries no code; the X-Inferbox-Error-Code header does, and 422s answer 400.
  const oip = doc.page === 'oip';
  const body = oip ? 'OipErrorBody' : 'ErrorBody';
  for (const [status, list] of [...byStatus].sort(([a], [b]) => a - b)) {
    const at = oip && status === 422 ? 400 : status;
    const prior = responses[String(at)] as { description: string } | undefined;
    const text = `Error codes: ${list.join(', ')} (docs/errors.md)${oip ? ', in the X-Inferbox-Error-Code header' : ''}`;
    responses[String(at)] = errorResponse(prior ? `${prior.description}; ${text}` : text, body);
  }
  responses.default = errorResponse('Any other error code of docs/errors.md, in the same body', body);

  const security = doc.auth === 'admin' ? [{ adminToken: [] }] : doc.auth === 'deployment' || doc.auth === 'oip' ? [{ deploymentToken: [] }, { adminToken: [] }] : [];
  return {
    operationId: `${method.toLowerCase()}${openApiPath(path).replace(/[{}]/g, '').replace(/[^A-Za-z0-9]+(.)?/g, (_, c: string | undefined) => (c ?? '').toUpperCase())}`,
    summary: doc.summary,
    tags: [doc.page],
    security,
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(Object.keys(content).length > 0 ? { requestBody: { required: true, content } } : {}),
    responses,
  };
}

/** The whole document; pure, built from ROUTE_DOCS and the schemas. */
export function openApiDocument(): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  const schemas: Record<string, unknown> = { ErrorBody: jsonSchemaOf(ErrorBodySchema), OipErrorBody: jsonSchemaOf(z.object({ error: z.string() })) };
  for (const [key, doc] of Object.entries(ROUTE_DOCS)) {
    const [method, path] = key.split(' ') as [HttpMethod, string];
    (paths[openApiPath(path)] ??= {})[method.toLowerCase()] = operationOf(key, doc);
    if (doc.json) schemas[doc.json.name] = jsonSchemaOf(doc.json.schema);
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'inferbox',
      version: PACKAGE_VERSION,
      description: 'Model deployment service: publish models, deploy them as named services with their own tokens, call them. The pages of docs/api/ describe each route with examples.',
    },
    servers: [{ url: '/' }],
    tags: [...new Set(Object.values(ROUTE_DOCS).map((d) => d.page))].map((name) => ({ name })),
    paths,
    components: {
      securitySchemes: {
        adminToken: { type: 'http', scheme: 'bearer', description: 'The admin token' },
        deploymentToken: { type: 'http', scheme: 'bearer', description: 'A deployment\'s token (its access_token)' },
      },
      schemas,
    },
  };
}
