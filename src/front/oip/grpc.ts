import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { ServeError, toServeError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { PACKAGE_ROOT } from '../../package-info.js';
import type { AppDeps } from '../deps.js';
import { infer, modelMetadata, modelReady, resolveTarget, serverMetadata, serverReady, type CallBounds, type OipTarget } from './service.js';
import { decodeRaw, DTYPE_OF, encodeRaw, type OipInput } from './tensors.js';

/** The protocol's service definition, read from the source tree (src/ ships with the server; dist/ holds only JavaScript). */
export const PROTO_PATH = join(PACKAGE_ROOT, 'src', 'front', 'oip', 'grpc_predict_v2.proto');

/**
 * How proto-loader gives messages: field names as in the .proto (snake_case, as every OIP client
 * writes them), 64-bit integers as decimal strings (no precision lost on INT64 contents), and every
 * field present with its default.
 */
export const PROTO_OPTIONS: protoLoader.Options = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };

/** The gRPC status for an inferbox error, by its HTTP status. */
export function grpcStatusOf(err: ServeError): grpc.status {
  switch (err.status) {
    case 400:
    case 422:
      return grpc.status.INVALID_ARGUMENT;
    case 401:
      return grpc.status.UNAUTHENTICATED;
    case 403:
      return grpc.status.PERMISSION_DENIED;
    case 404:
      return grpc.status.NOT_FOUND;
    case 413:
      return grpc.status.RESOURCE_EXHAUSTED;
    case 429:
    case 503:
      return grpc.status.UNAVAILABLE;
    case 501:
      return grpc.status.UNIMPLEMENTED;
    case 504:
      return grpc.status.DEADLINE_EXCEEDED;
    default:
      return grpc.status.INTERNAL;
  }
}

interface Contents {
  bool_contents: boolean[];
  int_contents: number[];
  int64_contents: string[];
  uint_contents: number[];
  uint64_contents: string[];
  fp32_contents: number[];
  fp64_contents: number[];
  bytes_contents: Buffer[];
}

interface InferRequestMessage {
  model_name: string;
  model_version: string;
  id: string;
  inputs: { name: string; datatype: string; shape: string[]; contents: Contents | null }[];
  outputs: { name: string }[];
  raw_input_contents: Buffer[];
}

/** The contents field that carries each datatype (FP16 has none: raw only). */
const CONTENTS_OF: Readonly<Record<string, keyof Contents>> = {
  BOOL: 'bool_contents',
  INT8: 'int_contents',
  INT16: 'int_contents',
  INT32: 'int_contents',
  INT64: 'int64_contents',
  UINT8: 'uint_contents',
  UINT16: 'uint_contents',
  UINT32: 'uint_contents',
  UINT64: 'uint64_contents',
  FP32: 'fp32_contents',
  FP64: 'fp64_contents',
  BYTES: 'bytes_contents',
};

const hasContents = (c: Contents | null) => c !== null && Object.values(c).some((v) => Array.isArray(v) && v.length > 0);

function readShape(shape: readonly string[], field: string): number[] {
  return shape.map((d) => {
    const n = Number(d);
    if (!Number.isSafeInteger(n) || n < 0) throw new ServeError('REQUEST_INVALID', `${field} must be non-negative integers (got ${d})`, { field });
    return n;
  });
}

/** A ModelInfer request's inputs with their values: from `raw_input_contents` (one per input, in order) or each input's `contents`. */
function inputsOf(req: InferRequestMessage): OipInput[] {
  const raw = req.raw_input_contents;
  if (raw.length > 0 && raw.length !== req.inputs.length) {
    throw new ServeError('REQUEST_INVALID', `raw_input_contents has ${raw.length} entries for ${req.inputs.length} inputs: send one per input, in input order`, { field: 'raw_input_contents' });
  }
  return req.inputs.map((input, i) => {
    const field = `inputs[${i}]`;
    const shape = readShape(input.shape, `${field}.shape`);
    const dtype = DTYPE_OF.get(input.datatype);
    if (dtype === undefined) throw new ServeError('INPUT_DTYPE_MISMATCH', `${field}.datatype ${JSON.stringify(input.datatype)} is not one of ${[...DTYPE_OF.keys()].join(', ')}`, { field });
    if (raw.length > 0) {
      if (hasContents(input.contents)) throw new ServeError('REQUEST_INVALID', `${field} has contents while the request has raw_input_contents: send one or the other`, { field });
      const count = shape.reduce((n, d) => n * d, 1);
      return { name: input.name, datatype: input.datatype, shape, data: decodeRaw(raw[i]!, dtype, count, `input '${input.name}'`) };
    }
    const key = CONTENTS_OF[input.datatype];
    if (key === undefined) throw new ServeError('REQUEST_INVALID', `${field}: ${input.datatype} values travel only in raw_input_contents (the contents message has no field for them)`, { field });
    const values = input.contents?.[key] ?? [];
    // 64-bit integers arrive as decimal strings, which the workers read exactly; BYTES as UTF-8 text.
    const data = key === 'bytes_contents' ? (values as Buffer[]).map((b) => b.toString('utf8')) : values;
    return { name: input.name, datatype: input.datatype, shape, data };
  });
}

