import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fromHalf, nest, sliceBatch, toHalf, toJsonValues } from '../../src/model/tensor.js';

describe('tensor helpers', () => {
  it('round-trips float16 for exact, subnormal, overflowing and special values', () => {
    for (const v of [0, 1, -2, 0.5, 65504, 2 ** -14, 2 ** -24]) assert.equal(fromHalf(toHalf(v)), v, String(v));
    assert.equal(toHalf(1), 0x3c00);
    assert.equal(fromHalf(toHalf(1e6)), Infinity);
    assert.ok(Number.isNaN(fromHalf(toHalf(NaN))));
    assert.ok(Math.abs(fromHalf(toHalf(0.1)) - 0.1) < 1e-4);
  });

  it('turns int64 into numbers when exact and strings beyond 2^53', () => {
    const values = toJsonValues({ dtype: 'int64', shape: [2], data: BigInt64Array.from([7n, 2n ** 60n]) });
    assert.deepEqual(values, [7, '1152921504606846976']);
  });

  it('nests flat values by shape and slices batches without sharing memory', () => {
    assert.deepEqual(nest([1, 2, 3, 4, 5, 6], [2, 3]), [[1, 2, 3], [4, 5, 6]]);
    assert.equal(nest([9], []), 9);
    const t = { dtype: 'float32' as const, shape: [3, 2], data: Float32Array.from([1, 2, 3, 4, 5, 6]) };
    const s = sliceBatch(t, 1, 3);
    assert.deepEqual(s.shape, [2, 2]);
    assert.deepEqual([...s.data], [3, 4, 5, 6]);
    (s.data as Float32Array)[0] = 99;
    assert.equal(t.data[2], 3);
  });
});
