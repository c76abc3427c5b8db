import { Router } from '@koa/router';
import type { Context } from 'koa';
import { CreateDeploymentSchema, parseBody, PatchDeploymentSchema, type CreateDeploymentBody } from '../../api/schemas.js';
import type { CreateDeploymentResponse, DeploymentStatsView, TokenResponse } from '../../api/types.js';
import { ServeError } from '../../errors.js';
import { batchDimProblem, preprocessProblems, type PreprocessBlock } from '../../model/index.js';
import { checkName, type DeploymentRecord, type VersionManifest } from '../../store/index.js';
import { hashToken, mintToken, requireAdmin } from '../auth/index.js';
import { baseUrl } from '../base-url.js';
import { jsonBody, textBody } from '../body.js';
import { bodyOf } from '../context.js';
import { labelsFor, labelsFromFile } from '../deployment-labels.js';
import type { AppDeps } from '../deps.js';
import { deploymentNamed, modelVersion } from '../store-lookups.js';
import { deploymentView, samplePayload } from '../views.js';

type Limits = DeploymentRecord['limits'];

type LimitFields = Pick<
  CreateDeploymentBody,
  'timeout_ms' | 'memory_limit_mb' | 'max_result_bytes' | 'max_records' | 'max_elements' | 'request_timeout_ms' | 'max_queue' | 'max_batch_size' | 'max_delay_us'
>;

/** Per-deployment limits, refused when over the server-wide caps. */
function limitsFrom(deps: AppDeps, body: LimitFields, current: Limits = {}): Limits {
  const { sandbox, limits } = deps.config;
  const capped = (field: keyof LimitFields, cap: number, capKey: string): number | undefined => {
    const value = body[field];
    if (value !== undefined && value > cap) throw new ServeError('REQUEST_INVALID', `${field} must be at most ${cap} (${capKey}), got ${value}`, { field });
    return value;
  };
  const set = {
    timeoutMs: capped('timeout_ms', sandbox.maxTimeoutMs, 'sandbox.maxTimeoutMs'),
    memoryLimitMb: capped('memory_limit_mb', sandbox.maxMemoryLimitMb, 'sandbox.maxMemoryLimitMb'),
    maxRecords: capped('max_records', limits.maxRecordsCap, 'limits.maxRecordsCap'),
    maxElements: capped('max_elements', limits.maxElementsCap, 'limits.maxElementsCap'),
    maxResultBytes: capped('max_result_bytes', sandbox.maxResultBytesCap, 'sandbox.maxResultBytesCap'),
    requestTimeoutMs: capped('request_timeout_ms', limits.requestTimeoutMsCap, 'limits.requestTimeoutMsCap'),
    maxQueue: capped('max_queue', limits.maxQueueCap, 'limits.maxQueueCap'),
    maxBatchSize: capped('max_batch_size', limits.maxBatchSizeCap, 'limits.maxBatchSizeCap'),
    maxDelayUs: capped('max_delay_us', limits.maxBatchDelayUsCap, 'limits.maxBatchDelayUsCap'),
  };
  return { ...current, ...Object.fromEntries(Object.entries(set).filter(([, v]) => v !== undefined)) };
}

/**
 * Dynamic batching stacks calls along the first dimension: refused for a version whose inputs or
 * outputs fix it, at create and at every PATCH (a new version may fix it).
 */
function checkBatching(limits: Limits, manifest: VersionManifest): Limits {
  if ((limits.maxBatchSize ?? 1) <= 1) return limits;
  const problem = batchDimProblem(manifest.inputs, manifest.outputs);
  if (problem !== null) {
    throw new ServeError(
      'REQUEST_INVALID',
      `max_batch_size ${limits.maxBatchSize} needs a model whose inputs and outputs all have a free first (batch) dimension, but model "${manifest.name}" version ${manifest.version}'s ${problem}; leave max_batch_size at 1`,
      { field: 'max_batch_size' },
    );
  }
  return limits;
}

/** Calls sent to each worker (placed ones first listed even at zero), in flight there now, and queued in the front. */
function dispatchView(deps: AppDeps, name: string): DeploymentStatsView['dispatch'] {
  const sent = deps.stats.workersOf(name);
  const load = deps.workers.tenantLoad(name);
  const workers = new Set([...deps.placer.viewOf(name).workers, ...sent.keys()]);
  return {
    queued: load.queued,
    workers: [...workers].sort((a, b) => a - b).map((worker) => ({ worker, calls: sent.get(worker) ?? 0, in_flight: load.inflight[worker] ?? 0 })),
  };
}

