import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { normalizeX, orient } from '../../src/api/records.js';
import { ServeError } from '../../src/errors.js';
import { bindRecords, canBatch, splitOutputs } from '../../src/worker/models/binding.js';
import type { TensorSpec } from '../../src/worker/runtimes/types.js';

const iris: TensorSpec[] = [{ name: 'x', dtype: 'float32', shape: [-1, 4] }];
const probs: TensorSpec[] = [{ name: 'p', dtype: 'float32', shape: [-1, 3] }];
const code = (c: string) => (e: unknown) => e instanceof ServeError && e.code === c;

describe('normalizeX', () => {
  it('accepts records and split tables and answers in the same orientation', () => {
    assert.deepEqual(normalizeX([{ x: 1 }]), { records: [{ x: 1 }], orientation: 'records' });
    const split = normalizeX({ columns: ['a', 'b'], data: [[1, 2], [3, 4]] });
    assert.deepEqual(split.records, [{ a: 1, b: 2 }, { a: 3, b: 4 }]);
    assert.deepEqual(orient([{ y: 1 }, { y: 2 }], 'split'), { columns: ['y'], data: [[1], [2]] });
  });

  it('rejects other shapes of X naming the field', () => {
    assert.throws(() => normalizeX(5), code('REQUEST_INVALID'));
    assert.throws(() => normalizeX([1]), /args\.X\[0\] must be an object/);
    assert.throws(() => normalizeX({ columns: ['a'], data: [[1, 2]] }), /args\.X\.data\[0\] must be an array of 1 values/);
    assert.throws(() => normalizeX([5], iris), /^ServeError \[REQUEST_INVALID\]: args\.X\[0\] must be a record \{ input: value \} or a row \(a list\)$/);
    assert.throws(() => normalizeX('rows', iris, 'x_test'), /^ServeError \[REQUEST_INVALID\]: x_test must be a list of records/);
  });

  it('maps plain rows to the single input, whatever its shape', () => {
    assert.deepEqual(normalizeX([[5.1, 3.5, 1.4, 0.2], { x: [1, 2, 3, 4] }], iris).records, [{ x: [5.1, 3.5, 1.4, 0.2] }, { x: [1, 2, 3, 4] }]);
    const image: TensorSpec[] = [{ name: 'img', dtype: 'float32', shape: [-1, 2, 2] }];
    assert.deepEqual(normalizeX([[[0, 1], [2, 3]]], image).records, [{ img: [[0, 1], [2, 3]] }], 'a [-1,2,2] input takes a nested 2x2 list per row');
    const typed = Float32Array.from([1, 2, 3, 4]);
    assert.equal(normalizeX([typed], iris).records[0]!.x, typed);
  });

  it('maps a multi-input row to the inputs in order, and refuses one that could mean something else', () => {
    const two: TensorSpec[] = [{ name: 'a', dtype: 'float32', shape: [-1, 2] }, { name: 'b', dtype: 'float32', shape: [-1, 1] }];
    assert.deepEqual(normalizeX([[[1, 2], [3]]], two).records, [{ a: [1, 2], b: [3] }]);
    assert.throws(() => normalizeX([[1, 2, 3]], two), /^ServeError \[REQUEST_INVALID\]: args\.X\[0\] is a row of 3 plain values, but the model has 2 inputs \('a' \[-1,2\], 'b' \[-1,1\]\): send each row as \[a, b\]/);
    assert.throws(() => normalizeX([[1, 2]], two), /args\.X\[0\] is a row of 2 plain values/, 'a row of numbers the length of the inputs is still ambiguous');
    assert.throws(() => normalizeX([[[1, 2]]], two, 'x_test'), /^ServeError \[REQUEST_INVALID\]: x_test\[0\] is a row of 1 value, but the model has 2 inputs/);
    const scalars: TensorSpec[] = [{ name: 'age', dtype: 'float32', shape: [-1, 1] }, { name: 'income', dtype: 'float32', shape: [-1] }];
    assert.deepEqual(normalizeX([[41, 52000]], scalars).records, [{ age: 41, income: 52000 }], 'inputs of one value each take a row of numbers');
  });
});

