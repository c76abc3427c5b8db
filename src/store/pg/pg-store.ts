import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { ServeError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { lockDataDir } from '../data-dir-lock.js';
import { KeyedLock } from '../keyed-lock.js';
import { StoreLayout } from '../layout.js';
import { DeploymentRecordSchema, VersionManifestSchema, type DeploymentRecord, type ManifestDraft, type VersionManifest } from '../records.js';
import type { ChangeSource, DeploymentStore, ModelStore, Store, StoreChange } from '../index.js';
import { readArtifact, writeArtifact } from './artifacts.js';
import { migrate } from './migrations.js';
import { IndexedDeployments, IndexedModels } from '../in-memory.js';

/** The channel every instance LISTENs on; payloads are `{ o: instance, k: "d" | "m", n: name }`. */
export const CHANGES_CHANNEL = 'inferbox_changes';
const ADMIN_TOKEN_KEY = 'admin_token_sha256';
/** Reconnect delays of the listening connection, growing to the last. */
const RECONNECT_MS = [100, 250, 500, 1000];

interface ChangeNote {
  readonly o: string;
  readonly k: 'd' | 'm';
  readonly n: string;
}

const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

/** True for errors that say the database cannot be reached, as opposed to a refused statement. */
export function isConnectionError(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  if (e === null || typeof e !== 'object') return false;
  const code = typeof e.code === 'string' ? e.code : '';
  // 08: connection exception; 57P01-57P03: the server shuts down, crashed or is starting.
  if (CONNECTION_CODES.has(code) || code.startsWith('08') || /^57P0[123]$/.test(code)) return true;
  const message = typeof e.message === 'string' ? e.message : '';
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Connection ended unexpectedly|the database system is (starting up|shutting down)/i.test(message);
}

/** The URL without its password, for the log and the ready line. */
export function redactedUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'postgres://(unparsable URL)';
  }
}

/** Database errors in the shape the API answers: unreachable is 503 STORE_UNAVAILABLE. */
function storeError(err: unknown): unknown {
  if (err instanceof ServeError || !isConnectionError(err)) return err;
  return new ServeError('STORE_UNAVAILABLE', `the database cannot be reached (${(err as Error).message}); retry once it is back`, undefined, { cause: err });
}

/**
 * The store on PostgreSQL, shared by every instance that names the same database. Reads come from
 * an in-memory view loaded at start and kept current by LISTEN/NOTIFY (and a reload of everything
 * on each (re)connect of the listening connection, so a missed notification is repaired). Writes
 * go to the database first, in one transaction with their notification, then to this view.
 */
class PgStore implements Store {
  readonly layout: StoreLayout;
  readonly where: string;
  readonly models: PgModelStore;
  readonly deployments: PgDeploymentStore;
  readonly instance = randomUUID();
  private readonly listeners: ((change: StoreChange) => void)[] = [];
  private listener: pg.Client | undefined;
  private closed = false;
  private reconnects = 0;
  /** Notifications and reconciles are applied one at a time, in the order they came. */
  private applying: Promise<void> = Promise.resolve();

  constructor(
    readonly pool: pg.Pool,
    private readonly url: string,
    dataDir: string,
    readonly log: Logger,
    /** Lets go of the data directory's lock (the artifact cache and tmp/ are this instance's own). */
    private readonly release: () => Promise<void> = async () => undefined,
  ) {
    this.layout = new StoreLayout(dataDir);
    this.where = `${redactedUrl(url)} (artifact cache in ${this.layout.cacheDir})`;
    this.models = new PgModelStore(this);
    this.deployments = new PgDeploymentStore(this);
  }

