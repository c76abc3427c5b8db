import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { convertKerasH5 } from '../../src/worker/publish/keras/index.js';
import { initTfjsBackend } from '../../src/worker/runtimes/tfjs-backend.js';
import { tfjsRuntime } from '../../src/worker/runtimes/tfjs.js';
import { float32, GRU_DIR, loadConverted, MATMUL_DIR, mnistDigit, MNIST_H5, runOne } from '../helpers/tfjs-fixtures.js';

// Moved from test/unit/tfjs-runtime.test.ts: a long run, for `npm run test:soak`.

const options = { intraOpThreads: 1 };
const GRU_INPUT = [86, 11, 62, 40, 36, 75, 82, 94, 67, 75];

describe('tfjs tensor discipline', () => {
  it('leaves the live tensor count at its baseline after 500 runs of each model kind, and at zero after dispose', async (t) => {
    await initTfjsBackend();
    const before = tf.memory().numTensors;
    const mnist = await loadConverted(t, await convertKerasH5(await readFile(MNIST_H5)));
    const gru = await tfjsRuntime.load(GRU_DIR, 'model.json', options);
    const matmul = await tfjsRuntime.load(MATMUL_DIR, 'model.json', options);
    const digit = await mnistDigit(7);
    const baseline = tf.memory().numTensors;
    for (let i = 0; i < 500; i++) {
      await runOne(mnist, digit);
      await gru.run({ embedding_Embedding2_input: float32([1, 10], GRU_INPUT) });
      await matmul.run({ Placeholder: float32([2, 2], [1, 1, 1, 1]) });
      await assert.rejects(matmul.run({ Placeholder: float32([3], [1, 2, 3]) })); // failures leak nothing either
    }
    assert.equal(tf.memory().numTensors, baseline);
    await gru.dispose();
    await matmul.dispose();
    await mnist.dispose();
    assert.equal(tf.memory().numTensors, before);
  });
});
