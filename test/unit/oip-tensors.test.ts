import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ServeError } from '../../src/errors.js';
import { decodeRaw, encodeRaw, joinOutputs, recordsOf, tensorMetadata } from '../../src/front/oip/tensors.js';
import type { Tensor, TensorSpec } from '../../src/model/index.js';

const fieldOf = (i: number, f: string) => `inputs[${i}].${f}`;
const throwsCode = (fn: () => unknown, code: string, message: RegExp) =>
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ServeError);
    assert.equal(err.code, code);
    assert.match(err.message, message);
    return true;
  });

describe('OIP tensors: raw bytes, the inputs as records, outputs joined', () => {
  it('reads and writes BYTES as 4-byte little-endian lengths and UTF-8, both ways', () => {
    const tensor: Tensor = { dtype: 'string', shape: [3], data: ['setosa', '', 'vérsicolor'] };
    const raw = encodeRaw(tensor);
    assert.equal(raw.readUInt32LE(0), 6);
    assert.deepEqual(decodeRaw(raw, 'string', 3, 'x'), ['setosa', '', 'vérsicolor']);
    throwsCode(() => decodeRaw(raw, 'string', 2, "input 'x'"), 'INPUT_SHAPE_MISMATCH', /3 BYTES elements do not fill the shape's 2/);
    throwsCode(() => decodeRaw(raw.subarray(0, 8), 'string', 1, "input 'x'"), 'INPUT_SHAPE_MISMATCH', /a BYTES element of 6 bytes runs past the data/);
    throwsCode(() => decodeRaw(raw.subarray(0, 2), 'string', 1, "input 'x'"), 'INPUT_SHAPE_MISMATCH', /ends inside an element's 4-byte length/);
  });

  it('reads numbers from unaligned bytes, and checks their length against the shape', () => {
    const values = new Float64Array([1.5, -2, 3e300]);
    const unaligned = Buffer.concat([Buffer.from([7]), Buffer.from(values.buffer)]).subarray(1);
    assert.deepEqual([...(decodeRaw(unaligned, 'float64', 3, 'x') as Float64Array)], [1.5, -2, 3e300]);
    assert.deepEqual([...(decodeRaw(Buffer.from(new BigInt64Array([2n ** 60n]).buffer), 'int64', 1, 'x') as BigInt64Array)], [2n ** 60n]);
    throwsCode(() => decodeRaw(unaligned, 'float32', 3, "input 'x'"), 'INPUT_SHAPE_MISMATCH', /24 bytes of FP32 data, but the shape needs 12 \(3 elements of 4 bytes\)/);
    assert.deepEqual([...encodeRaw({ dtype: 'bool', shape: [2], data: new Uint8Array([1, 0]) })], [1, 0]);
  });

  it('lists tensors only, an unknown rank as [-1]', () => {
    const specs: TensorSpec[] = [
      { name: 'label', dtype: 'int64', shape: [-1] },
      { name: 'maps', dtype: null, shape: null, kind: 'sequence' },
      { name: 'any', dtype: 'float16', shape: null },
    ];
    assert.deepEqual(tensorMetadata(specs), [
      { name: 'label', datatype: 'INT64', shape: [-1] },
      { name: 'any', datatype: 'FP16', shape: [-1] },
    ]);
  });

  it('splits a batch for inputs whose first dimension is fixed at 1, and joins the outputs back', () => {
    const specs: TensorSpec[] = [{ name: 'x', dtype: 'float32', shape: [1, 2] }];
    const records = recordsOf([{ name: 'x', datatype: 'FP32', shape: [3, 2], data: new Float32Array([1, 2, 3, 4, 5, 6]) }], specs, fieldOf);
    assert.deepEqual(
      records.map((r) => [[...(r.x!.data as Float32Array)], r.x!.shape]),
      [
        [[1, 2], [1, 2]],
        [[3, 4], [1, 2]],
        [[5, 6], [1, 2]],
      ],
    );
    const free = recordsOf([{ name: 'x', datatype: 'FP32', shape: [3, 2], data: [1, 2, 3, 4, 5, 6] }], [{ name: 'x', dtype: 'float32', shape: [-1, 2] }], fieldOf);
    assert.equal(free.length, 1);
    const joined = joinOutputs([
      { y: { dtype: 'float32', shape: [1, 2], data: new Float32Array([1, 2]) }, l: { dtype: 'string', shape: [1], data: ['a'] } },
      { y: { dtype: 'float32', shape: [1, 2], data: new Float32Array([3, 4]) }, l: { dtype: 'string', shape: [1], data: ['b'] } },
    ]);
    assert.deepEqual(joined.y!.shape, [2, 2]);
    assert.ok(joined.y!.data instanceof Float32Array);
    assert.deepEqual([...(joined.y!.data as Float32Array)], [1, 2, 3, 4]);
    assert.deepEqual(joined.l, { dtype: 'string', shape: [2], data: ['a', 'b'] });
  });

  it('refuses a missing input, a second batch size, and a non-tensor input', () => {
    const two: TensorSpec[] = [
      { name: 'a', dtype: 'float32', shape: [1, 1] },
      { name: 'b', dtype: 'int64', shape: [1] },
    ];
    throwsCode(() => recordsOf([{ name: 'a', datatype: 'FP32', shape: [1, 1], data: [1] }], two, fieldOf), 'INPUT_MISSING', /the request has no input 'b' \(INT64 \[1\]\)/);
    throwsCode(
      () =>
        recordsOf(
          [
            { name: 'a', datatype: 'FP32', shape: [2, 1], data: [1, 2] },
            { name: 'b', datatype: 'INT64', shape: [3], data: [1, 2, 3] },
          ],
          two,
          fieldOf,
        ),
      'INPUT_SHAPE_MISMATCH',
      /input 'b' has a batch of 3, another input 2/,
    );
    throwsCode(() => recordsOf([{ name: 'm', datatype: 'FP32', shape: [1], data: [1] }], [{ name: 'm', dtype: null, shape: null }], fieldOf), 'MODEL_UNSUPPORTED', /input 'm' is not a tensor/);
  });
});