function checkReplicas(deps: AppDeps, replicas: number): number {
  if (replicas > deps.config.sandbox.maxReplicas) {
    throw new ServeError('REQUEST_INVALID', `replicas must be at most ${deps.config.sandbox.maxReplicas} (sandbox.maxReplicas), got ${replicas}`, { field: 'replicas' });
  }
  return replicas;
}

/** `script: true` takes the version's saved script, a string is the script, false/absent is none. */
async function scriptFor(deps: AppDeps, choice: boolean | string | undefined, manifest: VersionManifest): Promise<string | null> {
  if (typeof choice === 'string') return choice;
  if (choice !== true) return null;
  const saved = await deps.store.models.getScript(manifest.name, manifest.version);
  if (saved === null) {
    throw new ServeError('REQUEST_INVALID', `model "${manifest.name}" version ${manifest.version} has no saved script (PUT .../versions/${manifest.version}/script first)`, { field: 'script' });
  }
  return saved;
}

/** A preprocess block checked against the version's inputs: REQUEST_INVALID naming each bad field. */
function checkPreprocess(block: PreprocessBlock | null | undefined, manifest: VersionManifest): { preprocess?: PreprocessBlock } {
  if (block === null || block === undefined || Object.keys(block).length === 0) return {};
  const problems = preprocessProblems(block, manifest.inputs);
  if (problems.length > 0) throw new ServeError('REQUEST_INVALID', `invalid body: ${problems.join('; ')}`, { field: 'preprocess', issues: problems });
  return { preprocess: block };
}

