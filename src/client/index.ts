import type { CreateDeploymentBody, PatchDeploymentBody } from '../api/schemas.js';
import type {
  CreateDeploymentResponse,
  DeploymentView,
  ErrorResponse,
  ModelSummary,
  ModelVersionView,
  ModelView,
  PredictResponse,
  PublishResponse,
} from '../api/types.js';

export type * from '../api/types.js';

/**
 * An error answer from the server, carrying its code (see docs/errors.md).
 * @example try { await client.predict('svc', args) } catch (e) { if (e instanceof ApiError && e.code === 'INPUT_SHAPE_MISMATCH') ... }
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: Record<string, unknown>,
    readonly requestId?: string,
  ) {
    super(message);
    this.name = `ApiError [${code}]`;
  }
}

export interface ClientOptions {
  /** e.g. "http://127.0.0.1:8080" */
  readonly baseUrl: string;
  /** Admin token for management calls, or a deployment token for predictions. */
  readonly token?: string;
}

/** A file part: its name as uploaded and its bytes. */
export interface FilePart {
  readonly name: string;
  readonly data: Uint8Array | Blob;
  readonly type?: string;
}

export interface PublishOptions {
  readonly name: string;
  /** One or more parts: a model file, a zip, or model.json plus weight shards. */
  readonly files: readonly FilePart[];
  readonly description?: string;
  readonly miningFunction?: string;
  /** Records or a split table; its first row becomes the model's sample. */
  readonly xTest?: unknown;
  readonly yTest?: unknown;
}

export interface CallOptions {
  /** The script function to call; "predict" by default. */
  readonly fn?: string;
  /** Ask for stdout/stderr in the answer. */
  readonly debug?: boolean;
  /** Overrides the client's token for this call (e.g. a deployment token). */
  readonly token?: string;
}

function toBlob(part: FilePart): Blob {
  return part.data instanceof Blob ? part.data : new Blob([part.data], { type: part.type ?? 'application/octet-stream' });
}

/** The inferbox REST API as typed calls. Every method throws ApiError for an error answer. */
export class InferboxClient {
  private readonly baseUrl: string;

  constructor(private readonly options: ClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
  }

  /** A client with the same server and another token. */
  withToken(token: string): InferboxClient {
    return new InferboxClient({ ...this.options, token });
  }

  async request<T>(method: string, path: string, body?: unknown, token = this.options.token): Promise<T> {
    const headers: Record<string, string> = {};
    if (token !== undefined) headers.authorization = `Bearer ${token}`;
    let payload: FormData | string | undefined;
    if (body instanceof FormData) payload = body;
    else if (typeof body === 'string') {
      headers['content-type'] = 'text/plain';
      payload = body;
    } else if (body !== undefined) {
      headers['content-type'] = 'application/json';
      payload = JSON.stringify(body);
    }
    const res = await fetch(`${this.baseUrl}${path}`, { method, headers, ...(payload !== undefined ? { body: payload } : {}) });
    if (res.status === 204) return undefined as T;
    const text = await res.text();
    const parsed: unknown = text === '' ? undefined : res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text;
    if (!res.ok) {
      const err = (parsed as ErrorResponse | undefined)?.error;
      throw new ApiError(res.status, err?.code ?? 'HTTP_ERROR', err?.message ?? `${res.status} ${res.statusText}`, err?.details, (parsed as ErrorResponse | undefined)?.requestId);
    }
    return parsed as T;
  }

  publishModel(options: PublishOptions): Promise<PublishResponse> {
    const form = new FormData();
    form.set('name', options.name);
    for (const part of options.files) form.append('file', toBlob(part), part.name);
    if (options.description !== undefined) form.set('description', options.description);
    if (options.miningFunction !== undefined) form.set('mining_function', options.miningFunction);
    if (options.xTest !== undefined) form.set('x_test', JSON.stringify(options.xTest));
    if (options.yTest !== undefined) form.set('y_test', JSON.stringify(options.yTest));
    return this.request('POST', '/api/v1/models', form);
  }

  listModels(): Promise<ModelSummary[]> {
    return this.request('GET', '/api/v1/models');
  }

  getModel(name: string): Promise<ModelView> {
    return this.request('GET', `/api/v1/models/${encodeURIComponent(name)}`);
  }

  getVersion(name: string, version: string | number = 'latest'): Promise<ModelVersionView> {
    return this.request('GET', `/api/v1/models/${encodeURIComponent(name)}/versions/${version}`);
  }

  deleteVersion(name: string, version: string | number): Promise<void> {
    return this.request('DELETE', `/api/v1/models/${encodeURIComponent(name)}/versions/${version}`);
  }

  deleteModel(name: string): Promise<void> {
    return this.request('DELETE', `/api/v1/models/${encodeURIComponent(name)}`);
  }

  /** The DaaS test call: `{ args: { model_name, model_version, X } }` -> result, stdout, stderr. */
  test(args: { model_name: string; model_version?: string | number; X: unknown; [extra: string]: unknown }): Promise<Required<PredictResponse>> {
    return this.request('POST', '/api/v1/test', { args });
  }

  createDeployment(body: CreateDeploymentBody): Promise<CreateDeploymentResponse> {
    return this.request('POST', '/api/v1/deployments', body);
  }

  listDeployments(): Promise<DeploymentView[]> {
    return this.request('GET', '/api/v1/deployments');
  }

  getDeployment(name: string): Promise<DeploymentView> {
    return this.request('GET', `/api/v1/deployments/${encodeURIComponent(name)}`);
  }

  patchDeployment(name: string, body: PatchDeploymentBody): Promise<DeploymentView> {
    return this.request('PATCH', `/api/v1/deployments/${encodeURIComponent(name)}`, body);
  }

  deleteDeployment(name: string): Promise<void> {
    return this.request('DELETE', `/api/v1/deployments/${encodeURIComponent(name)}`);
  }

  /** Calls a deployment with JSON args (`{ X: [...] }`). */
  predict(deployment: string, args: Record<string, unknown>, options: CallOptions = {}): Promise<PredictResponse> {
    return this.request('POST', this.svcPath(deployment, options), { args }, options.token ?? this.options.token);
  }

  /** Calls a deployment with a multipart form: text fields and files (e.g. `{ Input3: png }`). */
  predictForm(deployment: string, fields: Record<string, string>, files: Record<string, FilePart>, options: CallOptions = {}): Promise<PredictResponse> {
    const form = new FormData();
    for (const [k, v] of Object.entries(fields)) form.set(k, v);
    for (const [k, f] of Object.entries(files)) form.set(k, toBlob(f), f.name);
    return this.request('POST', this.svcPath(deployment, options), form, options.token ?? this.options.token);
  }

  health(): Promise<Record<string, unknown>> {
    return this.request('GET', '/healthz');
  }

  private svcPath(deployment: string, options: CallOptions): string {
    const debug = options.debug ? '?debug=true' : '';
    return `/api/v1/svc/${encodeURIComponent(deployment)}/${options.fn ?? 'predict'}${debug}`;
  }
}
