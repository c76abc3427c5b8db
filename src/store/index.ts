import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import { removeAtomicLeftovers, writeFileAtomic } from './atomic.js';
import { lockDataDir } from './data-dir-lock.js';
import { FsDeploymentStore } from './deployments.js';
import { StoreLayout } from './layout.js';
import { FsModelStore, type Staging } from './models.js';
import type { DeploymentRecord, VersionManifest } from './records.js';

export { checkName, NAME_PATTERN } from './names.js';
export { DataDirLockedError } from './data-dir-lock.js';
export type { Staging };
export type { DeploymentRecord, ManifestDraft, VersionManifest } from './records.js';
export { FsDeploymentStore, FsModelStore, StoreLayout };
export { openPgStore } from './pg/pg-store.js';

/** Model versions: staged publishes, lookups (numbers or "latest"), deletion, saved scripts. */
export interface ModelStore {
  stage(): Promise<Staging>;
  list(): VersionManifest[][];
  versions(name: string): VersionManifest[];
  get(name: string, version?: number | string): VersionManifest;
  /** A local directory holding the version's files (the PostgreSQL store caches them there: ensureLocal first). */
  versionDir(manifest: VersionManifest): string;
  /**
   * Makes versionDir(manifest) hold the version's files before a worker loads them: nothing to do
   * on the filesystem store; the PostgreSQL store fetches them from the database once, by sha256.
   */
  ensureLocal(manifest: VersionManifest): Promise<void>;
  deleteVersion(name: string, version: number): Promise<void>;
  deleteModel(name: string): Promise<void>;
  saveScript(name: string, version: number, text: string): Promise<void>;
  getScript(name: string, version: number): Promise<string | null>;
  /**
   * Reads the model's versions from the store again: for a lookup that missed in this instance's
   * view just after another instance published (the PostgreSQL store; nothing to do on the filesystem).
   */
  refresh(name: string): Promise<void>;
}

/** Deployments by name. */
export interface DeploymentStore {
  list(): DeploymentRecord[];
  get(name: string): DeploymentRecord;
  find(name: string): DeploymentRecord | undefined;
  has(name: string): boolean;
  put(record: DeploymentRecord): Promise<void>;
  delete(name: string): Promise<void>;
  /** Reads the deployment from the store again (see ModelStore.refresh). */
  refresh(name: string): Promise<void>;
}

/**
 * What another instance changed, as this one's view of the store now has it (PostgreSQL store
 * only: the filesystem store has one instance). `via` says how it was learnt.
 */
export type StoreChange =
  | { readonly kind: 'deployment'; readonly name: string; readonly record: DeploymentRecord | undefined; readonly via: ChangeSource }
  | { readonly kind: 'model'; readonly name: string; readonly removed: readonly number[]; readonly via: ChangeSource };

/** A notification; the reload of everything after a (re)connect; or a lookup that missed in the view (`refresh`). */
export type ChangeSource = 'notification' | 'reconcile' | 'lookup';

/**
 * The store the front talks to: the filesystem one (`openFsStore`, one instance per data
 * directory) or the PostgreSQL one (`openPgStore`, shared by several instances). The sync read
 * methods read an in-memory view; the PostgreSQL store keeps it current with other instances'
 * changes and tells `onChange` listeners about them.
 */
export interface Store {
  /** The local data directory (the PostgreSQL store keeps only its artifact cache and staging there). */
  readonly layout: StoreLayout;
  /** Where the data is, for people: a directory, or a database (without its password). */
  readonly where: string;
  readonly models: ModelStore;
  readonly deployments: DeploymentStore;
  getAdminTokenHash(): Promise<string | null>;
  setAdminTokenHash(sha256: string): Promise<void>;
  /** Hears what other instances change (never this instance's own writes). */
  onChange(listener: (change: StoreChange) => void): void;
  /** Lets go of the data directory (its lock), once nothing writes any more. */
  close(): Promise<void>;
}

/** Every folder writeFileAtomic writes into: deployments/, secrets/, models/<name>/, models/<name>/<version>/. */
async function atomicWriteDirs(layout: StoreLayout): Promise<string[]> {
  const dirs = [layout.deploymentsDir, layout.secretsDir];
  const list = async (dir: string) => (await readdir(dir, { withFileTypes: true }).catch(() => [])).filter((e) => e.isDirectory()).map((e) => join(dir, e.name));
  for (const modelDir of await list(layout.modelsDir)) dirs.push(modelDir, ...(await list(modelDir)));
  return dirs;
}

/**
 * Opens (creating if needed) the data directory, taking its lock (another live instance on it:
 * DataDirLockedError), and clears what a crash left behind: tmp/, and the temp files of atomic
 * writes that never reached their rename (`deployments/.<name>.json.<hex>.tmp`).
 */
export async function openFsStore(dataDir: string, log: Logger): Promise<Store> {
  const layout = new StoreLayout(dataDir);
  await mkdir(layout.root, { recursive: true });
  // Before anything is cleared or read: a second instance would empty the first one's tmp/ and then
  // serve its own copy of the directory's state, diverging from the first with every write.
  const lock = await lockDataDir(layout.root, layout.lockPath, log);
  try {
    return await openLocked(layout, log, () => lock.release());
  } catch (err) {
    await lock.release();
    throw err;
  }
}

async function openLocked(layout: StoreLayout, log: Logger, release: () => Promise<void>): Promise<Store> {
  // Staged publishes that never committed (a crash mid-publish) are the only thing under tmp/.
  await rm(layout.tmpDir, { recursive: true, force: true });
  await mkdir(layout.uploadsDir, { recursive: true });
  await mkdir(layout.secretsDir, { recursive: true, mode: 0o700 });
  // The old file (or none) is still in place beside each such temp file: the write never happened.
  for (const dir of await atomicWriteDirs(layout)) {
    const removed = await removeAtomicLeftovers(dir);
    if (removed.length > 0) log.info({ dir, files: removed }, 'removed temp files of atomic writes a crash left behind');
  }
  const models = new FsModelStore(layout, log);
  const deployments = new FsDeploymentStore(layout, log);
  await models.open();
  await deployments.open();
  return {
    layout,
    where: layout.root,
    // One instance per data directory: nobody else changes it.
    onChange() {},
    models,
    deployments,
    async getAdminTokenHash() {
      try {
        const { sha256 } = JSON.parse(await readFile(layout.adminTokenPath, 'utf8')) as { sha256?: unknown };
        return typeof sha256 === 'string' ? sha256 : null;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw err;
      }
    },
    async setAdminTokenHash(sha256: string) {
      await writeFileAtomic(layout.adminTokenPath, JSON.stringify({ sha256, createdAt: new Date().toISOString() }));
    },
    close: release,
  };
}
