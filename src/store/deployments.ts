import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import type { Logger } from '../log.js';
import { fsyncDir, writeFileAtomic } from './atomic.js';
import { IndexedDeployments } from './in-memory.js';
import type { StoreLayout } from './layout.js';
import { DeploymentRecordSchema, type DeploymentRecord } from './records.js';

/** Deployments as one JSON file each, indexed in memory. */
export class FsDeploymentStore extends IndexedDeployments {
  constructor(
    private readonly layout: StoreLayout,
    private readonly log: Logger,
  ) {
    super();
  }

  async open(): Promise<void> {
    await mkdir(this.layout.deploymentsDir, { recursive: true });
    for (const file of await readdir(this.layout.deploymentsDir)) {
      if (!file.endsWith('.json') || file.startsWith('.')) continue;
      try {
        const record = DeploymentRecordSchema.parse(JSON.parse(await readFile(`${this.layout.deploymentsDir}/${file}`, 'utf8')));
        this.index.set(record.name, record);
      } catch (err) {
        this.log.error({ err, file }, 'skipping a deployment file that cannot be read');
      }
    }
  }

  /** This process is the only writer: its index is the store. */
  async refresh(): Promise<void> {}

  /** Writes (creates or replaces) a deployment atomically. */
  async put(record: DeploymentRecord): Promise<void> {
    const parsed = DeploymentRecordSchema.parse(record);
    await writeFileAtomic(this.layout.deploymentPath(parsed.name), JSON.stringify(parsed, null, 2));
    this.index.set(parsed.name, parsed);
  }

  async delete(name: string): Promise<void> {
    this.get(name);
    await rm(this.layout.deploymentPath(name), { force: true });
    await fsyncDir(this.layout.deploymentsDir);
    this.index.delete(name);
  }
}
