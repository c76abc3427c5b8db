import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createLogger } from '../../src/log.js';
import { isAtomicTempName } from '../../src/store/atomic.js';
import { openFsStore, type DeploymentRecord, type Store } from '../../src/store/index.js';
import { memoryLog } from '../helpers/memory-log.js';
import { ONNX_DRAFT } from '../helpers/store-fixtures.js';

const draft = ONNX_DRAFT;

describe('store open removes the temp files of atomic writes a crash left behind (#14)', () => {
  let dir: string;
  let store: Store;
  let record: DeploymentRecord;
  const logs: Record<string, unknown>[] = [];
  const log = createLogger({ level: 'info' }, memoryLog(logs));

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'inferbox-store-tmp-'));
    store = await openFsStore(dir, log);
    const staging = await store.models.stage();
    await writeFile(join(staging.dir, 'model.onnx'), 'abc');
    await staging.commit('m', draft);
    await store.models.saveScript('m', 1, 'export function predict() {}');
    const now = new Date().toISOString();
    record = { name: 'd', modelName: 'm', modelVersion: 1, replicas: 1, script: null, tokenHash: 'f'.repeat(64), createdAt: now, updatedAt: now, limits: {} };
    await store.deployments.put(record);
    await store.setAdminTokenHash('a'.repeat(64));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('the names writeFileAtomic leaves are the names the sweep removes', async () => {
    assert.ok(isAtomicTempName('.d.json.0123456789ab.tmp'));
    assert.ok(isAtomicTempName('.model.json.abcdef012345.tmp'));
    assert.ok(!isAtomicTempName('d.json'));
    assert.ok(!isAtomicTempName('.d.json.tmp'));
    assert.ok(!isAtomicTempName('.d.json.0123456789ab.tmp.bak'));
  });

  it('removes them from deployments/, secrets/, models/<name>/ and models/<name>/<version>/, and everything still loads', async () => {
    const leftovers = [
      join(dir, 'deployments', '.d.json.0123456789ab.tmp'),
      join(dir, 'deployments', '.e.json.ba9876543210.tmp'),
      join(dir, 'secrets', '.admin-token.json.00112233aabb.tmp'),
      join(dir, 'models', 'm', '.model.json.0a0b0c0d0e0f.tmp'),
      join(dir, 'models', 'm', '1', '.script.js.deadbeef0001.tmp'),
    ];
    for (const file of leftovers) await writeFile(file, '{"half":');
    // Not an atomic write's temp file: left alone.
    await writeFile(join(dir, 'deployments', 'notes.txt'), 'kept');

    const reopened = await openFsStore(dir, log);

    assert.deepEqual((await readdir(join(dir, 'deployments'))).sort(), ['d.json', 'notes.txt']);
    assert.deepEqual(await readdir(join(dir, 'secrets')), ['admin-token.json']);
    assert.deepEqual((await readdir(join(dir, 'models', 'm'))).sort(), ['1', 'model.json']);
    assert.deepEqual((await readdir(join(dir, 'models', 'm', '1'))).sort(), ['manifest.json', 'model.onnx', 'script.js']);
    assert.deepEqual(reopened.deployments.list(), [record]);
    assert.deepEqual(reopened.models.versions('m').map((v) => v.version), [1]);
    assert.equal(await reopened.models.getScript('m', 1), 'export function predict() {}');
    assert.equal(await reopened.getAdminTokenHash(), 'a'.repeat(64));
    const told = logs.filter((l) => l.msg === 'removed temp files of atomic writes a crash left behind');
    assert.deepEqual(told.flatMap((l) => l.files as string[]).sort(), leftovers.map((f) => f.split('/').at(-1)!).sort());
  });

  it('a later write after the sweep works as before', async () => {
    const reopened = await openFsStore(dir, log);
    await reopened.deployments.put({ ...record, replicas: 2 });
    assert.deepEqual((await readdir(join(dir, 'deployments'))).filter(isAtomicTempName), []);
    assert.equal((await openFsStore(dir, log)).deployments.get('d').replicas, 2);
  });
});
