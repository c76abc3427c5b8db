import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createLogBudget, type Sandbox } from '../../src/worker/sandbox-host/index.js';
import { createTestSandbox, serveErrorOf, TEST_LIMITS } from '../helpers/sandbox-fixtures.js';

describe('Sandbox tensor helpers', () => {
  let sandbox: Sandbox;
  before(async () => {
    // `run(expr)` evaluates a helper expression inside the sandbox and returns its copied value.
    sandbox = await createTestSandbox('function run(expr, ...args) { return Function("args", "return " + expr)(args) }');
  });
  after(() => sandbox.dispose());
  const run = async (expr: string, ...args: unknown[]) => (await sandbox.call('run', [expr, ...args], createLogBudget(TEST_LIMITS))).value;

  it('argmax returns the index of the largest value, unwrapping a single row', async () => {
    assert.equal(await run('argmax([0.1, 0.7, 0.2])'), 1);
    assert.equal(await run('argmax([[0.1, 0.2, 0.9]])'), 2);
    assert.equal(await run('argmax([[[3, 1]]])'), 0);
    assert.deepEqual(await run('argmax([[0, 1], [1, 0]])'), [1, 0]);
    assert.equal(await run('argmax(args[0])', new Float32Array([1, 5, 2])), 1);
    assert.equal(await run('argmax({ data: new Float32Array([1, 9, 2]), shape: [1, 3] })'), 1);
    assert.deepEqual(await run('argmax({ data: [1, 9, 7, 2], shape: [2, 2] })'), [1, 0]);
    assert.equal(await run('argmax([NaN, 2, 3])'), 2);
  });

  it('argmax of an empty array throws a RangeError the script sees', async () => {
    const err = await serveErrorOf(sandbox.call('run', ['argmax([])'], createLogBudget(TEST_LIMITS)));
    assert.equal(err.code, 'SCRIPT_FAILED');
    assert.equal(err.details?.['errorName'], 'RangeError');
  });

  it('softmax is numerically stable and keeps the input form', async () => {
    const flat = (await run('softmax([1000, 1000])')) as number[];
    assert.deepEqual(flat, [0.5, 0.5]);
    const typed = (await run('softmax(args[0])', new Float32Array([0, Math.log(3)]))) as Float32Array;
    assert.ok(typed instanceof Float32Array);
    assert.ok(Math.abs(typed[0]! - 0.25) < 1e-6 && Math.abs(typed[1]! - 0.75) < 1e-6);
    const nested = (await run('softmax([[0, 0], [0, Math.log(3)]])')) as number[][];
    assert.deepEqual(nested[0], [0.5, 0.5]);
    assert.ok(Math.abs(nested[1]![1]! - 0.75) < 1e-12);
  });

  it('topk returns the k largest values, largest first, ties by index', async () => {
    assert.deepEqual(await run('topk([0.1, 0.7, 0.2], 2)'), [{ index: 1, value: 0.7 }, { index: 2, value: 0.2 }]);
    assert.deepEqual(await run('topk([[5, 5, 1]], 2)'), [{ index: 0, value: 5 }, { index: 1, value: 5 }]);
    assert.deepEqual(await run('topk([3, 1], 5)'), [{ index: 0, value: 3 }, { index: 1, value: 1 }]);
    assert.deepEqual(await run('topk([1, 2])'), [{ index: 1, value: 2 }]);
    assert.deepEqual(await run('topk([[1, 2], [4, 3]], 1)'), [[{ index: 1, value: 2 }], [{ index: 0, value: 4 }]]);
  });

  it('reshape nests flat values and infers one -1 dimension', async () => {
    assert.deepEqual(await run('reshape([1, 2, 3, 4, 5, 6], [2, 3])'), [[1, 2, 3], [4, 5, 6]]);
    assert.deepEqual(await run('reshape([[1, 2], [3, 4]], [-1])'), [1, 2, 3, 4]);
    assert.deepEqual(await run('reshape(args[0], [1, 2, -1])', new Float32Array([1, 2, 3, 4])), [[[1, 2], [3, 4]]]);
    assert.equal(await run('reshape([7], [])'), 7);
  });

  it('reshape and tensor reject sizes that do not fit the shape', async () => {
    for (const expr of ['reshape([1, 2, 3], [2, 2])', 'tensor([1, 2, 3], [2, -1])', 'reshape([1], [-1, -1])', 'tensor([1], [1.5])']) {
      const err = await serveErrorOf(sandbox.call('run', [expr], createLogBudget(TEST_LIMITS)));
      assert.equal(err.code, 'SCRIPT_FAILED', expr);
      assert.match(err.message, /(do not fit shape|bad dimension)/, expr);
    }
  });

  it('tensor builds { data, shape }, flattening nested arrays and keeping typed arrays', async () => {
    assert.deepEqual(await run('tensor([[1, 2], [3, 4]], [1, 4])'), { data: [1, 2, 3, 4], shape: [1, 4] });
    const t = (await run('tensor(args[0], [1, 28, 28, -1])', new Float32Array(784))) as { data: Float32Array; shape: number[] };
    assert.ok(t.data instanceof Float32Array);
    assert.deepEqual(t.shape, [1, 28, 28, 1]);
  });
});