  /** Runs `work` on a pooled connection; unreachable database -> STORE_UNAVAILABLE. */
  async query<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw storeError(err);
    }
    let broken = false;
    // pg-pool listens for errors on idle clients only: a connection cut (a database restart,
    // pg_terminate_backend) while `work` holds it between two queries would emit an 'error' with
    // no listener, an uncaught exception that ends the process. Heard here, the client is dropped.
    const onError = (err: Error) => {
      broken = true;
      this.log.warn({ err: err.message }, 'a database connection in use failed');
    };
    client.on('error', onError);
    try {
      return await work(client);
    } catch (err) {
      broken ||= isConnectionError(err);
      throw storeError(err);
    } finally {
      client.removeListener('error', onError);
      client.release(broken);
    }
  }

  /** `work` in one transaction, ending with the NOTIFY of `note` (delivered at commit, never before). */
  transaction<T>(note: Omit<ChangeNote, 'o'> | null, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    return this.query(async (client) => {
      await client.query('BEGIN');
      try {
        const out = await work(client);
        if (note) await client.query('SELECT pg_notify($1, $2)', [CHANGES_CHANNEL, JSON.stringify({ o: this.instance, ...note })]);
        await client.query('COMMIT');
        return out;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      }
    });
  }

  async open(): Promise<void> {
    await mkdir(this.layout.root, { recursive: true });
    // Staged publishes and half-fetched versions that a crash left.
    await rm(this.layout.tmpDir, { recursive: true, force: true });
    await mkdir(this.layout.uploadsDir, { recursive: true });
    await mkdir(this.layout.cacheDir, { recursive: true });
    await migrate(this.pool, this.log);
    await this.reload('start');
    await this.listen();
  }

  onChange(listener: (change: StoreChange) => void): void {
    this.listeners.push(listener);
  }

  emit(change: StoreChange): void {
    this.log.info({ kind: change.kind, name: change.name, via: change.via }, 'store change from another instance');
    for (const listener of this.listeners) {
      try {
        listener(change);
      } catch (err) {
        this.log.error({ err, change: { kind: change.kind, name: change.name } }, 'a store change listener failed');
      }
    }
  }

  async getAdminTokenHash(): Promise<string | null> {
    const { rows } = await this.query((c) => c.query<{ value: string }>('SELECT value FROM settings WHERE key = $1', [ADMIN_TOKEN_KEY]));
    return rows[0]?.value ?? null;
  }

  /**
   * The first hash stored wins: instances that start together on an empty database each generate a
   * token, and all keep the first one stored (the front reads it back to know whether it is its own).
   */
  async setAdminTokenHash(sha256: string): Promise<void> {
    await this.query((c) => c.query('INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING', [ADMIN_TOKEN_KEY, sha256]));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const listener = this.listener;
    this.listener = undefined;
    try {
      await listener?.end().catch(() => undefined);
      await this.applying;
      await this.pool.end();
    } finally {
      await this.release();
    }
  }

  /** The listening connection; on its loss, reconnect with backoff, then reload everything. */
  private async listen(): Promise<void> {
    const client = new pg.Client({ connectionString: this.url, connectionTimeoutMillis: 5000, keepAlive: true });
    let lost = false;
    const onLost = (err?: Error) => {
      if (lost || this.closed) return;
      lost = true;
      this.listener = undefined;
      this.log.warn({ err: err?.message }, 'lost the database connection that hears other instances\' changes; reconnecting');
      client.end().catch(() => undefined);
      void this.reconnect();
    };
    client.on('error', onLost);
    client.on('end', () => onLost());
    client.on('notification', (msg) => {
      if (msg.channel !== CHANGES_CHANNEL || msg.payload === undefined) return;
      let note: ChangeNote;
      try {
        note = JSON.parse(msg.payload) as ChangeNote;
      } catch {
        return;
      }
      if (note.o === this.instance) return;
      this.enqueue(() => (note.k === 'd' ? this.reloadDeployment(note.n, 'notification') : this.reloadModel(note.n, 'notification')));
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANGES_CHANNEL}`);
    } catch (err) {
      lost = true;
      client.end().catch(() => undefined);
      throw storeError(err);
    }
    this.listener = client;
  }

  private async reconnect(): Promise<void> {
    while (!this.closed) {
      await new Promise((r) => setTimeout(r, RECONNECT_MS[Math.min(this.reconnects, RECONNECT_MS.length - 1)]));
      this.reconnects++;
      if (this.closed) return;
      try {
        await this.listen();
        // Whatever changed while nobody listened: the whole view again.
        await new Promise<void>((resolve, reject) => this.enqueue(() => this.reload('reconcile').then(resolve, reject)));
        this.log.info({ attempts: this.reconnects }, 'reconnected to the database; reloaded the store');
        this.reconnects = 0;
        return;
      } catch (err) {
        this.log.debug({ err: (err as Error).message }, 'database still unreachable');
        // The listener may be up with the reload failed: drop it and try both again.
        const listener = this.listener;
        this.listener = undefined;
        await listener?.end().catch(() => undefined);
      }
    }
  }

  private enqueue(task: () => Promise<void>): void {
    this.applying = this.applying.then(task).catch((err: unknown) => {
      // A reconnect reloads everything, so a change that could not be read now is not lost.
      this.log.warn({ err: (err as Error).message }, 'could not read a change from the database');
    });
  }

  /** Loads every model and deployment; after the first load, tells listeners what differs. */
  private async reload(why: 'start' | 'reconcile'): Promise<void> {
    const [versions, deployments] = await this.query(async (c) => [
      (await c.query<{ manifest: unknown }>('SELECT manifest FROM versions')).rows,
      (await c.query<{ record: unknown }>('SELECT record FROM deployments')).rows,
    ] as const);
    const byModel = new Map<string, Map<number, VersionManifest>>();
    for (const { manifest } of versions) {
      const parsed = this.parseManifest(manifest);
      if (parsed === undefined) continue;
      (byModel.get(parsed.name) ?? byModel.set(parsed.name, new Map()).get(parsed.name)!).set(parsed.version, parsed);
    }
    const records = new Map<string, DeploymentRecord>();
    for (const { record } of deployments) {
      const parsed = this.parseRecord(record);
      if (parsed !== undefined) records.set(parsed.name, parsed);
    }
    for (const name of new Set([...this.models.index.keys(), ...byModel.keys()])) this.models.replace(name, byModel.get(name), why === 'start' ? null : 'reconcile');
    for (const name of new Set([...this.deployments.index.keys(), ...records.keys()])) this.deployments.replace(name, records.get(name), why === 'start' ? null : 'reconcile');
  }

  /** Reloads one model or deployment in turn with the notifications, and resolves once it is applied. */
  refresh(kind: 'd' | 'm', name: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.applying = this.applying.then(() => (kind === 'd' ? this.reloadDeployment(name, 'lookup') : this.reloadModel(name, 'lookup')).then(resolve, reject));
    });
  }

  private async reloadModel(name: string, via: 'notification' | 'lookup'): Promise<void> {
    const { rows } = await this.query((c) => c.query<{ manifest: unknown }>('SELECT manifest FROM versions WHERE name = $1', [name]));
    const versions = new Map<number, VersionManifest>();
    for (const { manifest } of rows) {
      const parsed = this.parseManifest(manifest);
      if (parsed) versions.set(parsed.version, parsed);
    }
    this.models.replace(name, versions, via);
  }

  private async reloadDeployment(name: string, via: 'notification' | 'lookup'): Promise<void> {
    const { rows } = await this.query((c) => c.query<{ record: unknown }>('SELECT record FROM deployments WHERE name = $1', [name]));
    this.deployments.replace(name, rows[0] === undefined ? undefined : this.parseRecord(rows[0].record), via);
  }

  private parseManifest(raw: unknown): VersionManifest | undefined {
    const parsed = VersionManifestSchema.safeParse(raw);
    if (!parsed.success) this.log.error({ err: parsed.error.message }, 'skipping a model version whose manifest cannot be read');
    return parsed.success ? parsed.data : undefined;
  }

  private parseRecord(raw: unknown): DeploymentRecord | undefined {
    const parsed = DeploymentRecordSchema.safeParse(raw);
    if (!parsed.success) this.log.error({ err: parsed.error.message }, 'skipping a deployment that cannot be read');
    return parsed.success ? parsed.data : undefined;
  }
}

/** Model versions in PostgreSQL, their files cached on this instance's disk by sha256. */
class PgModelStore extends IndexedModels implements ModelStore {
  /** Versions known to be in the cache, so a request's check costs a lookup, not a stat. */
  private readonly local = new Set<string>();
  private readonly fetches = new KeyedLock();

  constructor(private readonly store: PgStore) {
    super();
  }

  private get layout(): StoreLayout {
    return this.store.layout;
  }

  protected get tmpDir(): string {
    return this.layout.tmpDir;
  }

  versionDir(manifest: VersionManifest): string {
    return this.layout.cachedVersionDir(manifest.name, manifest.version, manifest.sha256);
  }

  /** Fetches the version's files into the cache once (concurrent callers wait for the same fetch). */
  async ensureLocal(manifest: VersionManifest): Promise<void> {
    const dir = this.versionDir(manifest);
    if (this.local.has(dir)) return;
    await this.fetches.run(dir, async () => {
      if (this.local.has(dir)) return;
      if (existsSync(dir)) {
        this.local.add(dir);
        return;
      }
      const tmp = join(this.layout.tmpDir, `fetch-${randomBytes(8).toString('hex')}`);
      try {
        await this.store.query(async (c) => {
          const { rows } = await c.query<{ artifact_id: string }>('SELECT artifact_id FROM versions WHERE name = $1 AND version = $2', [manifest.name, manifest.version]);
          if (rows[0] === undefined) throw new ServeError('MODEL_NOT_FOUND', `model "${manifest.name}" has no version ${manifest.version}`);
          await mkdir(tmp, { recursive: true });
          const hashes = await readArtifact(c, rows[0].artifact_id, tmp);
          for (const file of manifest.files) {
            if (hashes.get(file.name) !== file.sha256) throw new Error(`model "${manifest.name}" version ${manifest.version}: file ${file.name} read back from the database does not match its sha256`);
          }
        });
        await mkdir(this.layout.cacheDir, { recursive: true });
        await rename(tmp, dir);
        this.local.add(dir);
        this.store.log.info({ model: manifest.name, version: manifest.version, dir }, 'fetched a model version from the database into the cache');
      } catch (err) {
        await rm(tmp, { recursive: true, force: true });
        throw storeError(err);
      }
    });
  }

  async deleteVersion(name: string, version: number): Promise<void> {
    this.get(name, version);
    await this.store.transaction({ k: 'm', n: name }, async (c) => {
      await assertUnused(c, name, version);
      const { rows } = await c.query<{ artifact_id: string }>('DELETE FROM versions WHERE name = $1 AND version = $2 RETURNING artifact_id', [name, version]);
      if (rows[0] === undefined) throw new ServeError('MODEL_NOT_FOUND', `model "${name}" has no version ${version}`);
      await c.query('DELETE FROM artifacts WHERE id = $1', [rows[0].artifact_id]);
      // As on the filesystem store, a model without versions is gone with its counter.
      await c.query('DELETE FROM models WHERE name = $1 AND NOT EXISTS (SELECT 1 FROM versions WHERE name = $1)', [name]);
    });
    const versions = new Map(this.index.get(name));
    versions.delete(version);
    this.replace(name, versions, null);
  }

  async deleteModel(name: string): Promise<void> {
    this.versions(name);
    await this.store.transaction({ k: 'm', n: name }, async (c) => {
      await assertUnused(c, name);
      const { rows } = await c.query<{ artifact_id: string }>('DELETE FROM versions WHERE name = $1 RETURNING artifact_id', [name]);
      if (rows.length === 0) throw new ServeError('MODEL_NOT_FOUND', `model "${name}" does not exist`);
      await c.query('DELETE FROM artifacts WHERE id = ANY($1::bigint[])', [rows.map((r) => r.artifact_id)]);
      await c.query('DELETE FROM models WHERE name = $1', [name]);
    });
    this.replace(name, undefined, null);
  }

  refresh(name: string): Promise<void> {
    return this.store.refresh('m', name);
  }

  async saveScript(name: string, version: number, text: string): Promise<void> {
    this.get(name, version);
    const { rowCount } = await this.store.query((c) => c.query('UPDATE versions SET script = $3 WHERE name = $1 AND version = $2', [name, version, text]));
    if (rowCount === 0) throw new ServeError('MODEL_NOT_FOUND', `model "${name}" has no version ${version}`);
  }

  async getScript(name: string, version: number): Promise<string | null> {
    this.get(name, version);
    const { rows } = await this.store.query((c) => c.query<{ script: string | null }>('SELECT script FROM versions WHERE name = $1 AND version = $2', [name, version]));
    if (rows[0] === undefined) throw new ServeError('MODEL_NOT_FOUND', `model "${name}" has no version ${version}`);
    return rows[0].script;
  }

  /**
   * The files and the manifest in one transaction: until it commits no instance sees the version.
   * The number comes from the model's counter row, taken last so its lock (which orders concurrent
   * publishes of the name, on any instance) is held only for the last statements.
   */
  protected async commit(name: string, stagingDir: string, draft: ManifestDraft): Promise<VersionManifest> {
    const manifest = await this.store.transaction({ k: 'm', n: name }, async (c) => {
      const { rows } = await c.query<{ id: string }>('INSERT INTO artifacts DEFAULT VALUES RETURNING id');
      const artifactId = rows[0]!.id;
      await writeArtifact(c, artifactId, stagingDir, new Set(['manifest.json']));
      const counter = await c.query<{ last_version: number }>(
        'INSERT INTO models (name, last_version) VALUES ($1, 1) ON CONFLICT (name) DO UPDATE SET last_version = models.last_version + 1 RETURNING last_version',
        [name],
      );
      const m: VersionManifest = { ...draft, name, version: counter.rows[0]!.last_version, createdAt: new Date().toISOString() };
      await c.query('INSERT INTO versions (name, version, artifact_id, manifest) VALUES ($1, $2, $3, $4)', [name, m.version, artifactId, JSON.stringify(m)]);
      return m;
    });
    // This instance has the files already: the staging folder becomes the cached copy.
    const dir = this.versionDir(manifest);
    try {
      await mkdir(this.layout.cacheDir, { recursive: true });
      await rm(dir, { recursive: true, force: true });
      await rename(stagingDir, dir);
      this.local.add(dir);
    } catch (err) {
      this.store.log.warn({ err, model: name, version: manifest.version }, 'could not keep the published files in the cache; they are fetched on first use');
      await rm(stagingDir, { recursive: true, force: true });
    }
    const versions = new Map(this.index.get(name));
    versions.set(manifest.version, manifest);
    this.replace(name, versions, null);
    return manifest;
  }

  /**
   * Puts a model's versions (undefined or empty: none) in the view and removes the cached files of
   * versions gone. `via` null is this instance's own change; otherwise listeners hear of it.
   */
  replace(name: string, versions: Map<number, VersionManifest> | undefined, via: ChangeSource | null): void {
    const before = this.index.get(name) ?? new Map<number, VersionManifest>();
    const after = versions ?? new Map<number, VersionManifest>();
    const removed = [...before.values()].filter((m) => after.get(m.version)?.createdAt !== m.createdAt);
    const added = [...after.values()].filter((m) => before.get(m.version)?.createdAt !== m.createdAt);
    if (after.size === 0) this.index.delete(name);
    else this.index.set(name, after);
    for (const m of removed) {
      const dir = this.versionDir(m);
      this.local.delete(dir);
      rm(dir, { recursive: true, force: true }).catch((err: unknown) => this.store.log.warn({ err, dir }, 'could not remove a deleted version from the cache'));
    }
    if (via !== null && (removed.length > 0 || added.length > 0)) this.store.emit({ kind: 'model', name, removed: removed.map((m) => m.version), via });
  }
}

/** MODEL_IN_USE when a deployment (of any instance) serves the model, or that version of it. */
async function assertUnused(c: pg.PoolClient, name: string, version?: number): Promise<void> {
  const { rows } = await c.query<{ name: string }>(
    "SELECT name FROM deployments WHERE record->>'modelName' = $1 AND ($2::integer IS NULL OR (record->>'modelVersion')::integer = $2) ORDER BY name",
    [name, version ?? null],
  );
  if (rows.length > 0) {
    const what = version === undefined ? `model "${name}"` : `model "${name}" version ${version}`;
    throw new ServeError('MODEL_IN_USE', `${what} is served by deployment(s) ${rows.map((r) => r.name).join(', ')}; delete or move them first`);
  }
}

/** Deployments in PostgreSQL, one row each, the record as JSON. */
class PgDeploymentStore extends IndexedDeployments implements DeploymentStore {
  constructor(private readonly store: PgStore) {
    super();
  }

  /**
   * Creates (when this instance does not know the name) or replaces. Checked in the database, not
   * only in this view, since another instance may have acted since: a create of a name another
   * instance created is DEPLOYMENT_EXISTS, a change of one it deleted DEPLOYMENT_NOT_FOUND, and the
   * version served must still exist (MODEL_NOT_FOUND).
   */
  async put(record: DeploymentRecord): Promise<void> {
    const parsed = DeploymentRecordSchema.parse(record);
    const creating = !this.index.has(parsed.name);
    await this.store.transaction({ k: 'd', n: parsed.name }, async (c) => {
      // FOR SHARE: a concurrent delete of the version waits for this commit, then sees the deployment.
      const { rows } = await c.query('SELECT 1 FROM versions WHERE name = $1 AND version = $2 FOR SHARE', [parsed.modelName, parsed.modelVersion]);
      if (rows.length === 0) throw new ServeError('MODEL_NOT_FOUND', `model "${parsed.modelName}" has no version ${parsed.modelVersion}`);
      if (creating) {
        const { rowCount } = await c.query('INSERT INTO deployments (name, record) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING', [parsed.name, JSON.stringify(parsed)]);
        if (rowCount === 0) throw new ServeError('DEPLOYMENT_EXISTS', `deployment "${parsed.name}" already exists; PATCH it to change it`);
      } else {
        const { rowCount } = await c.query('UPDATE deployments SET record = $2 WHERE name = $1', [parsed.name, JSON.stringify(parsed)]);
        if (rowCount === 0) throw new ServeError('DEPLOYMENT_NOT_FOUND', `deployment "${parsed.name}" does not exist`);
      }
    });
    this.index.set(parsed.name, parsed);
  }

  refresh(name: string): Promise<void> {
    return this.store.refresh('d', name);
  }

  async delete(name: string): Promise<void> {
    this.get(name);
    await this.store.transaction({ k: 'd', n: name }, async (c) => {
      const { rowCount } = await c.query('DELETE FROM deployments WHERE name = $1', [name]);
      if (rowCount === 0) throw new ServeError('DEPLOYMENT_NOT_FOUND', `deployment "${name}" does not exist`);
    });
    this.index.delete(name);
  }

  replace(name: string, record: DeploymentRecord | undefined, via: ChangeSource | null): void {
    const before = this.index.get(name);
    if (record === undefined) this.index.delete(name);
    else this.index.set(name, record);
    const same = before === undefined ? record === undefined : record !== undefined && JSON.stringify(before) === JSON.stringify(record);
    if (same) {
      // Keep the object the front knows (its script routes and label refs are keyed by it).
      if (before !== undefined) this.index.set(name, before);
      return;
    }
    if (via !== null) this.store.emit({ kind: 'deployment', name, record, via });
  }
}

/**
 * Opens the PostgreSQL store: connects, applies migrations, loads the view, starts listening.
 * `dataDir` holds this instance's artifact cache and staging folders (not shared).
 */
export async function openPgStore(url: string, dataDir: string, log: Logger): Promise<Store> {
  // Instances share the database, never a data directory: two on one would empty each other's tmp/
  // (staged publishes) and race on the artifact cache. The same lock as the file store's.
  const layout = new StoreLayout(dataDir);
  await mkdir(layout.root, { recursive: true });
  const lock = await lockDataDir(layout.root, layout.lockPath, log);
  const pool = new pg.Pool({ connectionString: url, max: 10, connectionTimeoutMillis: 5000, idleTimeoutMillis: 30_000, keepAlive: true });
  // An idle pooled connection cut by a database restart emits here; the pool drops it by itself.
  pool.on('error', (err) => log.warn({ err: err.message }, 'a pooled database connection failed'));
  const store = new PgStore(pool, url, dataDir, log.child({ component: 'store' }), () => lock.release());
  try {
    await store.open();
  } catch (err) {
    await pool.end().catch(() => undefined);
    await lock.release();
    throw err;
  }
  return store;
}