/** Create, list, read, change and delete deployments. */
export function deploymentRoutes(deps: AppDeps): Router {
  const { store, config } = deps;
  const router = new Router({ prefix: '/api/v1/deployments' });
  const view = (ctx: Context, d: DeploymentRecord) => deploymentView(d, baseUrl(ctx, config), config, deps.placer.viewOf(d.name));
  router.use(requireAdmin(deps.adminTokenHash));
  const json = jsonBody(config.limits.maxJsonBytes);

  router.post('/', json, async (ctx) => {
    const body = parseBody(CreateDeploymentSchema, bodyOf(ctx));
    const name = checkName('deployment_name', body.deployment_name);
    if (store.deployments.has(name)) throw new ServeError('DEPLOYMENT_EXISTS', `deployment "${name}" already exists; PATCH it to change it`);
    const manifest = await modelVersion(store, body.model_name, body.model_version ?? 'latest');
    const token = mintToken('ibx_svc');
    const script = await scriptFor(deps, body.script, manifest);
    const labels = await labelsFor(deps, body, manifest, script);
    const now = new Date().toISOString();
    const record: DeploymentRecord = {
      name,
      modelName: manifest.name,
      modelVersion: manifest.version,
      replicas: checkReplicas(deps, body.replicas ?? 1),
      script,
      tokenHash: hashToken(token),
      createdAt: now,
      updatedAt: now,
      limits: checkBatching(limitsFrom(deps, body), manifest),
      ...(labels === undefined ? {} : { labels }),
      // Without a block of its own, the one the model file implies (shown in the version, PATCH null drops it).
      ...checkPreprocess(body.preprocess === undefined ? manifest.preprocess : body.preprocess, manifest),
      ...(body.preprocess === undefined && manifest.preprocess !== undefined ? { preprocessInferred: true as const } : {}),
    };
    // Sandboxes are built (and init run) where it is placed before it exists: a bad script is refused here.
    await deps.placer.deploy(record);
    ctx.status = 201;
    ctx.body = {
      ...view(ctx, record),
      access_token: token,
      payload: { args: { X: [samplePayload(manifest)] } },
    } satisfies CreateDeploymentResponse;
  });

  router.get('/', (ctx) => {
    ctx.body = store.deployments.list().map((d) => view(ctx, d));
  });

  router.get('/:name', async (ctx) => {
    ctx.body = view(ctx, await deploymentNamed(store, ctx.params.name!));
  });

  /** The script text the deployment runs (copied from the version or given inline at deploy time). */
  router.get('/:name/script', async (ctx) => {
    const d = await deploymentNamed(store, ctx.params.name!);
    if (d.script === null) throw new ServeError('SCRIPT_NOT_FOUND', `deployment "${d.name}" runs no script`);
    ctx.type = 'application/javascript';
    ctx.body = d.script;
  });

  /**
   * A new token for the deployment; the old one stops working at once. Tokens are stored hashed, so
   * this is how a lost one is replaced (the console's "new token" button).
   */
  router.post('/:name/token', async (ctx) => {
    const current = await deploymentNamed(store, ctx.params.name!);
    const token = mintToken('ibx_svc');
    await store.deployments.put({ ...current, tokenHash: hashToken(token), updatedAt: new Date().toISOString() });
    ctx.body = { deployment_name: current.name, access_token: token } satisfies TokenResponse;
  });

  /** Calls per function since the server started, where they went, and the state of the script's sandboxes. */
  router.get('/:name/stats', async (ctx) => {
    const d = await deploymentNamed(store, ctx.params.name!);
    ctx.body = {
      deployment_name: d.name,
      since: deps.stats.since,
      sandboxes: { ...deps.scripts.stateOf(d), replicas: d.script === null ? 0 : d.replicas },
      dispatch: dispatchView(deps, d.name),
      functions: deps.stats.of(d.name),
    } satisfies DeploymentStatsView;
  });

  router.patch('/:name', json, async (ctx) => {
    const current = await deploymentNamed(store, ctx.params.name!);
    const body = parseBody(PatchDeploymentSchema, bodyOf(ctx));
    const manifest = await modelVersion(store, current.modelName, body.model_version ?? current.modelVersion);
    const script = body.script === undefined ? current.script : await scriptFor(deps, body.script, manifest);
    const { labels: _, preprocess: _old, preprocessInferred: _inferred, ...rest } = current;
    const labels = await labelsFor(deps, body, manifest, script, current);
    // An inferred block follows the model version (the new version's own, or none); a block given in a call stays.
    const inferred = body.preprocess === undefined && current.preprocessInferred === true;
    const block = body.preprocess !== undefined ? body.preprocess : inferred ? manifest.preprocess : current.preprocess;
    const record: DeploymentRecord = {
      ...rest,
      ...checkPreprocess(block, manifest),
      ...(inferred && manifest.preprocess !== undefined ? { preprocessInferred: true as const } : {}),
      modelVersion: manifest.version,
      replicas: body.replicas === undefined ? current.replicas : checkReplicas(deps, body.replicas),
      script,
      limits: checkBatching(limitsFrom(deps, body, current.limits), manifest),
      ...(labels === undefined ? {} : { labels }),
      updatedAt: new Date().toISOString(),
    };
    // New sandboxes (or the model) first, where it is placed; then the switch. If they fail, the old ones keep serving.
    await deps.placer.deploy(record);
    ctx.body = view(ctx, record);
  });

  /**
   * A label file for an output: text/plain with one label per line (class 0 first), or JSON (TorchServe's
   * index_to_name.json, or a list). `?output=` names the output when the model has several, `?top_k=` sets top_k, `?scores=` the scores.
   */
  router.put('/:name/labels', textBody(config.limits.maxJsonBytes), async (ctx) => {
    const current = await deploymentNamed(store, ctx.params.name!);
    const names = labelsFromFile(bodyOf(ctx));
    const output = typeof ctx.query.output === 'string' ? ctx.query.output : undefined;
    const topK = typeof ctx.query.top_k === 'string' ? ctx.query.top_k : undefined;
    const scores = typeof ctx.query.scores === 'string' ? ctx.query.scores : undefined;
    const body = parseBody(
      PatchDeploymentSchema,
      { labels: output === undefined ? names : { [output]: names }, ...(topK === undefined ? {} : { top_k: Number(topK) }), ...(scores === undefined ? {} : { scores }) },
      'query',
    );
    const manifest = await modelVersion(store, current.modelName, current.modelVersion);
    const labels = await labelsFor(deps, body, manifest, current.script, current);
    const record: DeploymentRecord = { ...current, ...(labels === undefined ? {} : { labels }), updatedAt: new Date().toISOString() };
    await deps.placer.deploy(record);
    ctx.body = view(ctx, record);
  });

  /** The labels by output name, in class order: `{ top_k, labels: { "<output>": [...] } }`. */
  router.get('/:name/labels', async (ctx) => {
    const d = await deploymentNamed(store, ctx.params.name!);
    if (d.labels === undefined) throw new ServeError('LABELS_NOT_FOUND', `deployment "${d.name}" has no labels`);
    ctx.body = { top_k: d.labels.topK, labels: Object.fromEntries(d.labels.outputs.map((o) => [o.output, o.names])) };
  });

  router.delete('/:name', async (ctx) => {
    await deploymentNamed(store, ctx.params.name!);
    await deps.placer.remove(ctx.params.name!);
    deps.stats.forget(ctx.params.name!);
    ctx.status = 204;
  });

  return router;
}
