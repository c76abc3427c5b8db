import type { InspectRequest, InspectResult, InvokeArgs, InvokeRequest, WorkerRequest, WorkerStats } from '../protocol/messages.js';
import { ServeError } from '../errors.js';
import { invokeWithScript } from './scripts/invoke-script.js';
import { invokeModel } from './models/invoke-model.js';
import { prepareUpload } from './publish/prepare-upload.js';
import type { ModelPool } from './models/model-pool.js';
import type { Batcher } from './models/batcher.js';
import { resolveRuntime } from './runtimes/index.js';
import { inferredPreprocess, kerasImpliedPreprocess } from '../model/index.js';
import type { ScriptHost } from './scripts/script-host.js';
import type { WorkerConfig } from '../protocol/worker-config.js';

export interface HandlerDeps {
  readonly pool: ModelPool;
  readonly scripts: ScriptHost;
  readonly config: WorkerConfig;
  readonly batcher: Batcher;
}

/** Dispatches one front request to what serves it; the value is the reply payload. */
export async function handleRequest(req: WorkerRequest, deps: HandlerDeps): Promise<unknown> {
  switch (req.t) {
    case 'invoke':
      // The front answered it already (or is about to): dropped, never run late.
      if (req.deadline !== undefined && Date.now() >= req.deadline) throw new ServeError('DEADLINE_EXCEEDED', `the request's deadline passed before the runtime worker started it; it was not run`);
      if (req.script === undefined) return invokeModel(withArgsObject(req), deps);
      return invokeWithScript(req, deps.scripts.ready(req.script) ?? (await deps.scripts.get(req.script, req.model)), deps.pool, deps.batcher);
    case 'prepare':
      return { functions: [...(await deps.scripts.get(req.script, req.model)).functions] };
    case 'drop':
      deps.scripts.drop(req.owner);
      return { dropped: req.owner };
    case 'inspect':
      return inspectModel(req, deps.config);
    case 'evict':
      return { evicted: deps.pool.evict(req.name, req.version) };
    case 'warm': {
      (await deps.pool.acquire(req.model)).release();
      return { warmed: req.model.key };
    }
    case 'stats':
      return { pid: process.pid, pool: deps.pool.stats(), ...(await deps.scripts.stats()), rssBytes: process.memoryUsage.rss() } satisfies WorkerStats;
  }
}

/** Args may come as JSON text (see InvokeRequest.args): parsed here, once. */
function withArgsObject(req: InvokeRequest): InvokeRequest & { readonly args: InvokeArgs } {
  return typeof req.args === 'string' ? { ...req, args: JSON.parse(req.args) as InvokeArgs } : (req as InvokeRequest & { readonly args: InvokeArgs });
}

/**
 * The publish-time check: prepares staged uploads for serving (converts Keras, opens zips, exposes a
 * ZipMap's tensor), loads the result once to read its signature, then unloads it.
 */
async function inspectModel(req: InspectRequest, config: WorkerConfig): Promise<InspectResult> {
  const prepared = await prepareUpload(req.dir, req.uploads, req.maxUnzippedBytes);
  const model = await resolveRuntime(prepared.format).load(req.dir, prepared.mainFile, { intraOpThreads: config.intraOpThreads });
  try {
    const preprocess = prepared.kerasPreprocessing !== undefined ? kerasImpliedPreprocess(prepared.kerasPreprocessing, model.inputs) : inferredPreprocess(prepared.metadataProps ?? {}, model.inputs);
    return { ...prepared, inputs: model.inputs, outputs: model.outputs, backend: model.backend, preprocess };
  } finally {
    await model.dispose();
  }
}
