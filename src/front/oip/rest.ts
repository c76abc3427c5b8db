import { Router } from '@koa/router';
import type { Context, Middleware } from 'koa';
import type { Readable } from 'node:stream';
import { createGunzip, createInflate } from 'node:zlib';
import { OipInferBodySchema, parseBody, type OipInferBody } from '../../api/schemas.js';
import { ServeError, toServeError } from '../../errors.js';
import { assertUsableJson } from '../body.js';
import { stateOf } from '../context.js';
import { clientTimeoutOf } from '../deadline.js';
import type { AppDeps } from '../deps.js';
import { sequence } from '../middleware/sequence.js';
import { infer, modelMetadata, modelReady, resolveTarget, serverMetadata, serverReady, type OipInferResponse } from './service.js';
import { decodeRaw, DTYPE_OF, encodeRaw, jsonValues, type OipInput } from './tensors.js';

/** Triton's binary tensor extension: the JSON part's length; the tensors' bytes follow it. */
export const HEADER_LENGTH = 'Inference-Header-Content-Length';
/** The inferbox error code behind an OIP error body, which holds only a message. */
export const ERROR_CODE_HEADER = 'X-Inferbox-Error-Code';
export const OIP_PREFIX = '/v2';

const optional = <K extends string, V>(key: K, value: V | undefined): Partial<Record<K, V>> => (value === undefined ? {} : ({ [key]: value } as Record<K, V>));

/**
 * The protocol's error body is `{ "error": "<message>" }`. The status is the inferbox error's
 * (400 bad request, 401 no or wrong token, 404 unknown model or version, 413, 503...), except that
 * the input errors inferbox answers 422 for are 400 here: the protocol names 400 for a bad request.
 */
export function oipErrors(): Middleware {
  return async (ctx, next) => {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) throw new ServeError('ROUTE_NOT_FOUND', `no route for ${ctx.method} ${ctx.path}`);
      if (ctx.status === 405 && ctx.body === undefined) throw new ServeError('METHOD_NOT_ALLOWED', `${ctx.method} is not allowed on ${ctx.path} (allowed: ${ctx.response.get('Allow')})`);
    } catch (err) {
      const e = toServeError(err);
      const { log } = stateOf(ctx);
      ctx.status = e.status === 422 ? 400 : e.status;
      ctx.set(ERROR_CODE_HEADER, e.code);
      if (e.code === 'AUTH_MISSING_TOKEN' || e.code === 'AUTH_INVALID_TOKEN') ctx.set('WWW-Authenticate', `Bearer realm="inferbox"${e.code === 'AUTH_INVALID_TOKEN' ? ', error="invalid_token"' : ''}`);
      if (e.code === 'OVERLOADED') ctx.set('Retry-After', '1');
      ctx.body = { error: e.expose ? e.message : 'Internal Server Error' };
      if (e.status >= 500) log.error({ err: e, cause: e.cause }, e.message);
      else log.info({ code: e.code }, e.message);
    }
  };
}

/** The bearer token, or null without an Authorization header (a malformed one is 400). */
function bearerOf(ctx: Context): string | null {
  const header = ctx.get('authorization');
  if (header === '') return null;
  const match = /^Bearer ([A-Za-z0-9\-._~+/]+=*)$/.exec(header);
  if (!match) throw new ServeError('REQUEST_INVALID', 'the Authorization header must be "Bearer <token>"', { field: 'authorization' });
  return match[1]!;
}

