import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import pg from 'pg';
import { ServeError } from '../../src/errors.js';
import { createLogger } from '../../src/log.js';
import { writeFileAtomic } from '../../src/store/atomic.js';
import { checkName, openFsStore, openPgStore, type DeploymentRecord, type Store, type StoreChange } from '../../src/store/index.js';
import { memoryLog } from '../helpers/memory-log.js';
import { sharedPostgres } from '../helpers/postgres.js';
import { ONNX_DRAFT } from '../helpers/store-fixtures.js';

const draft = ONNX_DRAFT;
const postgres = await sharedPostgres();

const isCode = (code: string) => (e: unknown) => e instanceof ServeError && e.code === code;

/** One backend as the shared tests see it: open (again) on the same data, and clean up. */
interface Backend {
  readonly name: string;
  /** A fresh, empty store's data; returns the opener of stores on it (each call: a new instance). */
  fresh(): Promise<{ dir: string; open(dataDir?: string): Promise<Store> }>;
  readonly skip: string | false;
}

const opened: Store[] = [];
/**
 * PostgreSQL stores a shared test opened, closed when it ends: the later tests that cut every
 * connection (pg_terminate_backend, a database restart) then meet only the stores they opened.
 */
const openedInTest: Store[] = [];
afterEach(async () => {
  await Promise.all(openedInTest.splice(0).map((s) => s.close()));
});
const logs: Record<string, unknown>[] = [];
const log = createLogger({ level: 'info' }, memoryLog(logs));
const dirs: string[] = [];
after(async () => {
  await Promise.all(opened.map((s) => s.close()));
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'inferbox-store-'));
  dirs.push(dir);
  return dir;
}

const BACKENDS: Backend[] = [
  {
    name: 'filesystem',
    skip: false,
    async fresh() {
      const dir = await tempDir();
      return { dir, open: async (dataDir = dir) => openFsStore(dataDir, log) };
    },
  },
  {
    name: 'PostgreSQL',
    skip: postgres.reason ?? false,
    async fresh() {
      const dir = await tempDir();
      const url = await postgres.server!.createDatabase();
      return {
        dir,
        open: async (dataDir = dir) => {
          const store = await openPgStore(url, dataDir, log);
          openedInTest.push(store);
          return store;
        },
      };
    },
  },
];

for (const backend of BACKENDS) {
  describe(`store (${backend.name})`, { skip: backend.skip }, () => {
    let dir: string;
    let open: (dataDir?: string) => Promise<Store>;
    let store: Store;
    before(async () => {
      ({ dir, open } = await backend.fresh());
      store = await open();
      // The suite's own store lives until the end; only those a test opens close with it.
      opened.push(...openedInTest.splice(0));
    });

    async function publish(name: string, on = store) {
      const staging = await on.models.stage();
      await writeFile(join(staging.dir, 'model.onnx'), 'abc');
      return staging.commit(name, draft);
    }

    it('numbers versions 1, 2, ... even when publishes race', async () => {
      const versions = await Promise.all([publish('m'), publish('m'), publish('m')]);
      assert.deepEqual(versions.map((v) => v.version).sort(), [1, 2, 3]);
      assert.equal(store.models.get('m', 'latest').version, 3);
      assert.equal(store.models.get('m', '2').version, 2);
      assert.throws(() => store.models.get('m', 'two'), isCode('REQUEST_INVALID'));
      assert.throws(() => store.models.get('m', 9), isCode('MODEL_NOT_FOUND'));
      assert.throws(() => store.models.versions('none'), isCode('MODEL_NOT_FOUND'));
    });

    it('a version\'s folder holds its files once ensureLocal resolves', async () => {
      const m = store.models.get('m', 1);
      await store.models.ensureLocal(m);
      assert.equal(await readFile(join(store.models.versionDir(m), 'model.onnx'), 'utf8'), 'abc');
    });

    it('leaves nothing behind for a discarded staging folder', async () => {
      const staging = await store.models.stage();
      await writeFile(join(staging.dir, 'model.onnx'), 'half');
      await staging.discard();
      assert.deepEqual(await readdir(join(dir, 'tmp')), ['uploads']);
    });

    it('reopens with the same index and removes what a crash left in tmp/', async () => {
      await mkdir(join(dir, 'tmp', 'stage-crashed'), { recursive: true });
      await writeFile(join(dir, 'tmp', 'stage-crashed', 'model.onnx'), 'partial');
      const reopened = await open();
      assert.deepEqual(reopened.models.versions('m').map((v) => v.version), [1, 2, 3]);
      assert.deepEqual(await readdir(join(dir, 'tmp')), ['uploads']);
    });

    it('deletes versions and models; a deleted version number is never given again while the model has versions', async () => {
      await store.models.deleteVersion('m', 2);
      await store.models.deleteVersion('m', 3);
      assert.deepEqual(store.models.versions('m').map((v) => v.version), [1]);
      assert.equal((await publish('m')).version, 4, 'a deleted version number is never given again');
      assert.equal((await open()).models.get('m', 'latest').version, 4);
      assert.equal((await publish('m')).version, 5, 'not after a restart either');
      await store.models.deleteModel('m');
      assert.throws(() => store.models.versions('m'), isCode('MODEL_NOT_FOUND'));
      await assert.rejects(store.models.deleteModel('m'), isCode('MODEL_NOT_FOUND'));
      assert.equal((await publish('m')).version, 1, 'a model deleted with its versions starts again at 1');
    });

    it('saves scripts and deployments and reads them back after a reopen', async () => {
      await publish('s');
      assert.equal(await store.models.getScript('s', 1), null);
      await store.models.saveScript('s', 1, 'function postprocess(r) { return r }');
      assert.equal(await store.models.getScript('s', 1), 'function postprocess(r) { return r }');
      const now = new Date().toISOString();
      const record: DeploymentRecord = { name: 'd', modelName: 's', modelVersion: 1, replicas: 1, script: null, tokenHash: 'ff', createdAt: now, updatedAt: now, limits: {} };
      await store.deployments.put(record);
      await store.deployments.put({ ...record, replicas: 2 });
      const reopened = await open();
      assert.equal(reopened.deployments.get('d').modelName, 's');
      assert.equal(reopened.deployments.get('d').replicas, 2);
      assert.equal(await reopened.models.getScript('s', 1), 'function postprocess(r) { return r }');
      await store.deployments.delete('d');
      assert.equal(store.deployments.has('d'), false);
      await assert.rejects(store.deployments.delete('d'), isCode('DEPLOYMENT_NOT_FOUND'));
      assert.equal((await open()).deployments.find('d'), undefined);
    });

    it('keeps the admin token hash', async () => {
      assert.equal(await store.getAdminTokenHash(), null);
      await store.setAdminTokenHash('a'.repeat(64));
      assert.equal(await (await open()).getAdminTokenHash(), 'a'.repeat(64));
    });
  });
}

