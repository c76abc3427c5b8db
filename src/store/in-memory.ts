import { randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ServeError } from '../errors.js';
import type { DeploymentRecord, ManifestDraft, VersionManifest } from './records.js';

/**
 * What both stores keep in memory and answer the interface's synchronous reads from: the file
 * store as its only index (one process owns the directory), the PostgreSQL store as its view of
 * the database, kept current by LISTEN/NOTIFY. Each subclass writes; these read.
 */

/** A directory under <data>/tmp where a publish assembles its files before it is committed. */
export interface Staging {
  readonly dir: string;
  /** Gives the next version number and makes the version visible, all or nothing. */
  commit(name: string, draft: ManifestDraft): Promise<VersionManifest>;
  discard(): Promise<void>;
}

/** Model versions by name and number, with staging and the lookups of the ModelStore interface. */
export abstract class IndexedModels {
  readonly index = new Map<string, Map<number, VersionManifest>>();

  /** Where staged publishes live (this instance's own: emptied at start). */
  protected abstract get tmpDir(): string;
  /** Commits a staged folder as the next version of `name`. */
  protected abstract commit(name: string, stagingDir: string, draft: ManifestDraft): Promise<VersionManifest>;

  async stage(): Promise<Staging> {
    const dir = join(this.tmpDir, `stage-${randomBytes(8).toString('hex')}`);
    await mkdir(dir, { recursive: true });
    return {
      dir,
      commit: (name, draft) => this.commit(name, dir, draft),
      discard: () => rm(dir, { recursive: true, force: true }),
    };
  }

  list(): VersionManifest[][] {
    return [...this.index.keys()].sort().map((name) => this.versions(name));
  }

  /** Versions of a model, oldest first; MODEL_NOT_FOUND when there are none. */
  versions(name: string): VersionManifest[] {
    const versions = this.index.get(name);
    if (!versions || versions.size === 0) throw new ServeError('MODEL_NOT_FOUND', `model "${name}" does not exist`);
    return [...versions.values()].sort((a, b) => a.version - b.version);
  }

  /** `version` is a number, a numeric string or "latest". */
  get(name: string, version: number | string = 'latest'): VersionManifest {
    const versions = this.versions(name);
    if (version === 'latest') return versions.at(-1)!;
    const n = typeof version === 'number' ? version : /^\d+$/.test(version) ? Number(version) : NaN;
    if (Number.isNaN(n)) throw new ServeError('REQUEST_INVALID', `model version must be a number or "latest" (got ${JSON.stringify(version)})`);
    const found = versions.find((v) => v.version === n);
    if (!found) throw new ServeError('MODEL_NOT_FOUND', `model "${name}" has no version ${n} (versions: ${versions.map((v) => v.version).join(', ')})`);
    return found;
  }
}

/** Deployments by name, with the lookups of the DeploymentStore interface. */
export abstract class IndexedDeployments {
  readonly index = new Map<string, DeploymentRecord>();

  list(): DeploymentRecord[] {
    return [...this.index.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  get(name: string): DeploymentRecord {
    const record = this.index.get(name);
    if (!record) throw new ServeError('DEPLOYMENT_NOT_FOUND', `deployment "${name}" does not exist`);
    return record;
  }

  find(name: string): DeploymentRecord | undefined {
    return this.index.get(name);
  }

  has(name: string): boolean {
    return this.index.has(name);
  }
}