function tokenOf(metadata: grpc.Metadata): string | null {
  const [value] = metadata.get('authorization');
  if (value === undefined) return null;
  const match = /^Bearer ([A-Za-z0-9\-._~+/]+=*)$/.exec(String(value));
  if (!match) throw new ServeError('REQUEST_INVALID', 'the authorization metadata must be "Bearer <token>"', { field: 'authorization' });
  return match[1]!;
}

type Handler<Req, Res> = (request: Req, metadata: grpc.Metadata, bounds: CallBounds) => Res | Promise<Res>;

/** The client's gRPC deadline in ms from now; undefined when it set none (grpc-js says Infinity). */
function clientTimeoutMs(call: grpc.ServerUnaryCall<unknown, unknown>, now: number): number | undefined {
  const deadline = call.getDeadline();
  const at = deadline instanceof Date ? deadline.getTime() : deadline;
  return Number.isFinite(at) ? Math.max(1, at - now) : undefined;
}

/** A unary method: its answer, or the error as a gRPC status with the inferbox code in the trailers. */
function unary<Req, Res>(log: Logger, method: string, handler: Handler<Req, Res>): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    const receivedAt = Date.now();
    const timeout = clientTimeoutMs(call, receivedAt);
    Promise.resolve()
      .then(() => handler(call.request, call.metadata, { receivedAt, ...(timeout === undefined ? {} : { clientTimeoutMs: timeout }) }))
      .then(
        (res) => callback(null, res),
        (err: unknown) => {
          const e = toServeError(err);
          const trailers = new grpc.Metadata();
          trailers.set('inferbox-error-code', e.code);
          if (e.status >= 500) log.error({ err: e, cause: e.cause, method }, e.message);
          else log.info({ code: e.code, method }, e.message);
          callback({ code: grpcStatusOf(e), details: e.expose ? e.message : 'Internal Server Error', metadata: trailers });
        },
      );
  };
}

/** The service's methods over the same core as the REST routes (service.ts). */
function implementation(deps: AppDeps, log: Logger): grpc.UntypedServiceImplementation {
  const target = (metadata: grpc.Metadata, name: string, version: string): OipTarget => resolveTarget(deps, tokenOf(metadata), name, version === '' ? undefined : version);
  return {
    ServerLive: unary(log, 'ServerLive', () => ({ live: true })),
    ServerReady: unary(log, 'ServerReady', () => ({ ready: serverReady(deps) })),
    ServerMetadata: unary(log, 'ServerMetadata', () => serverMetadata()),
    ModelReady: unary(log, 'ModelReady', (req: { name: string; version: string }, metadata) => ({ ready: modelReady(deps, target(metadata, req.name, req.version)) })),
    ModelMetadata: unary(log, 'ModelMetadata', (req: { name: string; version: string }, metadata) => modelMetadata(target(metadata, req.name, req.version))),
    ModelInfer: unary(log, 'ModelInfer', async (req: InferRequestMessage, metadata, bounds) => {
      const found = target(metadata, req.model_name, req.model_version);
      const outputs = req.outputs.map((o) => o.name);
      const response = await infer(deps, found, { ...(req.id !== '' ? { id: req.id } : {}), inputs: inputsOf(req), ...(outputs.length > 0 ? { outputs } : {}) }, (i, f) => `inputs[${i}].${f}`, bounds);
      // Raw contents always, as Triton answers: exact for every datatype, FP16 included.
      return {
        model_name: response.model_name,
        model_version: response.model_version,
        id: response.id ?? '',
        outputs: response.outputs.map(({ name, datatype, shape }) => ({ name, datatype, shape })),
        raw_output_contents: response.outputs.map((o) => encodeRaw(o.tensor)),
      };
    }),
  };
}

export interface RunningGrpc {
  readonly port: number;
  close(graceMs: number): Promise<void>;
}

/** Starts the protocol's gRPC server on `host:port` (port 0: any free port). */
export async function startGrpc(deps: AppDeps, host: string, port: number, log: Logger): Promise<RunningGrpc> {
  const definition = protoLoader.loadSync(PROTO_PATH, PROTO_OPTIONS);
  const proto = grpc.loadPackageDefinition(definition) as unknown as { inference: { GRPCInferenceService: grpc.ServiceClientConstructor } };
  const server = new grpc.Server({ 'grpc.max_receive_message_length': deps.config.limits.maxJsonBytes });
  server.addService(proto.inference.GRPCInferenceService.service, implementation(deps, log));
  const address = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  const bound = await new Promise<number>((resolve, reject) => server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(new Error(`grpc.port: cannot listen on ${address}: ${err.message}`, { cause: err })) : resolve(p))));
  return {
    port: bound,
    close: (graceMs) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(() => server.forceShutdown(), graceMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      }),
  };
}