describe('filesystem store only', () => {
  let dir: string;
  let store: Store;
  before(async () => {
    dir = await tempDir();
    store = await openFsStore(dir, log);
  });

  async function publish(name: string) {
    const staging = await store.models.stage();
    await writeFile(join(staging.dir, 'model.onnx'), 'abc');
    return staging.commit(name, draft);
  }

  it('lays versions out as models/<name>/<version>/ beside model.json', async () => {
    await Promise.all([publish('m'), publish('m'), publish('m')]);
    assert.deepEqual((await readdir(join(dir, 'models', 'm'))).sort(), ['1', '2', '3', 'model.json']);
    await store.models.deleteModel('m');
    assert.deepEqual(await readdir(join(dir, 'models')), []);
  });

  it('skips a damaged manifest with a logged error instead of failing to start', async () => {
    await mkdir(join(dir, 'models', 'broken', '1'), { recursive: true });
    await writeFile(join(dir, 'models', 'broken', '1', 'manifest.json'), '{"name":');
    const reopened = await openFsStore(dir, log);
    assert.throws(() => reopened.models.versions('broken'), isCode('MODEL_NOT_FOUND'));
    assert.ok(logs.some((l) => l.model === 'broken' && l.level === 50));
  });

  it('writes deployments as one JSON file each', async () => {
    await publish('s');
    const now = new Date().toISOString();
    await store.deployments.put({ name: 'd', modelName: 's', modelVersion: 1, replicas: 1, script: null, tokenHash: 'ff', createdAt: now, updatedAt: now, limits: {} });
    assert.deepEqual((await readdir(join(dir, 'deployments'))).sort(), ['d.json']);
  });

  it('writes files atomically: a replaced file is whole, and no temp file remains', async () => {
    const path = join(dir, 'atomic.json');
    await writeFileAtomic(path, 'one');
    await Promise.all(Array.from({ length: 20 }, (_, i) => writeFileAtomic(path, `value-${i}`.repeat(1000))));
    assert.match(await readFile(path, 'utf8'), /^(value-\d+)+$/);
    assert.deepEqual((await readdir(dir)).filter((f) => f.includes('atomic')), ['atomic.json']);
  });

  it('accepts safe names and refuses traversal', () => {
    assert.equal(checkName('name', 'keras-iris_v1.2'), 'keras-iris_v1.2');
    for (const bad of ['..', '../x', 'a/b', 'a\\b', '.x', '-x', 'a..b', '', 'é']) {
      assert.throws(() => checkName('name', bad), isCode('REQUEST_INVALID'), bad);
    }
  });
});

