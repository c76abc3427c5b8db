import { ServeError } from '../errors.js';
import type { VersionManifest } from './records.js';

/**
 * The versions of every model, by name and number, as both stores keep them in memory (the file
 * store as its only index, the PostgreSQL store as its view of the database), and the lookups the
 * ModelStore interface answers from it.
 */
export type VersionIndex = Map<string, Map<number, VersionManifest>>;

/** Every model's versions, models by name. */
export function listVersions(index: VersionIndex): VersionManifest[][] {
  return [...index.keys()].sort().map((name) => versionsOf(index, name));
}

/** Versions of a model, oldest first; MODEL_NOT_FOUND when there are none. */
export function versionsOf(index: VersionIndex, name: string): VersionManifest[] {
  const versions = index.get(name);
  if (!versions || versions.size === 0) throw new ServeError('MODEL_NOT_FOUND', `model "${name}" does not exist`);
  return [...versions.values()].sort((a, b) => a.version - b.version);
}

/** `version` is a number, a numeric string or "latest". */
export function versionOf(index: VersionIndex, name: string, version: number | string = 'latest'): VersionManifest {
  const versions = versionsOf(index, name);
  if (version === 'latest') return versions.at(-1)!;
  const n = typeof version === 'number' ? version : /^\d+$/.test(version) ? Number(version) : NaN;
  if (Number.isNaN(n)) throw new ServeError('REQUEST_INVALID', `model version must be a number or "latest" (got ${JSON.stringify(version)})`);
  const found = versions.find((v) => v.version === n);
  if (!found) throw new ServeError('MODEL_NOT_FOUND', `model "${name}" has no version ${n} (versions: ${versions.map((v) => v.version).join(', ')})`);
  return found;
}
