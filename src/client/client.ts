import type { CreateDeploymentBody, PatchDeploymentBody } from '../api/schemas.js';
import type {
  CreateDeploymentResponse,
  DeploymentStatsView,
  DeploymentView,
  ErrorResponse,
  ModelSummary,
  ModelVersionView,
  ModelView,
  PredictResponse,
  PublishResponse,
  TokenResponse,
} from '../api/types.js';
import { exampleRecord, zeroOf } from '../model/example-record.js';
import { ApiError, ConnectionError } from './errors.js';
import { readFile } from 'node:fs/promises';
import { filePart, modelParts, toBlob, type FilePart, type ModelSource } from './files.js';

export interface ClientOptions {
  /** e.g. "http://127.0.0.1:8080"; default INFERBOX_URL, else http://localhost:8080. */
  readonly baseUrl?: string;
  /** Admin token for management calls, or a deployment token for predictions; default INFERBOX_TOKEN. */
  readonly token?: string;
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
  /**
   * Called as the upload's bytes are handed to the connection, with the bytes sent so far and the
   * body's total (the multipart encoding of every part and field). Node and other runtimes whose
   * fetch can stream a request body (`duplex: 'half'`).
   */
  readonly onProgress?: (sent: number, total: number) => void;
}

/** Per-call options of `request`. */
export interface RequestOptions {
  /** For a FormData body: called with the bytes sent so far and the body's total. */
  readonly onProgress?: (sent: number, total: number) => void;
}

export interface CallOptions {
  /** The script function to call; "predict" by default. */
  readonly fn?: string;
  /** Ask for stdout/stderr in the answer. */
  readonly debug?: boolean;
  /** Overrides the client's token for this call (e.g. a deployment token). */
  readonly token?: string;
}

/** What the seed's `client.test(name, model_version)` answers: a call to make, ready to send. */
export interface TestEndpoint {
  readonly access_token: string;
  readonly endpoint_url: string;
  readonly payload: { args: { X: unknown[]; model_name: string; model_version: string } };
}

/** Files for a form call, by field: a path, bytes with a name, or a Blob/File. */
export type FormFiles = Readonly<Record<string, string | FilePart | Blob>>;

const enc = encodeURIComponent;
const env = (name: string): string | undefined => (typeof process === 'undefined' ? undefined : process.env[name]) || undefined;

/**
 * The inferbox REST API as typed calls (docs/sdk.md). Every method throws ApiError for an error
 * answer (with the server's code, status and message) and ConnectionError when the server cannot
 * be reached. Answers keep the API's snake_case shapes, the seed's dicts.
 */
export class Client {
  readonly baseUrl: string;
  readonly token: string | undefined;

  constructor(options: ClientOptions = {}) {
    this.baseUrl = (options.baseUrl ?? env('INFERBOX_URL') ?? 'http://localhost:8080').replace(/\/+$/, '');
    this.token = options.token ?? env('INFERBOX_TOKEN');
  }

  /** A client with the same server and another token. */
  withToken(token: string): Client {
    return new (this.constructor as typeof Client)({ baseUrl: this.baseUrl, token });
  }

  async request<T>(method: string, path: string, body?: unknown, token = this.token, options: RequestOptions = {}): Promise<T> {
    const headers: Record<string, string> = {};
    if (token !== undefined) headers.authorization = `Bearer ${token}`;
    let payload: FormData | string | ReadableStream<Uint8Array> | undefined;
    if (body instanceof FormData && options.onProgress !== undefined) {
      const counted = await countedForm(body, options.onProgress);
      headers['content-type'] = counted.type;
      headers['content-length'] = String(counted.total);
      payload = counted.body;
    } else if (body instanceof FormData) payload = body;
    else if (typeof body === 'string') {
      headers['content-type'] = 'text/plain';
      payload = body;
    } else if (body !== undefined) {
      headers['content-type'] = 'application/json';
      payload = JSON.stringify(body);
    }
    let res: Response;
    try {
      const streamed = payload instanceof ReadableStream ? { duplex: 'half' } : {};
      res = await fetch(`${this.baseUrl}${path}`, { method, headers, ...(payload !== undefined ? { body: payload } : {}), ...streamed } as RequestInit);
    } catch (err) {
      throw new ConnectionError(this.baseUrl, { cause: err });
    }
    if (res.status === 204) return undefined as T;
    const text = await res.text();
    const parsed: unknown = text === '' ? undefined : res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text;
    if (!res.ok) {
      const err = (parsed as ErrorResponse | undefined)?.error;
      throw new ApiError(res.status, err?.code ?? 'HTTP_ERROR', err?.message ?? `${res.status} ${res.statusText}`, err?.details, (parsed as ErrorResponse | undefined)?.requestId);
    }
    return parsed as T;
  }

