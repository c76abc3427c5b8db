import type {
  CreateDeploymentResponse,
  DeploymentStatsView,
  DeploymentView,
  ModelSummary,
  ModelVersionView,
  ModelView,
  PredictResponse,
  PublishResponse,
  TokenResponse,
} from '../api/types.js';
import { ApiError } from '../client/errors.js';

/**
 * The console's calls to the REST API (docs/api/). Every failure becomes an ApiError (the SDK's)
 * carrying the server's code and message, so a page can always show what went wrong in words. The
 * calls are its own, not the SDK's Client: the console times each call and reports upload progress,
 * which needs XMLHttpRequest.
 */
export { ApiError };

/** A call's answer with how long it took in the browser, ms. */
export interface Timed<T> {
  readonly body: T;
  readonly ms: number;
}

function errorFrom(status: number, text: string, statusText: string): ApiError {
  try {
    const parsed = JSON.parse(text) as { error?: { code?: string; message?: string; details?: Record<string, unknown> } };
    if (parsed.error?.code) return new ApiError(status, parsed.error.code, parsed.error.message ?? statusText, parsed.error.details, (parsed as { requestId?: string }).requestId);
  } catch {
    // not JSON: told below
  }
  return new ApiError(status, status === 0 ? 'NETWORK' : 'HTTP_ERROR', status === 0 ? 'the server did not answer (is it running?)' : `${status} ${statusText}: ${text.slice(0, 200)}`);
}

export class ConsoleApi {
  constructor(readonly token: string) {}

  private async request<T>(method: string, path: string, body?: BodyInit | object, token = this.token): Promise<Timed<T>> {
    const headers: Record<string, string> = { authorization: `Bearer ${token}` };
    let sent: BodyInit | undefined;
    if (body instanceof FormData || typeof body === 'string') sent = body;
    else if (body !== undefined) {
      sent = JSON.stringify(body);
      headers['content-type'] = 'application/json';
    }
    const started = performance.now();
    let res: Response;
    try {
      res = await fetch(path, { method, headers, ...(sent === undefined ? {} : { body: sent }) });
    } catch {
      throw new ApiError(0, 'NETWORK', 'the server did not answer (is it running?)');
    }
    const text = await res.text();
    const ms = performance.now() - started;
    if (!res.ok) throw errorFrom(res.status, text, res.statusText);
    const type = res.headers.get('content-type') ?? '';
    return { body: (type.includes('json') && text !== '' ? JSON.parse(text) : text) as T, ms };
  }

  models = async () => (await this.request<ModelSummary[]>('GET', '/api/v1/models')).body;
  model = async (name: string) => (await this.request<ModelView>('GET', `/api/v1/models/${enc(name)}`)).body;
  version = async (name: string, version: string) => (await this.request<ModelVersionView>('GET', `/api/v1/models/${enc(name)}/versions/${enc(version)}`)).body;
  deleteVersion = (name: string, version: string) => this.request<void>('DELETE', `/api/v1/models/${enc(name)}/versions/${enc(version)}`);
  deleteModel = (name: string) => this.request<void>('DELETE', `/api/v1/models/${enc(name)}`);

  /** POST /api/v1/test with the model's name and version added to args. */
  test = (name: string, version: string, body: CallBody) => {
    if (body.kind === 'json') return this.request<PredictResponse>('POST', '/api/v1/test', { args: { ...argsOf(body.json), model_name: name, model_version: version } });
    const form = formOf(body.fields);
    form.append('model_name', name);
    form.append('model_version', version);
    return this.request<PredictResponse>('POST', '/api/v1/test', form);
  };

  scriptTemplate = async (name: string, version: string) => (await this.request<string>('GET', `/api/v1/models/${enc(name)}/versions/${enc(version)}/script-template`)).body;
  /** The saved script, or null when the version has none. */
  script = async (name: string, version: string): Promise<string | null> => {
    try {
      return (await this.request<string>('GET', `/api/v1/models/${enc(name)}/versions/${enc(version)}/script`)).body;
    } catch (err) {
      if (err instanceof ApiError && err.code === 'SCRIPT_NOT_FOUND') return null;
      throw err;
    }
  };
  saveScript = async (name: string, version: string, text: string) =>
    (await this.request<{ functions: string[]; bytes: number }>('PUT', `/api/v1/models/${enc(name)}/versions/${enc(version)}/script`, { script: text })).body;
  /** "test as API": the editor's script, a function, and a JSON or form body. */
  testScript = (name: string, version: string, script: string, fn: string, body: CallBody) => {
    const path = `/api/v1/models/${enc(name)}/versions/${enc(version)}/script/test`;
    if (body.kind === 'json') return this.request<PredictResponse>('POST', path, { script, function: fn, args: argsOf(body.json) });
    const form = formOf(body.fields);
    form.append('script', script);
    form.append('function', fn);
    return this.request<PredictResponse>('POST', path, form);
  };

