import type { InspectResult, WorkerRequest, WorkerStats } from '../protocol/messages.js';
import { invokeWithScript } from './invoke-script.js';
import { invokeModel } from './invoke.js';
import type { ModelPool } from './pool.js';
import { resolveRuntime } from './runtimes/index.js';
import { prepareOnnxForServing } from './runtimes/onnx-zipmap.js';
import type { ScriptHost } from './script-host.js';
import type { WorkerConfig } from './worker-config.js';

export interface HandlerDeps {
  readonly pool: ModelPool;
  readonly scripts: ScriptHost;
  readonly config: WorkerConfig;
}

/** Dispatches one front request to what serves it; the value is the reply payload. */
export async function handleRequest(req: WorkerRequest, deps: HandlerDeps): Promise<unknown> {
  switch (req.t) {
    case 'invoke':
      if (req.script === undefined) return invokeModel(req, deps);
      return invokeWithScript(req, await deps.scripts.get(req.script, req.model), deps.pool);
    case 'prepare':
      return { functions: [...(await deps.scripts.get(req.script, req.model)).functions] };
    case 'drop':
      deps.scripts.drop(req.owner);
      return { dropped: req.owner };
    case 'inspect':
      return inspectModel(req.format, req.dir, req.mainFile, deps.config);
    case 'evict':
      return { evicted: deps.pool.evict(req.name, req.version) };
    case 'stats':
      return { pid: process.pid, pool: deps.pool.stats(), ...(await deps.scripts.stats()), rssBytes: process.memoryUsage.rss() } satisfies WorkerStats;
  }
}

/**
 * The publish-time check: prepares a staged upload for serving (e.g. exposes a ZipMap's tensor),
 * loads it once to read its signature, then unloads it.
 */
async function inspectModel(format: string, dir: string, uploaded: string, config: WorkerConfig): Promise<InspectResult> {
  const runtime = resolveRuntime(format);
  const { mainFile, written } = format === 'onnx' ? await prepareOnnxForServing(dir, uploaded).catch(() => ({ mainFile: uploaded, written: [] })) : { mainFile: uploaded, written: [] };
  const model = await runtime.load(dir, mainFile, { intraOpThreads: config.intraOpThreads });
  try {
    return { inputs: model.inputs, outputs: model.outputs, backend: model.backend, mainFile, written };
  } finally {
    await model.dispose();
  }
}
