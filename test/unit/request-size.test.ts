import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadConfig } from '../../src/config.js';
import { ServeError } from '../../src/errors.js';
import { checkRequestSize, countElements, countRecords, serverSizeLimits } from '../../src/front/request-size.js';
import { outputsToJson, runRecords } from '../../src/worker/models/run-records.js';
import { onnxRuntime } from '../../src/worker/runtimes/onnx.js';
import { float16AddOnnx } from '../helpers/onnx-models.js';
import { FIXTURES, IRIS_ONNX } from '../helpers/fixtures.js';
import { tempDir } from '../helpers/tfjs-fixtures.js';

describe('counting a call (front, #14)', () => {
  it('counts records in both layouts of X, and none in a script\'s own argument', () => {
    assert.equal(countRecords([{ a: 1 }, { a: 2 }]), 2);
    assert.equal(countRecords({ columns: ['a'], data: [[1], [2], [3]] }), 3);
    assert.equal(countRecords(undefined), 0);
    assert.equal(countRecords('text'), 0);
    assert.equal(countRecords({ columns: ['a'], data: 'nope' }), 0);
  });

  it('counts every scalar at any depth, typed arrays by length', () => {
    assert.equal(countElements([{ x: [[1, 2], [3, 4]] }, { x: [[5, 6], [7, 8]], label: 'a', ok: true, none: null }]), 11);
    assert.equal(countElements({ data: new Float32Array(10), shape: [2, 5] }), 12);
    assert.equal(countElements([]), 0);
    assert.equal(countElements(7), 1);
  });

  it('uses the defaults a serious deployment needs: 10,000 records and 4,000,000 values per call', () => {
    const limits = serverSizeLimits(loadConfig());
    assert.deepEqual(limits, { maxRecords: 10_000, recordsLimit: 'limits.maxRecords', maxElements: 4_000_000, elementsLimit: 'limits.maxElements' });
    const config = loadConfig();
    assert.equal(config.limits.maxRecordsCap, 100_000);
    assert.equal(config.limits.maxElementsCap, 16_000_000);
  });

  it('leaves uploaded files out of the values it counts', () => {
    const limits = { maxRecords: 10, recordsLimit: 'limits.maxRecords', maxElements: 5, elementsLimit: 'limits.maxElements' };
    assert.doesNotThrow(() => checkRequestSize({ X: [{ x: [1, 2, 3, 4] }], files: { img: { bytes: new Uint8Array(1000) } } }, limits));
    assert.throws(
      () => checkRequestSize({ X: [{ x: [1, 2, 3, 4] }], extra: [1, 2] }, limits),
      (e: unknown) => e instanceof ServeError && e.status === 413 && e.message === 'args hold 6 values, over the limit of 5 per call (limits.maxElements)',
    );
  });
});

describe('runRecords in slices (worker, #14)', () => {
  it('yields to the event loop between slices of a big call, and answers as record-by-record runs (one run per record: iris)', async () => {
    const model = await onnxRuntime.load(FIXTURES + IRIS_ONNX.split('/')[0], IRIS_ONNX.split('/')[1]!, { intraOpThreads: 1 });
    try {
      const records = Array.from({ length: 3000 }, (_, i) => ({ float_input: [4 + (i % 30) / 10, 3, 1 + (i % 50) / 10, 0.2] }));
      let turns = 0;
      let ticking = true;
      const tick = () => {
        turns++;
        if (ticking) setImmediate(tick);
      };
      setImmediate(tick);
      const whole = await runRecords(model, records, (o) => outputsToJson(model, o));
      ticking = false;
      assert.ok(turns > 1, `the event loop turned ${turns} time(s) during the call`);
      const single: unknown[] = [];
      for (const r of records.slice(0, 200)) single.push(...(await runRecords(model, [r], (o) => outputsToJson(model, o))));
      assert.deepEqual(whole.slice(0, 200), single);
      assert.equal(whole.length, records.length);
    } finally {
      await model.dispose();
    }
  });

  it('answers a stacked batch the same across slices: each record gets its own rows (float16 add, batch dimension free)', async (t) => {
    const dir = await tempDir(t);
    await writeFile(join(dir, 'model.onnx'), float16AddOnnx());
    const model = await onnxRuntime.load(dir, 'model.onnx', { intraOpThreads: 1 });
    try {
      // Records of 1 and 2 rows: a slice's batch stacks them and splits them back.
      const records = Array.from({ length: 5000 }, (_, i) => ({ x: i % 3 === 0 ? [[i % 7, 1, 2], [3, 4, i % 5]] : [[i % 11, 0.5, 1]] }));
      const out = await runRecords(model, records, (o) => outputsToJson(model, o));
      assert.equal(out.length, records.length);
      out.forEach((o, i) => assert.deepEqual(o, { y: records[i]!.x.map((row) => row.map((v) => v * 2)) }, `record ${i}`));
    } finally {
      await model.dispose();
    }
  });
});
