import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLogger } from '../../src/log.js';
import type { ModelRef } from '../../src/protocol/messages.js';
import { ModelPool } from '../../src/worker/models/model-pool.js';
import { onnxRuntime } from '../../src/worker/runtimes/onnx.js';
import type { LoadedModel } from '../../src/worker/runtimes/types.js';
import { FIXTURES, IRIS_ONNX, KERAS_ADD_ONNX } from '../helpers/fixtures.js';

const log = createLogger({ level: 'silent' });
const ref = (name: string, file: string): ModelRef => {
  const [dir, mainFile] = [FIXTURES + file.split('/')[0], file.split('/')[1]!];
  return { key: `${name}@1`, name, version: 1, format: 'onnx', dir, mainFile, bytes: 1000 };
};

function countingPool(maxModels: number) {
  const loads: string[] = [];
  const disposed: string[] = [];
  const pool = new ModelPool({
    maxModels,
    maxBytes: 10 ** 9,
    log,
    load: async (r) => {
      loads.push(r.key);
      const model = await onnxRuntime.load(r.dir, r.mainFile, { intraOpThreads: 1 });
      const dispose = model.dispose.bind(model);
      return Object.assign(Object.create(model) as LoadedModel, {
        dispose: async () => {
          disposed.push(r.key);
          await dispose();
        },
      });
    },
  });
  return { pool, loads, disposed };
}

const irisFeeds = { float_input: { dtype: 'float32' as const, shape: [1, 4], data: Float32Array.from([5.1, 3.5, 1.4, 0.2]) } };

describe('ModelPool with real onnxruntime sessions', () => {
  it('loads a model once for concurrent requests (single flight) and counts hits and misses', async () => {
    const { pool, loads } = countingPool(4);
    const leases = await Promise.all(Array.from({ length: 8 }, () => pool.acquire(ref('iris', IRIS_ONNX))));
    assert.deepEqual(loads, ['iris@1']);
    leases.forEach((l) => l.release());
    (await pool.acquire(ref('iris', IRIS_ONNX))).release();
    const stats = pool.stats();
    assert.equal(stats.loads, 1);
    assert.equal(stats.loaded, 1);
    assert.equal(stats.hits + stats.misses, 9);
    assert.ok(stats.hits >= 1);
    await pool.clear();
  });

  it('evicts the least recently used model but disposes a leased one only after its release', async () => {
    const { pool, disposed } = countingPool(1);
    const iris = await pool.acquire(ref('iris', IRIS_ONNX));
    const add = await pool.acquire(ref('add', KERAS_ADD_ONNX)); // evicts iris while it is leased
    assert.equal(pool.stats().evictions, 1);
    assert.deepEqual(disposed, []);
    const out = await iris.model.run(irisFeeds);
    assert.equal(out.output_label!.data[0], 0n, 'the leased session still runs');
    iris.release();
    await pool.clear();
    add.release();
    assert.deepEqual(disposed.sort(), ['add@1', 'iris@1']);
  });

  it('does not cache a failed load', async () => {
    const { pool, loads } = countingPool(2);
    const bad: ModelRef = { ...ref('bad', IRIS_ONNX), mainFile: 'missing.onnx', key: 'bad@1' };
    await assert.rejects(pool.acquire(bad), /not a loadable ONNX model/);
    await assert.rejects(pool.acquire(bad));
    assert.equal(loads.length, 2);
    assert.equal(pool.stats().loaded, 0);
  });
});
