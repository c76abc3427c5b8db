import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { createLogBudget, type Sandbox } from '../../src/worker/sandbox-host/index.js';
import { createTestSandbox, TEST_LIMITS } from '../helpers/sandbox-fixtures.js';

describe('Sandbox over many calls', () => {
  let sandbox: Sandbox | undefined;
  after(() => sandbox?.dispose());

  it('answers 5,000 calls with a Float32Array(784) through one sandbox with a bounded heap', async () => {
    const limits = { ...TEST_LIMITS, memoryLimitMb: 32 };
    sandbox = await createTestSandbox(
      `function prepare(pixels) {
        let sum = 0;
        for (let i = 0; i < pixels.length; i++) sum += pixels[i];
        console.log('sum', sum);
        return { sum, scaled: pixels.map((p) => p / 255) };
      }
      async function postprocess(logits) { await null; return [argmax(logits)] }`,
      { limits },
    );
    const pixels = new Float32Array(784).fill(255);
    const heapAfter = async () => (await sandbox!.heapStatistics()).usedHeapBytes;
    for (let i = 0; i < 500; i++) await sandbox.call('prepare', [pixels], createLogBudget(limits));
    const warm = await heapAfter();
    let peak = warm;
    for (let i = 0; i < 5000; i++) {
      const fn = i % 10 === 0 ? 'postprocess' : 'prepare';
      const arg = fn === 'prepare' ? pixels : [[0, 3, 1]];
      const result = await sandbox.call(fn, [arg], createLogBudget(limits));
      if (i % 500 === 0) peak = Math.max(peak, await heapAfter());
      if (fn === 'prepare') assert.equal((result.value as { sum: number }).sum, 784 * 255);
    }
    const last = await sandbox.call('prepare', [pixels], createLogBudget(limits));
    assert.ok((last.value as { scaled: Float32Array }).scaled instanceof Float32Array);
    assert.deepEqual(last.stdout, [`sum ${784 * 255}`]);
    assert.equal(sandbox.disposed, false);
    assert.ok(peak < limits.memoryLimitMb * 2 ** 20 / 2, `heap peaked at ${peak} bytes`);
    assert.ok(peak < warm + 8 * 2 ** 20, `heap grew from ${warm} to ${peak} bytes`);
  });
});