/** The body's bytes, decompressed (gzip or deflate, as tritonclient may send them), within `limit` bytes. */
async function readBody(ctx: Context, limit: number): Promise<Buffer> {
  const encoding = ctx.get('content-encoding').toLowerCase();
  let stream: Readable = ctx.req;
  if (encoding === 'gzip') stream = ctx.req.pipe(createGunzip());
  else if (encoding === 'deflate') stream = ctx.req.pipe(createInflate());
  else if (encoding !== '' && encoding !== 'identity') throw new ServeError('REQUEST_INVALID', `unsupported Content-Encoding ${JSON.stringify(encoding)}: gzip, deflate or none`);
  const declared = Number(ctx.get('content-length'));
  if (encoding === '' && declared > limit) {
    ctx.set('Connection', 'close');
    ctx.req.resume(); // drain it unread, so the answer reaches the client
    throw new ServeError('REQUEST_TOO_LARGE', `the request body is over the limit of ${limit} bytes (limits.maxJsonBytes)`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of stream) {
      size += (chunk as Buffer).length;
      if (size > limit) {
        ctx.req.unpipe();
        ctx.req.resume(); // drain what is left, so the answer reaches the client
        throw new ServeError('REQUEST_TOO_LARGE', `the request body is over the limit of ${limit} bytes (limits.maxJsonBytes)`);
      }
      chunks.push(chunk as Buffer);
    }
  } catch (err) {
    if (err instanceof ServeError) throw err;
    throw new ServeError('REQUEST_INVALID', `the request body could not be read: ${(err as Error).message}`);
  }
  return Buffer.concat(chunks, size);
}

/** The inference request: JSON, or with the binary extension a JSON header followed by the tensors' bytes. */
function readInferRequest(body: Buffer, headerLength: string): { json: OipInferBody; binary: Buffer } {
  let jsonBytes = body.length;
  if (headerLength !== '') {
    if (!/^\d+$/.test(headerLength) || Number(headerLength) > body.length) {
      throw new ServeError('REQUEST_INVALID', `${HEADER_LENGTH} must be the JSON part's length in bytes, at most the body's ${body.length} (got ${JSON.stringify(headerLength)})`, { field: HEADER_LENGTH });
    }
    jsonBytes = Number(headerLength);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8', 0, jsonBytes));
  } catch (err) {
    const hint = headerLength === '' ? ` (binary tensors after the JSON need the ${HEADER_LENGTH} header)` : '';
    throw new ServeError('REQUEST_INVALID', `the inference request is not valid JSON: ${(err as Error).message}${hint}`);
  }
  assertUsableJson(parsed, 'the inference request');
  return { json: parseBody(OipInferBodySchema, parsed, 'inference request'), binary: body.subarray(jsonBytes) };
}

/** Each input's values: its `data` flattened, or its bytes from the binary part, in input order. */
function inputsOf(request: OipInferBody, binary: Buffer): OipInput[] {
  let at = 0;
  const inputs = request.inputs.map((input, i): OipInput => {
    const field = `inputs[${i}]`;
    const size = input.parameters?.binary_data_size;
    if (size !== undefined) {
      if (input.data !== undefined) throw new ServeError('REQUEST_INVALID', `${field} has both data and parameters.binary_data_size: send one`, { field });
      const dtype = DTYPE_OF.get(input.datatype);
      if (dtype === undefined) throw unknownDatatype(input.datatype, field);
      if (at + size > binary.length) {
        throw new ServeError('REQUEST_INVALID', `${field}.parameters.binary_data_size is ${size}, but only ${binary.length - at} bytes of binary data are left after the JSON header`, { field });
      }
      const bytes = binary.subarray(at, at + size);
      at += size;
      const count = input.shape.reduce((n, d) => n * d, 1);
      return { name: input.name, datatype: input.datatype, shape: input.shape, data: decodeRaw(bytes, dtype, count, `input '${input.name}'`) };
    }
    if (input.data === undefined) throw new ServeError('REQUEST_INVALID', `${field} needs data (or parameters.binary_data_size with the binary tensor extension)`, { field });
    if (!DTYPE_OF.has(input.datatype)) throw unknownDatatype(input.datatype, field);
    return { name: input.name, datatype: input.datatype, shape: input.shape, data: input.data.flat(Infinity) };
  });
  if (at !== binary.length) {
    throw new ServeError('REQUEST_INVALID', `the request carries ${binary.length} bytes of binary tensor data, but its inputs' binary_data_size add up to ${at}`);
  }
  return inputs;
}