describe('bindRecords', () => {
  it('adds an omitted leading batch dimension of 1 (the seed sends [5.7, 4.4, 1.5, 0.4])', () => {
    const [batch] = bindRecords([{ x: [5.7, 4.4, 1.5, 0.4] }], iris, probs);
    assert.deepEqual(batch!.feeds.x!.shape, [1, 4]);
    assert.ok(batch!.feeds.x!.data instanceof Float32Array);
  });

  it('stacks records into one batch when inputs and outputs have a free leading dimension', () => {
    assert.ok(canBatch(iris, probs));
    const batches = bindRecords([{ x: [1, 2, 3, 4] }, { x: [[5, 6, 7, 8], [9, 10, 11, 12]] }], iris, probs);
    assert.equal(batches.length, 1);
    assert.deepEqual(batches[0]!.feeds.x!.shape, [3, 4]);
    assert.deepEqual(batches[0]!.rows, [1, 2]);
    const outputs = { p: { dtype: 'float32' as const, shape: [3, 3], data: Float32Array.from([1, 1, 1, 2, 2, 2, 3, 3, 3]) } };
    const split = splitOutputs(batches[0]!, outputs);
    assert.deepEqual(split[0]!.p!.shape, [1, 3]);
    assert.deepEqual([...split[1]!.p!.data], [2, 2, 2, 3, 3, 3]);
  });

  it('runs records one by one when the batch dimension is fixed', () => {
    const fixed: TensorSpec[] = [{ name: 'x', dtype: 'float32', shape: [1, 4] }];
    assert.equal(bindRecords([{ x: [1, 2, 3, 4] }, { x: [1, 2, 3, 4] }], fixed, probs).length, 2);
  });

  it('coerces to int64, bool and float16 and refuses values that do not fit', () => {
    const specs: TensorSpec[] = [
      { name: 'i', dtype: 'int64', shape: [2] },
      { name: 'b', dtype: 'bool', shape: [2] },
      { name: 'h', dtype: 'float16', shape: [1] },
      { name: 'u', dtype: 'uint8', shape: [1] },
    ];
    const [batch] = bindRecords([{ i: [1, '9007199254740993'], b: [true, 0], h: [1], u: [255] }], specs, []);
    assert.deepEqual([...(batch!.feeds.i!.data as BigInt64Array)], [1n, 9007199254740993n]);
    assert.deepEqual([...(batch!.feeds.b!.data as Uint8Array)], [1, 0]);
    assert.deepEqual([...(batch!.feeds.h!.data as Uint16Array)], [0x3c00]);
    assert.throws(() => bindRecords([{ i: [1.5, 2], b: [1, 0], h: [1], u: [1] }], specs, []), /expects int64 values, got 1\.5/);
    assert.throws(() => bindRecords([{ i: [1, 2], b: [1, 0], h: [1], u: [256] }], specs, []), code('INPUT_DTYPE_MISMATCH'));
    assert.throws(() => bindRecords([{ i: [1, 2], b: [2, 0], h: [1], u: [1] }], specs, []), code('INPUT_DTYPE_MISMATCH'));
  });

  it('refuses a finite number a float32 or float16 input cannot hold, and passes NaN and Infinity (#14)', () => {
    assert.throws(() => bindRecords([{ x: [1, 1e308, 3, 4] }], iris, probs), /: input 'x' expects float32 values, got 1e\+308 at flat index 1 \(beyond its range: it would become Infinity\)$/);
    assert.throws(() => bindRecords([{ x: [1, 2, 3, -3.5e38] }], iris, probs), code('INPUT_DTYPE_MISMATCH'));
    const half: TensorSpec[] = [{ name: 'h', dtype: 'float16', shape: [2] }];
    assert.throws(() => bindRecords([{ h: [1, 70000] }], half, []), /expects float16 values, got 70000 at flat index 1 \(beyond its range/);
    const [batch] = bindRecords([{ x: [Number.NaN, Infinity, -Infinity, 3.4e38] }], iris, probs);
    assert.deepEqual([...(batch!.feeds.x!.data as Float32Array)].slice(0, 3), [Number.NaN, Infinity, -Infinity]);
  });

  it('accepts typed arrays and { data, shape } values', () => {
    const img: TensorSpec[] = [{ name: 'img', dtype: 'float32', shape: [1, 1, 2, 2] }];
    assert.deepEqual(bindRecords([{ img: new Float32Array(4) }], img, [])[0]!.feeds.img!.shape, [1, 1, 2, 2]);
    assert.deepEqual(bindRecords([{ img: { data: [1, 2, 3, 4], shape: [1, 2, 2] } }], img, [])[0]!.feeds.img!.shape, [1, 1, 2, 2]);
    assert.throws(() => bindRecords([{ img: { data: [1, 2, 3], shape: [1, 2, 2] } }], img, []), /3 values do not fill shape \[1,2,2\]/);
  });

  it('names the input and both shapes on a mismatch', () => {
    assert.throws(
      () => bindRecords([{ x: [[1, 2, 3]] }], iris, probs),
      (e: unknown) => e instanceof ServeError && e.code === 'INPUT_SHAPE_MISMATCH' && e.message === "input 'x' expects [-1,4], got [1,3]",
    );
  });
});
