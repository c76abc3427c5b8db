import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { decodeToTensor } from '../../src/worker/images/index.js';
import { createLogBudget, type Sandbox, type SandboxLimits } from '../../src/worker/sandbox-host/index.js';
import { fixturePath } from '../helpers/fixtures.js';
import { createTestSandbox, TEST_LIMITS } from '../helpers/sandbox-fixtures.js';

// Moved from test/unit/sandbox-files.test.ts: a long run, for `npm run test:soak`.

const budget = (limits: SandboxLimits = TEST_LIMITS) => createLogBudget(limits);
const fixture = (relative: string) => new Uint8Array(readFileSync(fixturePath(relative)));
/** An upload as the worker protocol hands it to the sandbox host. */
const upload = (name: string, bytes: Uint8Array, type = 'image/png') => ({ name, type, size: bytes.byteLength, bytes });

describe('Sandbox files over many calls', () => {
  let sandbox: Sandbox | undefined;
  after(() => sandbox?.dispose());

  it('answers 1,000 preprocess_files calls, one image() each, through one sandbox with a bounded heap', async (t) => {
    const limits: SandboxLimits = { ...TEST_LIMITS, memoryLimitMb: 32 };
    sandbox = await createTestSandbox(
      `async function preprocess_files(args) {
        const digit = await args.files.digit.image({ grayscale: true, width: 28, height: 28, layout: 'nchw', scale: 1 / 255 });
        args.X = [{ Input3: digit }];
        return args;
      }`,
      { limits },
    );
    const digits = Array.from({ length: 10 }, (_, i) => fixture(`mnist-png/ps_${i}.png`));
    const call = (i: number) => sandbox!.call('preprocess_files', [{ files: { digit: upload(`ps_${i % 10}.png`, digits[i % 10]!) } }], budget(limits));
    const heap = async () => (await sandbox!.heapStatistics()).usedHeapBytes;
    for (let i = 0; i < 100; i++) await call(i);
    const warm = await heap();
    let peak = warm;
    const started = performance.now();
    for (let i = 0; i < 1000; i++) {
      const { value } = await call(i);
      const record = (value as { X: { Input3: { data: Float32Array; shape: number[] } }[] }).X[0]!.Input3;
      assert.ok(record.data instanceof Float32Array && record.data.length === 784);
      if (i % 100 === 0) peak = Math.max(peak, await heap());
    }
    const perCallUs = ((performance.now() - started) * 1000) / 1000;
    // The host decode alone, for comparison (reported, not asserted).
    const hostStarted = performance.now();
    for (let i = 0; i < 1000; i++) await decodeToTensor(digits[i % 10]!, { grayscale: true, width: 28, height: 28, layout: 'nchw', scale: 1 / 255 }, { field: 'digit', name: 'x' }, { maxPixels: 1e6 });
    const hostUs = ((performance.now() - hostStarted) * 1000) / 1000;
    t.diagnostic(`per call: ${perCallUs.toFixed(0)} µs (sandbox call + image() of a 28x28 PNG); host decode alone: ${hostUs.toFixed(0)} µs; heap ${warm} -> peak ${peak} bytes`);
    assert.equal(sandbox.disposed, false);
    assert.ok(peak < (limits.memoryLimitMb * 2 ** 20) / 2, `heap peaked at ${peak} bytes`);
    assert.ok(peak < warm + 8 * 2 ** 20, `heap grew from ${warm} to ${peak} bytes`);
  });
});
