import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import * as ort from 'onnxruntime-node';
import { estimateRunMs, recordRun } from '../../src/worker/models/inference-cost.js';
import { runRecords, runRecordsSync } from '../../src/worker/models/run-records.js';
import { onnxRuntime } from '../../src/worker/runtimes/onnx.js';
import { NativeOrtSession } from '../../src/worker/runtimes/onnx-session.js';
import type { LoadedModel } from '../../src/worker/runtimes/types.js';
import { FIXTURES, IRIS_ONNX, KERAS_ADD_ONNX, MNIST_ONNX } from '../helpers/fixtures.js';
import { tempDir } from '../helpers/tfjs-fixtures.js';

const options = { intraOpThreads: 1, interOpThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all' } as const;

describe('NativeOrtSession (onnxruntime-node used without its promise wrapper)', () => {
  for (const file of [MNIST_ONNX, IRIS_ONNX, KERAS_ADD_ONNX]) {
    it(`reads the same signature as onnxruntime-node's InferenceSession for ${file.split('/')[1]}`, async () => {
      const path = join(FIXTURES, file);
      const reference = await ort.InferenceSession.create(path, { intraOpNumThreads: 1 });
      const native = new NativeOrtSession(path, { intraOpNumThreads: 1 });
      try {
        assert.deepEqual(native.inputMetadata, reference.inputMetadata);
        assert.deepEqual(native.outputMetadata, reference.outputMetadata);
      } finally {
        native.dispose();
        await reference.release();
      }
    });
  }

  it("answers exactly what InferenceSession.run answers (mnist-8 on a pseudo-random image)", async () => {
    const path = join(FIXTURES, MNIST_ONNX);
    const reference = await ort.InferenceSession.create(path, { intraOpNumThreads: 1 });
    const native = new NativeOrtSession(path, { intraOpNumThreads: 1 });
    try {
      const pixels = Float32Array.from({ length: 784 }, (_, i) => ((i * 7919) % 255) / 255);
      const feeds = () => ({ Input3: new ort.Tensor('float32', pixels, [1, 1, 28, 28]) });
      const expected = await reference.run(feeds());
      const actual = native.run(feeds(), { Plus214_Output_0: null });
      assert.deepEqual([...(actual['Plus214_Output_0']!.data as Float32Array)], [...(expected['Plus214_Output_0']!.data as Float32Array)]);
      assert.deepEqual(actual['Plus214_Output_0']!.dims, [1, 10]);
    } finally {
      native.dispose();
      await reference.release();
    }
  });

  it('throws onnxruntime\'s own error for a file that is not a model', async (t) => {
    const dir = await tempDir(t);
    await writeFile(join(dir, 'broken.onnx'), 'not a model');
    assert.throws(() => new NativeOrtSession(join(dir, 'broken.onnx'), options), /protobuf|parse|Load model/i);
  });
});

describe('onnxRuntime runSync', () => {
  // This model takes one row per run (batch dimension 1).
  const irisFeeds = { float_input: { dtype: 'float32' as const, shape: [1, 4], data: Float32Array.from([6.7, 3.0, 5.2, 2.3]) } };

  it('runs without yielding and answers what run() answers, ZipMap probabilities included', async () => {
    const model = await onnxRuntime.load(FIXTURES + IRIS_ONNX.split('/')[0], IRIS_ONNX.split('/')[1]!, { intraOpThreads: 1 });
    try {
      const sync = model.runSync(irisFeeds);
      assert.notEqual(sync, null);
      assert.deepEqual(sync, await model.run(irisFeeds));
      assert.deepEqual([...(sync!['output_label']!.data as BigInt64Array)], [2n]);
    } finally {
      await model.dispose();
    }
  });

  it('fails a feed of the wrong shape with INFERENCE_FAILED, synchronously', async () => {
    const model = await onnxRuntime.load(FIXTURES + IRIS_ONNX.split('/')[0], IRIS_ONNX.split('/')[1]!, { intraOpThreads: 1 });
    try {
      const bad = { float_input: { dtype: 'float32' as const, shape: [1, 3], data: Float32Array.from([1, 2, 3]) } };
      assert.throws(() => model.runSync(bad), (err: Error & { code?: string }) => err.code === 'INFERENCE_FAILED' && /onnxruntime could not run the model/.test(err.message));
    } finally {
      await model.dispose();
    }
  });
});

describe('inference cost estimate (what lets a predict flow run the model synchronously)', () => {
  const fake = {} as LoadedModel;

  it('knows nothing before the first run, then scales the slowest recent time per record', () => {
    const model = { ...fake };
    assert.equal(estimateRunMs(model, 1), undefined);
    recordRun(model, 4, 2);
    assert.equal(estimateRunMs(model, 1), 0.5);
    assert.equal(estimateRunMs(model, 10), 5);
  });

  it('keeps a slow run in view, forgetting it slowly', () => {
    const model = { ...fake };
    recordRun(model, 1, 10);
    recordRun(model, 1, 1);
    assert.equal(estimateRunMs(model, 1), 9.8);
    for (let i = 0; i < 200; i++) recordRun(model, 1, 1);
    assert.equal(estimateRunMs(model, 1), 1);
  });

  it('is fed by runRecords and runRecordsSync', async () => {
    const model = await onnxRuntime.load(FIXTURES + IRIS_ONNX.split('/')[0], IRIS_ONNX.split('/')[1]!, { intraOpThreads: 1 });
    try {
      assert.equal(estimateRunMs(model, 1), undefined);
      const records = [{ float_input: [5.1, 3.5, 1.4, 0.2] }];
      assert.equal((await runRecords(model, records)).length, 1);
      assert.ok(estimateRunMs(model, 1)! > 0);
      assert.equal(runRecordsSync(model, records)!.length, 1);
    } finally {
      await model.dispose();
    }
  });
});
