import { ServeError } from '../errors.js';
import type { DeploymentRecord, Store, VersionManifest } from '../store/index.js';

/**
 * Lookups of the management routes. The store's view answers; when it has no such model, version
 * or deployment, the store is asked again before the 404: with several instances (PostgreSQL
 * store), a client that published or deployed on one instance may reach another a moment before
 * that one has heard of it. Only admin routes do this: a prediction for an unknown name never
 * costs a database query (a stranger could send many).
 */
export async function modelVersion(store: Store, name: string, version: number | string = 'latest'): Promise<VersionManifest> {
  try {
    return store.models.get(name, version);
  } catch (err) {
    if (!(err instanceof ServeError && err.code === 'MODEL_NOT_FOUND')) throw err;
    await store.models.refresh(name);
    return store.models.get(name, version);
  }
}

/** The model's versions, oldest first (see modelVersion). */
export async function modelVersions(store: Store, name: string): Promise<VersionManifest[]> {
  try {
    return store.models.versions(name);
  } catch (err) {
    if (!(err instanceof ServeError && err.code === 'MODEL_NOT_FOUND')) throw err;
    await store.models.refresh(name);
    return store.models.versions(name);
  }
}

/** The deployment (see modelVersion). */
export async function deploymentNamed(store: Store, name: string): Promise<DeploymentRecord> {
  const found = store.deployments.find(name);
  if (found !== undefined) return found;
  await store.deployments.refresh(name);
  return store.deployments.get(name);
}
