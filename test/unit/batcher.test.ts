import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { batchDimProblem } from '../../src/model/index.js';
import type { BatchingRef } from '../../src/protocol/messages.js';
import { Batcher } from '../../src/worker/models/batcher.js';
import { bindRecords } from '../../src/worker/models/binding.js';
import { runRecords } from '../../src/worker/models/run-records.js';
import { onnxRuntime } from '../../src/worker/runtimes/onnx.js';
import type { LoadedModel } from '../../src/worker/runtimes/types.js';
import { FIXTURES, IRIS_ONNX, MNIST_ONNX } from '../helpers/fixtures.js';

const image = (seed: number) => [Array.from({ length: 28 }, (_, r) => Array.from({ length: 28 }, (_, c) => ((r * 28 + c) * (seed * 2 + 3) + seed) % 256))];
/** One call's records: `n` images, as separate records or as one record of `n` rows. */
const call = (seed: number, n: number, oneRecord = false) =>
  oneRecord ? [{ Input3: Array.from({ length: n }, (_, i) => image(seed + i)) }] : Array.from({ length: n }, (_, i) => ({ Input3: image(seed + i) }));

describe('Batcher: calls submitted together share model runs (real onnxruntime)', () => {
  let model: LoadedModel;
  before(async () => {
    model = await onnxRuntime.load(`${FIXTURES}onnx-mnist8-free-batch`, 'mnist-8-free-batch.onnx', { intraOpThreads: 1 });
  });
  after(() => model.dispose());

  const submitAll = (batcher: Batcher, ref: BatchingRef, calls: Record<string, unknown>[][]) =>
    Promise.all(calls.map((records) => batcher.submit(ref, 'mnist@1', model, bindRecords(records, model.inputs, model.outputs), records.length)));

  it('runs calls of one turn in one run, each getting exactly its own outputs', async () => {
    const batcher = new Batcher();
    const calls = [call(1, 1), call(2, 3), call(5, 2, true), call(7, 1)];
    const got = await submitAll(batcher, { owner: 'd', maxBatchSize: 32, maxDelayUs: 0 }, calls);
    assert.deepEqual(batcher.stats(), { runs: 1, rows: 7 });
    for (const [i, records] of calls.entries()) {
      const alone = await runRecords(model, records);
      assert.equal(got[i]!.perRecord.length, records.length);
      got[i]!.perRecord.forEach((outputs, r) => {
        assert.deepEqual(outputs.Plus214_Output_0!.shape, alone[r]!.Plus214_Output_0!.shape);
        assert.deepEqual([...(outputs.Plus214_Output_0!.data as Float32Array)], [...(alone[r]!.Plus214_Output_0!.data as Float32Array)], `call ${i} record ${r}`);
      });
    }
    // The first call led the run and reports its rows; the others do not.
    assert.deepEqual(got.map((g) => g.ledRows), [7, undefined, undefined, undefined]);
  });

  it('never puts more than max_batch_size rows in a run; a bigger call runs alone', async () => {
    const batcher = new Batcher();
    const got = await submitAll(batcher, { owner: 'd', maxBatchSize: 4, maxDelayUs: 0 }, [call(1, 2), call(3, 2), call(5, 2), call(7, 6, true), call(13, 1)]);
    // 2+2, then 2 (the 6-row call does not fit with it) and 1 with it, then the 6 rows alone.
    assert.deepEqual(batcher.stats(), { runs: 3, rows: 13 });
    assert.deepEqual(got.map((g) => g.ledRows), [4, undefined, 3, 6, undefined]);
  });

  it('keeps deployments apart, even on the same model', async () => {
    const batcher = new Batcher();
    await Promise.all([
      submitAll(batcher, { owner: 'a', maxBatchSize: 32, maxDelayUs: 0 }, [call(1, 1), call(2, 1)]),
      submitAll(batcher, { owner: 'b', maxBatchSize: 32, maxDelayUs: 0 }, [call(3, 1), call(4, 1)]),
    ]);
    assert.deepEqual(batcher.stats(), { runs: 2, rows: 4 });
  });

  it('waits max_delay_us for calls that come in later turns', async () => {
    const batcher = new Batcher();
    const ref = { owner: 'd', maxBatchSize: 32, maxDelayUs: 200_000 };
    const first = submitAll(batcher, ref, [call(1, 1)]);
    await new Promise((r) => setImmediate(r));
    const second = submitAll(batcher, ref, [call(2, 1)]);
    await Promise.all([first, second]);
    assert.deepEqual(batcher.stats(), { runs: 1, rows: 2 });
  });
});

describe('batchDimProblem: which models dynamic batching takes', () => {
  it('takes free first dimensions and names the first fixed one', async () => {
    const fixed = await onnxRuntime.load(FIXTURES + MNIST_ONNX.split('/')[0], MNIST_ONNX.split('/')[1]!, { intraOpThreads: 1 });
    const iris = await onnxRuntime.load(FIXTURES + IRIS_ONNX.split('/')[0], IRIS_ONNX.split('/')[1]!, { intraOpThreads: 1 });
    const free = await onnxRuntime.load(`${FIXTURES}onnx-mnist8-free-batch`, 'mnist-8-free-batch.onnx', { intraOpThreads: 1 });
    try {
      assert.equal(batchDimProblem(fixed.inputs, fixed.outputs), "input 'Input3' has a fixed first dimension (1)");
      assert.equal(batchDimProblem(iris.inputs, iris.outputs), "input 'float_input' has a fixed first dimension (1)");
      assert.equal(batchDimProblem(free.inputs, free.outputs), null);
      assert.equal(batchDimProblem([{ name: 'x', dtype: 'float32', shape: [-1, 4] }], [{ name: 'y', dtype: 'float32', shape: [] }]), "output 'y' has no first dimension");
    } finally {
      await Promise.all([fixed.dispose(), iris.dispose(), free.dispose()]);
    }
  });
});
