import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ServeError } from '../../src/errors.js';
import { createLogger } from '../../src/log.js';
import { writeFileAtomic } from '../../src/store/atomic.js';
import { checkName, openFsStore, type Store } from '../../src/store/index.js';
import { memoryLog } from '../helpers/memory-log.js';
import { ONNX_DRAFT } from '../helpers/store-fixtures.js';

const draft = ONNX_DRAFT;

describe('filesystem store', () => {
  let dir: string;
  let store: Store;
  const logs: Record<string, unknown>[] = [];
  const log = createLogger({ level: 'info' }, memoryLog(logs));
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'inferbox-store-'));
    store = await openFsStore(dir, log);
  });
  after(() => rm(dir, { recursive: true, force: true }));

  async function publish(name: string) {
    const staging = await store.models.stage();
    await writeFile(join(staging.dir, 'model.onnx'), 'abc');
    return staging.commit(name, draft);
  }

  it('numbers versions 1, 2, ... even when publishes race', async () => {
    const versions = await Promise.all([publish('m'), publish('m'), publish('m')]);
    assert.deepEqual(versions.map((v) => v.version).sort(), [1, 2, 3]);
    assert.deepEqual((await readdir(join(dir, 'models', 'm'))).sort(), ['1', '2', '3', 'model.json']);
    assert.equal(store.models.get('m', 'latest').version, 3);
    assert.equal(store.models.get('m', '2').version, 2);
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
    const reopened = await openFsStore(dir, log);
    assert.deepEqual(reopened.models.versions('m').map((v) => v.version), [1, 2, 3]);
    assert.deepEqual(await readdir(join(dir, 'tmp')), ['uploads']);
  });

  it('skips a damaged manifest with a logged error instead of failing to start', async () => {
    await mkdir(join(dir, 'models', 'broken', '1'), { recursive: true });
    await writeFile(join(dir, 'models', 'broken', '1', 'manifest.json'), '{"name":');
    const reopened = await openFsStore(dir, log);
    assert.throws(() => reopened.models.versions('broken'), (e: unknown) => e instanceof ServeError && e.code === 'MODEL_NOT_FOUND');
    assert.ok(logs.some((l) => l.model === 'broken' && l.level === 50));
  });

  it('deletes a version and then the model folder with its last version', async () => {
    await store.models.deleteVersion('m', 2);
    await store.models.deleteVersion('m', 3);
    assert.deepEqual(store.models.versions('m').map((v) => v.version), [1]);
    assert.equal((await publish('m')).version, 4, 'a deleted version number is never given again');
    assert.equal((await openFsStore(dir, log)).models.get('m', 'latest').version, 4);
    assert.equal((await publish('m')).version, 5, 'not after a restart either');
    await store.models.deleteModel('m');
    assert.deepEqual(await readdir(join(dir, 'models')).then((d) => d.filter((x) => x !== 'broken')), []);
  });

  it('saves scripts and deployments atomically and reads them back', async () => {
    await publish('s');
    await store.models.saveScript('s', 1, 'function postprocess(r) { return r }');
    assert.equal(await store.models.getScript('s', 1), 'function postprocess(r) { return r }');
    const now = new Date().toISOString();
    await store.deployments.put({ name: 'd', modelName: 's', modelVersion: 1, replicas: 1, script: null, tokenHash: 'ff', createdAt: now, updatedAt: now, limits: {} });
    const reopened = await openFsStore(dir, log);
    assert.equal(reopened.deployments.get('d').modelName, 's');
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
      assert.throws(() => checkName('name', bad), (e: unknown) => e instanceof ServeError && e.code === 'REQUEST_INVALID', bad);
    }
  });
});
