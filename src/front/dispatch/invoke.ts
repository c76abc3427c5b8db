import type { InvokeArgs, InvokeResult } from '../../protocol/messages.js';
import type { DeploymentRecord, VersionManifest } from '../../store/index.js';
import type { AppDeps } from '../deps.js';
import { modelRef } from '../views.js';

/**
 * Runs one call of a model version (no script) on a runtime worker. Args without files travel as
 * JSON text, parsed once in the worker: the frame codec visits every value of an object with its
 * replacer and reviver, which on a call of 2,000,000 numbers cost 0.74 s of CPU against 0.22 s for
 * the text, most of it blocking the front's and the worker's event loops (#14).
 */
export function invokeVersion(deps: AppDeps, manifest: VersionManifest, fn: string, args: InvokeArgs): Promise<InvokeResult> {
  const sent = args.files === undefined ? JSON.stringify(args) : args;
  return deps.workers.request<InvokeResult>({ t: 'invoke', model: modelRef(deps.store, manifest), fn, args: sent });
}

/** Runs one call of a deployment: through its script's sandboxes when it has one. */
export function invokeDeployment(deps: AppDeps, record: DeploymentRecord, fn: string, args: InvokeArgs): Promise<InvokeResult> {
  const manifest = deps.store.models.get(record.modelName, record.modelVersion);
  if (record.script === null) return invokeVersion(deps, manifest, fn, args);
  return deps.scripts.invoke(record, { model: modelRef(deps.store, manifest), fn, args });
}