  // ---- models -----------------------------------------------------------------------------

  /**
   * The seed's `client.publish(model, name=..., mining_function=..., x_test=..., y_test=...)`:
   * `model` is a path (a file, or a folder of TF.js or unzipped Keras 3 files), bytes with a name,
   * a Blob/File, or a list of them. Answers `{ model_name, model_version }`.
   */
  async publish(model: ModelSource, options: Omit<PublishOptions, 'files'>): Promise<PublishResponse> {
    return this.publishModel({ ...options, files: await modelParts(model) });
  }

  publishModel(options: PublishOptions): Promise<PublishResponse> {
    const form = new FormData();
    form.set('name', options.name);
    for (const part of options.files) form.append('file', toBlob(part), part.name);
    if (options.description !== undefined) form.set('description', options.description);
    if (options.miningFunction !== undefined) form.set('mining_function', options.miningFunction);
    if (options.xTest !== undefined) form.set('x_test', JSON.stringify(options.xTest));
    if (options.yTest !== undefined) form.set('y_test', JSON.stringify(options.yTest));
    return this.request('POST', '/api/v1/models', form, this.token, options.onProgress !== undefined ? { onProgress: options.onProgress } : {});
  }

  listModels(): Promise<ModelSummary[]> {
    return this.request('GET', '/api/v1/models');
  }

  getModel(name: string): Promise<ModelView> {
    return this.request('GET', `/api/v1/models/${enc(name)}`);
  }

  getVersion(name: string, version: string | number = 'latest'): Promise<ModelVersionView> {
    return this.request('GET', `/api/v1/models/${enc(name)}/versions/${enc(String(version))}`);
  }

  deleteVersion(name: string, version: string | number): Promise<void> {
    return this.request('DELETE', `/api/v1/models/${enc(name)}/versions/${enc(String(version))}`);
  }

  deleteModel(name: string): Promise<void> {
    return this.request('DELETE', `/api/v1/models/${enc(name)}`);
  }

  // ---- test ---------------------------------------------------------------------------------

  /**
   * The seed's `client.test(name, model_version)`: where and how to call the test API for a
   * version, with its stored sample (or zeros of each input's shape) as the payload.
   */
  async testEndpoint(name: string, version: string | number = 'latest'): Promise<TestEndpoint> {
    const v = await this.getVersion(name, version);
    return {
      access_token: this.token ?? '',
      endpoint_url: `${this.baseUrl}/api/v1/test`,
      payload: { args: { X: [v.sample ?? exampleRecord(v.inputs, zeroOf)], model_name: v.model_name, model_version: v.model_version } },
    };
  }

  /**
   * Runs the DaaS test call: `{ args: { model_name, model_version, X } }` -> result, stdout, stderr.
   * X is records, rows or a split table; without X (and no other argument) the version's stored sample runs.
   */
  test(args: { model_name: string; model_version?: string | number; X?: unknown; [extra: string]: unknown }): Promise<Required<PredictResponse>> {
    return this.request('POST', '/api/v1/test', { args });
  }

  /** The test call with files (multipart), e.g. `{ Input3: 'digit.png' }`. */
  async testFiles(name: string, version: string | number, files: FormFiles, fields: Readonly<Record<string, string>> = {}): Promise<Required<PredictResponse>> {
    const form = await this.form({ ...fields, model_name: name, model_version: String(version) }, files);
    return this.request('POST', '/api/v1/test', form);
  }

