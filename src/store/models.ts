import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import { fsyncDir, renameDirAtomic, writeFileAtomic } from './atomic.js';
import { KeyedLock } from './keyed-lock.js';
import type { StoreLayout } from './layout.js';
import { VersionManifestSchema, type ManifestDraft, type VersionManifest } from './records.js';
import { IndexedModels } from './in-memory.js';

export type { Staging } from './in-memory.js';

/** Model versions on the local filesystem, indexed in memory (this process owns the data dir). */
export class FsModelStore extends IndexedModels {
  /** The last version number given per model, so a deleted version's number is never reused. */
  private readonly lastVersion = new Map<string, number>();
  private readonly lock = new KeyedLock();

  constructor(
    private readonly layout: StoreLayout,
    private readonly log: Logger,
  ) {
    super();
  }

  protected get tmpDir(): string {
    return this.layout.tmpDir;
  }

  async open(): Promise<void> {
    await mkdir(this.layout.modelsDir, { recursive: true });
    for (const name of await readdir(this.layout.modelsDir)) {
      const versions = new Map<number, VersionManifest>();
      for (const entry of await readdir(this.layout.modelDir(name)).catch(() => [])) {
        const version = Number(entry);
        if (!Number.isInteger(version) || version < 1) continue;
        try {
          const raw = JSON.parse(await readFile(this.layout.manifestPath(name, version), 'utf8'));
          versions.set(version, VersionManifestSchema.parse(raw));
        } catch (err) {
          this.log.error({ err, model: name, version }, 'skipping a model version whose manifest cannot be read');
        }
      }
      if (versions.size > 0) this.index.set(name, versions);
      const info = await readFile(this.layout.modelInfoPath(name), 'utf8').then((t) => JSON.parse(t) as { lastVersion?: unknown }, () => ({ lastVersion: 0 }));
      const last = Math.max(typeof info.lastVersion === 'number' ? info.lastVersion : 0, ...versions.keys());
      if (last > 0) this.lastVersion.set(name, last);
    }
  }

  versionDir(manifest: VersionManifest): string {
    return this.layout.versionDir(manifest.name, manifest.version);
  }

  /** The version folder is the store itself. */
  async ensureLocal(): Promise<void> {}

  /** This process is the only writer: its index is the store. */
  async refresh(): Promise<void> {}

  /** Removes one version: renamed out of the tree first, so a crash leaves it whole or gone. */
  async deleteVersion(name: string, version: number): Promise<void> {
    await this.lock.run(name, async () => {
      this.get(name, version);
      await this.trash(this.layout.versionDir(name, version));
      this.index.get(name)!.delete(version);
      if (this.index.get(name)!.size === 0) {
        this.index.delete(name);
        this.lastVersion.delete(name);
        await rm(this.layout.modelDir(name), { recursive: true, force: true });
      }
    });
  }

  async deleteModel(name: string): Promise<void> {
    await this.lock.run(name, async () => {
      this.versions(name);
      await this.trash(this.layout.modelDir(name));
      this.index.delete(name);
      this.lastVersion.delete(name);
    });
  }

  async saveScript(name: string, version: number, text: string): Promise<void> {
    this.get(name, version);
    await writeFileAtomic(this.layout.scriptPath(name, version), text);
  }

  /** The version's saved script, or null when none was saved. */
  async getScript(name: string, version: number): Promise<string | null> {
    this.get(name, version);
    try {
      return await readFile(this.layout.scriptPath(name, version), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }

  /** Writes the manifest, gives the next version number and moves the folder into place in one rename. */
  protected async commit(name: string, stagingDir: string, draft: ManifestDraft): Promise<VersionManifest> {
    return this.lock.run(name, async () => {
      const existing = this.index.get(name);
      const version = (this.lastVersion.get(name) ?? 0) + 1;
      const manifest: VersionManifest = { ...draft, name, version, createdAt: new Date().toISOString() };
      const manifestFile = join(stagingDir, 'manifest.json');
      await writeFile(manifestFile, JSON.stringify(manifest, null, 2));
      await syncTree(stagingDir);
      await mkdir(this.layout.modelDir(name), { recursive: true });
      // The counter moves first: a crash between the two leaves a gap in the numbers, never a reuse.
      await writeFileAtomic(this.layout.modelInfoPath(name), JSON.stringify({ name, lastVersion: version }));
      this.lastVersion.set(name, version);
      await renameDirAtomic(stagingDir, this.layout.versionDir(name, version));
      if (existing) existing.set(version, manifest);
      else this.index.set(name, new Map([[version, manifest]]));
      return manifest;
    });
  }

  private async trash(path: string): Promise<void> {
    const graveyard = join(this.layout.tmpDir, `trash-${randomBytes(8).toString('hex')}`);
    await renameDirAtomic(path, graveyard);
    await rm(graveyard, { recursive: true, force: true });
  }
}

/** fsync every file of a staged version (uploads sit in a subfolder) and each folder before the rename. */
async function syncTree(dir: string): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) await syncTree(join(dir, entry.name));
    if (!entry.isFile()) continue;
    const handle = await open(join(dir, entry.name), 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }
  await fsyncDir(dir);
}
