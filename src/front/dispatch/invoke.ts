import type { InvokeArgs, InvokeResult } from '../../protocol/messages.js';
import type { DeploymentRecord, VersionManifest } from '../../store/index.js';
import type { AppDeps } from '../deps.js';
import { modelRef } from '../views.js';

/** Runs one call of a model version (no script) on a runtime worker. */
export function invokeVersion(deps: AppDeps, manifest: VersionManifest, fn: string, args: InvokeArgs): Promise<InvokeResult> {
  return deps.workers.request<InvokeResult>({ t: 'invoke', model: modelRef(deps.store, manifest), fn, args });
}

/** Runs one call of a deployment: through its script's sandboxes when it has one. */
export function invokeDeployment(deps: AppDeps, record: DeploymentRecord, fn: string, args: InvokeArgs): Promise<InvokeResult> {
  const manifest = deps.store.models.get(record.modelName, record.modelVersion);
  if (record.script === null) return invokeVersion(deps, manifest, fn, args);
  return deps.scripts.invoke(record, { model: modelRef(deps.store, manifest), fn, args });
}