  deployments = async () => (await this.request<DeploymentView[]>('GET', '/api/v1/deployments')).body;
  deployment = async (name: string) => (await this.request<DeploymentView>('GET', `/api/v1/deployments/${enc(name)}`)).body;
  stats = async (name: string) => (await this.request<DeploymentStatsView>('GET', `/api/v1/deployments/${enc(name)}/stats`)).body;
  deploy = async (body: { deployment_name: string; model_name: string; model_version: string; replicas: number; script: boolean }) =>
    (await this.request<CreateDeploymentResponse>('POST', '/api/v1/deployments', body)).body;
  patchDeployment = async (name: string, body: DeploymentChange) => (await this.request<DeploymentView>('PATCH', `/api/v1/deployments/${enc(name)}`, body)).body;
  /** The labels by output, in class order (GET .../labels); null when the deployment has none. */
  labels = async (name: string): Promise<LabelsFile | null> => {
    try {
      return (await this.request<LabelsFile>('GET', `/api/v1/deployments/${enc(name)}/labels`)).body;
    } catch (err) {
      if (err instanceof ApiError && err.code === 'LABELS_NOT_FOUND') return null;
      throw err;
    }
  };
  /** A label file (one label per line, or index_to_name.json) for one output, as text: PUT .../labels. */
  putLabels = async (name: string, text: string, options: { output?: string; top_k?: number } = {}) => {
    const query = new URLSearchParams();
    if (options.output) query.set('output', options.output);
    if (options.top_k !== undefined) query.set('top_k', String(options.top_k));
    const q = query.toString();
    return (await this.request<DeploymentView>('PUT', `/api/v1/deployments/${enc(name)}/labels${q ? `?${q}` : ''}`, text)).body;
  };
  deleteDeployment = (name: string) => this.request<void>('DELETE', `/api/v1/deployments/${enc(name)}`);
  rotateToken = async (name: string) => (await this.request<TokenResponse>('POST', `/api/v1/deployments/${enc(name)}/token`)).body;
  /** A call on the service, with ?debug=true so stdout and stderr come back too. */
  callService = (name: string, fn: string, body: CallBody) =>
    this.request<PredictResponse>('POST', `/api/v1/svc/${enc(name)}/${enc(fn)}?debug=true`, body.kind === 'json' ? { args: argsOf(body.json) } : formOf(body.fields));

  /**
   * Publishes with a real progress bar: fetch() cannot report upload progress, XMLHttpRequest can.
   * `onProgress` gets the fraction sent, 0..1.
   */
  publish(form: FormData, onProgress: (fraction: number) => void): Promise<PublishResponse> {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open('POST', '/api/v1/models');
      xhr.setRequestHeader('authorization', `Bearer ${this.token}`);
      xhr.upload.onprogress = (e) => {
        if (e.lengthComputable) onProgress(e.loaded / e.total);
      };
      xhr.onload = () => {
        if (xhr.status >= 200 && xhr.status < 300) resolve(JSON.parse(xhr.responseText) as PublishResponse);
        else reject(errorFrom(xhr.status, xhr.responseText, xhr.statusText));
      };
      xhr.onerror = () => reject(new ApiError(0, 'NETWORK', 'the upload failed: the server did not answer'));
      xhr.send(form);
    });
  }
}

const enc = encodeURIComponent;

/** What the console's forms change with PATCH /api/v1/deployments/{name}. */
export interface DeploymentChange {
  readonly model_version?: string;
  readonly replicas?: number;
  readonly preprocess?: DeploymentView['preprocess'];
  readonly labels?: null;
  readonly top_k?: number;
}

/** GET .../labels: top_k and each labelled output's names. */
export interface LabelsFile {
  readonly top_k: number;
  readonly labels: Record<string, string[]>;
}

/** A request body as the call forms build it: JSON text, or form fields each text or a file. */
export type CallBody = { readonly kind: 'json'; readonly json: string } | { readonly kind: 'form'; readonly fields: readonly FormField[] };

export interface FormField {
  readonly name: string;
  readonly type: 'text' | 'file';
  readonly text: string;
  readonly file: File | null;
}

/** `args` of a JSON body: the text is `{ "args": {...} }` or the args object itself. */
export function argsOf(json: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch (err) {
    throw new ApiError(0, 'BODY_NOT_JSON', `the body is not valid JSON: ${(err as Error).message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new ApiError(0, 'BODY_NOT_JSON', 'the body must be a JSON object: { "args": { "X": [...] } }');
  const args = (parsed as { args?: unknown }).args;
  return args !== undefined && args !== null && typeof args === 'object' && !Array.isArray(args) ? (args as Record<string, unknown>) : (parsed as Record<string, unknown>);
}

function formOf(fields: readonly FormField[]): FormData {
  const form = new FormData();
  for (const f of fields) {
    if (f.name.trim() === '') continue;
    if (f.type === 'file') {
      if (f.file === null) throw new ApiError(0, 'FILE_NOT_CHOSEN', `choose a file for the field "${f.name}"`);
      form.append(f.name, f.file, f.file.name);
    } else form.append(f.name, f.text);
  }
  return form;
}