  // ---- scripts ------------------------------------------------------------------------------

  scriptTemplate(name: string, version: string | number = 'latest'): Promise<string> {
    return this.request('GET', `${this.versionPath(name, version)}/script-template`);
  }

  /** The version's saved script, or null when it has none. */
  async getScript(name: string, version: string | number = 'latest'): Promise<string | null> {
    try {
      return await this.request<string>('GET', `${this.versionPath(name, version)}/script`);
    } catch (err) {
      if (err instanceof ApiError && err.code === 'SCRIPT_NOT_FOUND') return null;
      throw err;
    }
  }

  /** Saves a script (JavaScript or TypeScript) with a version; refused with SCRIPT_INVALID if it cannot run. */
  saveScript(name: string, version: string | number, script: string): Promise<{ model_name: string; model_version: string; functions: string[]; bytes: number }> {
    return this.request('PUT', `${this.versionPath(name, version)}/script`, { script });
  }

  /** "Test as API": runs `script` (default: the saved one) on a version, with JSON args or files. */
  async testScript(
    name: string,
    version: string | number,
    options: { script?: string; fn?: string; args?: Record<string, unknown>; files?: FormFiles },
  ): Promise<Required<PredictResponse>> {
    const path = `${this.versionPath(name, version)}/script/test`;
    if (options.files === undefined) {
      return this.request('POST', path, { ...(options.script !== undefined ? { script: options.script } : {}), function: options.fn ?? 'predict', args: options.args ?? {} });
    }
    const fields: Record<string, string> = { function: options.fn ?? 'predict', ...(options.script !== undefined ? { script: options.script } : {}) };
    if (options.args?.X !== undefined) fields.X = JSON.stringify(options.args.X);
    return this.request('POST', path, await this.form(fields, options.files));
  }

  // ---- deployments --------------------------------------------------------------------------

  /**
   * The seed's `client.deploy(model_name=..., deployment_name=..., model_version=..., replicas=1)`.
   * Answers the deployment with `access_token`, `endpoint_url` and a `payload` ready to send.
   */
  deploy(options: {
    modelName: string;
    deploymentName: string;
    modelVersion?: string | number;
    replicas?: number;
    script?: boolean | string;
    timeoutMs?: number;
    memoryLimitMb?: number;
    /** Bytes a script's result may take as JSON (`max_result_bytes`); default the server's `sandbox.maxResultBytes`. */
    maxResultBytes?: number;
    /** Most records one call may carry (`max_records`); default the server's `limits.maxRecords`. */
    maxRecords?: number;
    /** Most values one call's arguments may hold (`max_elements`); default the server's `limits.maxElements`. */
    maxElements?: number;
    /** Class names of the output (or `{ "<output name>": [...] }`): it then answers `[{ label, score }]`, best first. Deployments without a script. */
    labels?: string[] | Record<string, string[]>;
    /** How many labels each row answers (`top_k`); default 5, at most the number of labels. */
    topK?: number;
    /** How the labelled outputs' values become scores (`scores`): "auto" (default), "softmax", "sigmoid" or "probabilities". */
    scores?: 'auto' | 'probabilities' | 'softmax' | 'sigmoid';
    /**
     * Declarative image preprocessing per image input (`{ "<input>": { scale, mean, std, ... } }`,
     * docs/uploads.md); absent, the block the version implies, if any.
     */
    preprocess?: CreateDeploymentBody['preprocess'];
    /** Each call's deadline in ms from its arrival (`request_timeout_ms`); default the server's `limits.requestTimeoutMs`. */
    requestTimeoutMs?: number;
    /** Calls that may wait for a worker (`max_queue`); one more gets 503 OVERLOADED. Default the server's `limits.maxQueue`. */
    maxQueue?: number;
    /** Dynamic batching: most rows one model run takes from concurrent calls (`max_batch_size`); default 1, off. */
    maxBatchSize?: number;
    /** Dynamic batching: microseconds a run may wait for more calls (`max_delay_us`); default 0. */
    maxDelayUs?: number;
  }): Promise<CreateDeploymentResponse> {
    return this.createDeployment({
      deployment_name: options.deploymentName,
      model_name: options.modelName,
      ...(options.modelVersion !== undefined ? { model_version: options.modelVersion } : {}),
      ...(options.replicas !== undefined ? { replicas: options.replicas } : {}),
      ...(options.script !== undefined ? { script: options.script } : {}),
      ...(options.timeoutMs !== undefined ? { timeout_ms: options.timeoutMs } : {}),
      ...(options.memoryLimitMb !== undefined ? { memory_limit_mb: options.memoryLimitMb } : {}),
      ...(options.maxResultBytes !== undefined ? { max_result_bytes: options.maxResultBytes } : {}),
      ...(options.maxRecords !== undefined ? { max_records: options.maxRecords } : {}),
      ...(options.maxElements !== undefined ? { max_elements: options.maxElements } : {}),
      ...(options.labels !== undefined ? { labels: options.labels } : {}),
      ...(options.topK !== undefined ? { top_k: options.topK } : {}),
      ...(options.scores !== undefined ? { scores: options.scores } : {}),
      ...(options.preprocess !== undefined ? { preprocess: options.preprocess } : {}),
      ...(options.requestTimeoutMs !== undefined ? { request_timeout_ms: options.requestTimeoutMs } : {}),
      ...(options.maxQueue !== undefined ? { max_queue: options.maxQueue } : {}),
      ...(options.maxBatchSize !== undefined ? { max_batch_size: options.maxBatchSize } : {}),
      ...(options.maxDelayUs !== undefined ? { max_delay_us: options.maxDelayUs } : {}),
    });
  }