describe('PostgreSQL store only: several instances on one database', { skip: postgres.reason ?? false }, () => {
  let url: string;
  let a: Store;
  let b: Store;
  const heardByB: StoreChange[] = [];
  const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');

  before(async () => {
    url = await postgres.server!.createDatabase();
    // Two instances starting together on an empty database: the migrations run once.
    [a, b] = await Promise.all([openPgStore(url, await tempDir(), log), openPgStore(url, await tempDir(), log)]);
    opened.push(a, b);
    b.onChange((change) => heardByB.push(change));
  });

  async function until<T>(what: string, probe: () => T | undefined): Promise<T> {
    for (let i = 0; i < 500; i++) {
      const value = probe();
      if (value !== undefined) return value;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`timed out waiting for ${what}`);
  }

  it('applied each migration once although two instances started together', async () => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const { rows } = await client.query<{ version: number }>('SELECT version FROM inferbox_migrations ORDER BY version');
      assert.deepEqual(rows.map((r) => r.version), [1]);
    } finally {
      await client.end();
    }
    // And a third start applies nothing.
    openedInTest.push(await openPgStore(url, await tempDir(), log));
  });

  it('streams a multi-chunk artifact in and another instance fetches it byte for byte, checked by sha256', async () => {
    const big = Buffer.alloc(2.5 * 1024 * 1024 + 7);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31 + (i >> 10)) & 0xff;
    const staging = await a.models.stage();
    await writeFile(join(staging.dir, 'model.onnx'), big);
    await mkdir(join(staging.dir, 'upload'));
    await writeFile(join(staging.dir, 'upload', 'empty.txt'), '');
    const m = await staging.commit('big', {
      ...draft,
      files: [
        { name: 'model.onnx', bytes: big.length, sha256: sha(big) },
        { name: 'upload/empty.txt', bytes: 0, sha256: sha(Buffer.alloc(0)) },
      ],
      bytes: big.length,
      sha256: sha(big),
    });
    const seen = await until('B to see the version', () => b.models.list().flat().find((v) => v.name === 'big'));
    assert.equal(seen.version, m.version);
    await b.models.ensureLocal(seen);
    assert.equal(sha(await readFile(join(b.models.versionDir(seen), 'model.onnx'))), sha(big));
    assert.equal((await readFile(join(b.models.versionDir(seen), 'upload', 'empty.txt'))).length, 0);
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const { rows } = await client.query<{ n: string; biggest: number }>("SELECT count(*) AS n, max(length(data)) AS biggest FROM artifact_chunks WHERE path = 'model.onnx'");
      assert.equal(Number(rows[0]!.n), 3, 'three chunks of at most 1 MiB');
      assert.equal(rows[0]!.biggest, 1024 * 1024);
    } finally {
      await client.end();
    }
  });

  it('gives distinct version numbers to two instances publishing one name at once', async () => {
    const publishOn = async (store: Store) => {
      const staging = await store.models.stage();
      await writeFile(join(staging.dir, 'model.onnx'), 'abc');
      return staging.commit('race', draft);
    };
    const versions = await Promise.all([publishOn(a), publishOn(b), publishOn(a), publishOn(b), publishOn(a), publishOn(b)]);
    assert.deepEqual(versions.map((v) => v.version).sort((x, y) => x - y), [1, 2, 3, 4, 5, 6]);
    await until('A to see all six', () => (a.models.versions('race').length === 6 ? true : undefined));
    await until('B to see all six', () => (b.models.versions('race').length === 6 ? true : undefined));
  });

  it('tells the other instance of a deployment created, changed and deleted, by notification', async () => {
    const now = new Date().toISOString();
    const record: DeploymentRecord = { name: 'shared', modelName: 'race', modelVersion: 1, replicas: 1, script: null, tokenHash: 'ee', createdAt: now, updatedAt: now, limits: {} };
    await a.deployments.put(record);
    await until('B to have it', () => b.deployments.find('shared'));
    await a.deployments.put({ ...record, modelVersion: 2 });
    await until('B to see version 2', () => (b.deployments.find('shared')?.modelVersion === 2 ? true : undefined));
    await a.deployments.delete('shared');
    await until('B to lose it', () => (b.deployments.has('shared') ? undefined : true));
    const about = heardByB.filter((c) => c.kind === 'deployment' && c.name === 'shared');
    assert.ok(about.length >= 2);
    assert.ok(about.every((c) => c.via === 'notification'));
    const last = about.at(-1)!;
    assert.ok(last.kind === 'deployment' && last.record === undefined, 'the last change heard is the deletion');
  });

  it('checks a create and a change of a deployment in the database, not only in its view', async () => {
    // Rows written behind the instance's back (no notification): its view is stale on purpose.
    const now = new Date().toISOString();
    const record: DeploymentRecord = { name: 'ghost', modelName: 'race', modelVersion: 1, replicas: 1, script: null, tokenHash: 'ee', createdAt: now, updatedAt: now, limits: {} };
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await client.query('INSERT INTO deployments (name, record) VALUES ($1, $2)', ['ghost', JSON.stringify(record)]);
      assert.equal(a.deployments.has('ghost'), false);
      await assert.rejects(a.deployments.put(record), isCode('DEPLOYMENT_EXISTS'));
      await client.query('DELETE FROM deployments WHERE name = $1', ['ghost']);
      await a.deployments.put(record);
      await client.query('DELETE FROM deployments WHERE name = $1', ['ghost']);
      assert.equal(a.deployments.has('ghost'), true);
      await assert.rejects(a.deployments.put({ ...record, replicas: 2 }), isCode('DEPLOYMENT_NOT_FOUND'));
    } finally {
      await client.end();
    }
  });

  it('refresh reads one model or deployment again, for a lookup that missed in the view', async () => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const now = new Date().toISOString();
      const record: DeploymentRecord = { name: 'unheard', modelName: 'race', modelVersion: 1, replicas: 1, script: null, tokenHash: 'ee', createdAt: now, updatedAt: now, limits: {} };
      await client.query('INSERT INTO deployments (name, record) VALUES ($1, $2)', ['unheard', JSON.stringify(record)]);
      assert.equal(b.deployments.find('unheard'), undefined);
      await b.deployments.refresh('unheard');
      assert.equal(b.deployments.get('unheard').modelVersion, 1);
      assert.ok(heardByB.some((c) => c.kind === 'deployment' && c.name === 'unheard' && c.via === 'lookup'));
      await client.query('DELETE FROM deployments WHERE name = $1', ['unheard']);
      await b.deployments.refresh('unheard');
      assert.equal(b.deployments.find('unheard'), undefined);
      await b.models.refresh('no-such-model');
      assert.throws(() => b.models.versions('no-such-model'), isCode('MODEL_NOT_FOUND'));
    } finally {
      await client.end();
    }
  });

  it('refuses to delete a version another instance\'s deployment serves, and to deploy a deleted version', async () => {
    const now = new Date().toISOString();
    const record: DeploymentRecord = { name: 'user', modelName: 'race', modelVersion: 3, replicas: 1, script: null, tokenHash: 'ee', createdAt: now, updatedAt: now, limits: {} };
    await b.deployments.put(record);
    await assert.rejects(a.models.deleteVersion('race', 3), isCode('MODEL_IN_USE'));
    await a.models.deleteVersion('race', 4);
    await assert.rejects(a.deployments.put({ ...record, name: 'late', modelVersion: 4 }), isCode('MODEL_NOT_FOUND'));
    await until('B to lose version 4', () => (b.models.versions('race').some((v) => v.version === 4) ? undefined : true));
    const removal = heardByB.find((c) => c.kind === 'model' && c.name === 'race' && c.removed.includes(4));
    assert.ok(removal, 'B heard of the removed version');
  });

  it('reloads everything when its listening connection comes back, so a change it never heard of is applied', async () => {
    // A change written behind every instance's back (no notification), then B's listener cut.
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const changed = { ...b.deployments.get('user'), replicas: 3 };
      await client.query('UPDATE deployments SET record = $1 WHERE name = $2', [JSON.stringify(changed), 'user']);
      await client.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query ILIKE 'LISTEN%' AND pid <> pg_backend_pid()");
    } finally {
      await client.end();
    }
    await until('B to reload', () => (b.deployments.get('user').replicas === 3 ? true : undefined));
    assert.ok(heardByB.some((c) => c.kind === 'deployment' && c.name === 'user' && c.via === 'reconcile'));
  });

  it('answers STORE_UNAVAILABLE while the database is down, serves reads from memory, and recovers', async () => {
    postgres.server!.stop();
    try {
      await assert.rejects(a.models.getScript('race', 1), isCode('STORE_UNAVAILABLE'));
      await assert.rejects(a.deployments.delete('user'), isCode('STORE_UNAVAILABLE'));
      const staging = await a.models.stage();
      await writeFile(join(staging.dir, 'model.onnx'), 'abc');
      await assert.rejects(staging.commit('down', draft), isCode('STORE_UNAVAILABLE'));
      assert.equal(a.deployments.get('user').modelVersion, 3, 'reads come from the in-memory view');
    } finally {
      postgres.server!.start();
    }
    for (let i = 0; ; i++) {
      try {
        await a.models.saveScript('race', 1, 'x');
        break;
      } catch (err) {
        if (!isCode('STORE_UNAVAILABLE')(err) || i > 100) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    assert.equal(await b.models.getScript('race', 1), 'x');
    await until('the listeners to reconnect', () => (logs.some((l) => l.msg === 'reconnected to the database; reloaded the store') ? true : undefined));
  });
});