function unknownDatatype(datatype: string, field: string): ServeError {
  return new ServeError('INPUT_DTYPE_MISMATCH', `${field}.datatype ${JSON.stringify(datatype)} is not one of ${[...DTYPE_OF.keys()].join(', ')}`, { field });
}

/** Writes the answer: JSON, or JSON then bytes for the outputs asked in binary. */
function sendInferResponse(ctx: Context, request: OipInferBody, response: OipInferResponse): void {
  const allBinary = request.parameters?.binary_data_output === true;
  const binaryOf = new Map((request.outputs ?? []).map((o) => [o.name, o.parameters?.binary_data ?? allBinary]));
  const chunks: Buffer[] = [];
  const outputs = response.outputs.map(({ name, datatype, shape, tensor }) => {
    if (!(binaryOf.get(name) ?? allBinary)) return { name, datatype, shape, data: jsonValues(tensor) };
    const bytes = encodeRaw(tensor);
    chunks.push(bytes);
    return { name, datatype, shape, parameters: { binary_data_size: bytes.length }, data: undefined };
  });
  const json = { model_name: response.model_name, model_version: response.model_version, ...(response.id !== undefined ? { id: response.id } : {}), outputs };
  if (chunks.length === 0) {
    ctx.body = json;
    return;
  }
  const header = Buffer.from(JSON.stringify(json), 'utf8');
  ctx.set(HEADER_LENGTH, String(header.length));
  ctx.type = 'application/octet-stream';
  ctx.body = Buffer.concat([header, ...chunks]);
}

/**
 * The Open Inference Protocol's REST API under `/v2` (docs/api/oip.md). Paths under `/v2` reach
 * these routes only (app.ts, behind oipErrors), so every answer there, a 404 included, has the
 * protocol's error body. appRouters lists this router, so /openapi.json describes each route.
 */
export function oipRouter(deps: AppDeps): Router {
  const router = new Router({ prefix: OIP_PREFIX });
  const limit = deps.config.limits.maxJsonBytes;
  router.get('/', (ctx) => {
    ctx.body = serverMetadata();
  });
  router.get('/health/live', (ctx) => {
    ctx.body = { live: true };
  });
  router.get('/health/ready', (ctx) => {
    const ready = serverReady(deps);
    ctx.status = ready ? 200 : 503;
    ctx.body = { ready };
  });
  const target = (ctx: Context & { params: Record<string, string> }) => {
    const { name, version } = ctx.params;
    return resolveTarget(deps, bearerOf(ctx), name!, version);
  };
  for (const base of ['/models/:name', '/models/:name/versions/:version']) {
    router.get(base, (ctx) => {
      ctx.body = modelMetadata(target(ctx));
    });
    router.get(`${base}/ready`, (ctx) => {
      const found = target(ctx);
      const ready = modelReady(deps, found);
      ctx.status = ready ? 200 : 503;
      ctx.body = { name: found.name, ready };
    });
    router.post(`${base}/infer`, async (ctx) => {
      const found = target(ctx);
      // Counted in inferbox_predictions_total with the deployment's other calls (metrics.ts).
      if (found.deployment !== null) stateOf(ctx).deployment = found.deployment.name;
      const { json, binary } = readInferRequest(await readBody(ctx, limit), ctx.get(HEADER_LENGTH));
      const inputs = inputsOf(json, binary);
      const response = await infer(deps, found, { ...(json.id !== undefined ? { id: json.id } : {}), inputs, ...(json.outputs ? { outputs: json.outputs.map((o) => o.name) } : {}) }, (i, f) => `inputs[${i}].${f}`, {
        receivedAt: stateOf(ctx).receivedAt,
        ...optional('clientTimeoutMs', clientTimeoutOf(ctx)),
        onCall: (call) => {
          stateOf(ctx).call = call;
        },
      });
      stateOf(ctx).timings = response.timings;
      sendInferResponse(ctx, json, response);
    });
  }
  return router;
}