  createDeployment(body: CreateDeploymentBody): Promise<CreateDeploymentResponse> {
    return this.request('POST', '/api/v1/deployments', body);
  }

  listDeployments(): Promise<DeploymentView[]> {
    return this.request('GET', '/api/v1/deployments');
  }

  getDeployment(name: string): Promise<DeploymentView> {
    return this.request('GET', `/api/v1/deployments/${enc(name)}`);
  }

  patchDeployment(name: string, body: PatchDeploymentBody): Promise<DeploymentView> {
    return this.request('PATCH', `/api/v1/deployments/${enc(name)}`, body);
  }

  /**
   * A label file for a deployment (PUT .../labels): text with one label per line (class 0 first), or
   * TorchServe's index_to_name.json as an object (`{ "0": "cat", ... }`). `output` names the output
   * when the model has several.
   */
  putLabels(name: string, file: string | Record<string, unknown> | string[], options: { output?: string; topK?: number; scores?: 'auto' | 'probabilities' | 'softmax' | 'sigmoid' } = {}): Promise<DeploymentView> {
    const query = new URLSearchParams({
      ...(options.output !== undefined ? { output: options.output } : {}),
      ...(options.topK !== undefined ? { top_k: String(options.topK) } : {}),
      ...(options.scores !== undefined ? { scores: options.scores } : {}),
    }).toString();
    return this.request('PUT', `/api/v1/deployments/${enc(name)}/labels${query === '' ? '' : `?${query}`}`, file);
  }

  /** The labels by output name, in class order: `{ top_k, labels: { "<output>": [...] } }` (LABELS_NOT_FOUND without). */
  getLabels(name: string): Promise<{ top_k: number; labels: Record<string, string[]> }> {
    return this.request('GET', `/api/v1/deployments/${enc(name)}/labels`);
  }

