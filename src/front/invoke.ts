import type { InvokeArgs, InvokeResult } from '../protocol/messages.js';
import type { VersionManifest } from '../store/index.js';
import type { AppDeps } from './deps.js';
import { modelRef } from './views.js';

/** Runs one call of a model version on a runtime worker. */
export function invokeVersion(deps: AppDeps, manifest: VersionManifest, fn: string, args: InvokeArgs): Promise<InvokeResult> {
  return deps.workers.request<InvokeResult>({ t: 'invoke', model: modelRef(deps.store, manifest), fn, args });
}