  /**
   * putLabels with a label file on disk: a `.json` file (index_to_name.json, or a list) is sent as
   * JSON, anything else as text (one label per line).
   */
  async putLabelsFile(name: string, path: string, options: { output?: string; topK?: number; scores?: 'auto' | 'probabilities' | 'softmax' | 'sigmoid' } = {}): Promise<DeploymentView> {
    const text = await readFile(path, 'utf8');
    if (!path.toLowerCase().endsWith('.json')) return this.putLabels(name, text, options);
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw new TypeError(`putLabelsFile: ${path} is not JSON: ${(err as Error).message}`);
    }
    return this.putLabels(name, parsed as Record<string, unknown> | string[], options);
  }

  deleteDeployment(name: string): Promise<void> {
    return this.request('DELETE', `/api/v1/deployments/${enc(name)}`);
  }

  /** A new token for the deployment; the old one is refused from then on. */
  rotateToken(name: string): Promise<TokenResponse> {
    return this.request('POST', `/api/v1/deployments/${enc(name)}/token`);
  }

  /** Calls per function since the server started, and the state of the script's sandboxes. */
  stats(name: string): Promise<DeploymentStatsView> {
    return this.request('GET', `/api/v1/deployments/${enc(name)}/stats`);
  }

  // ---- predictions --------------------------------------------------------------------------

  /** Calls a deployment with JSON args (`{ X: [...] }`). */
  predict(deployment: string, args: Record<string, unknown>, options: CallOptions = {}): Promise<PredictResponse> {
    return this.request('POST', this.svcPath(deployment, options), { args }, options.token ?? this.token);
  }

  /** Calls a deployment with a multipart form: files by field (e.g. `{ Input3: 'digit.png' }`) and text fields. */
  async predictFiles(deployment: string, files: FormFiles, options: CallOptions & { fields?: Readonly<Record<string, string>> } = {}): Promise<PredictResponse> {
    return this.request('POST', this.svcPath(deployment, options), await this.form(options.fields ?? {}, files), options.token ?? this.token);
  }

  /** @deprecated use predictFiles: the same call with parts only. */
  predictForm(deployment: string, fields: Record<string, string>, files: Record<string, FilePart>, options: CallOptions = {}): Promise<PredictResponse> {
    return this.predictFiles(deployment, files, { ...options, fields });
  }

  health(): Promise<Record<string, unknown>> {
    return this.request('GET', '/healthz');
  }

  // ---- helpers ------------------------------------------------------------------------------

  private versionPath(name: string, version: string | number): string {
    return `/api/v1/models/${enc(name)}/versions/${enc(String(version))}`;
  }

  private svcPath(deployment: string, options: CallOptions): string {
    const debug = options.debug ? '?debug=true' : '';
    return `/api/v1/svc/${enc(deployment)}/${enc(options.fn ?? 'predict')}${debug}`;
  }

  private async form(fields: Readonly<Record<string, string>>, files: FormFiles): Promise<FormData> {
    const form = new FormData();
    for (const [k, v] of Object.entries(fields)) form.set(k, v);
    for (const [field, value] of Object.entries(files)) {
      const part = await filePart(value, field);
      form.set(field, toBlob(part), part.name);
    }
    return form;
  }

}

/**
 * A form as a counted stream: its multipart encoding (by the runtime's own FormData serializer),
 * measured once to know the total, then streamed again in 64 KiB slices, each counted when the
 * connection pulls it. The parts are Blobs, so measuring reads them without keeping a copy.
 */
async function countedForm(form: FormData, onProgress: (sent: number, total: number) => void): Promise<{ body: ReadableStream<Uint8Array>; type: string; total: number }> {
  let total = 0;
  const measure = new Response(form).body;
  if (measure !== null) for await (const chunk of measure as unknown as AsyncIterable<Uint8Array>) total += chunk.byteLength;
  const encoded = new Response(form);
  const type = encoded.headers.get('content-type') ?? 'multipart/form-data';
  const reader = (encoded.body ?? new Blob([]).stream()).getReader();
  const SLICE = 64 * 1024;
  let chunk: Uint8Array = new Uint8Array(0);
  let offset = 0;
  let sent = 0;
  onProgress(0, total);
  const body = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        while (offset >= chunk.byteLength) {
          const next = await reader.read();
          if (next.done) return controller.close();
          chunk = next.value;
          offset = 0;
        }
        const slice = chunk.subarray(offset, offset + SLICE);
        offset += slice.byteLength;
        sent += slice.byteLength;
        controller.enqueue(slice);
        onProgress(sent, total);
      },
      cancel(reason) {
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
  return { body, type, total };
}
