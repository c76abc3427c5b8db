import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { generateScriptTemplate } from '../../src/front/script-template.js';
import { createLogBudget } from '../../src/worker/sandbox-host/index.js';
import { createTestSandbox, TEST_LIMITS } from '../helpers/sandbox-fixtures.js';

const IRIS = {
  name: 'keras-iris',
  version: '3',
  inputs: [{ name: 'dense_1_input', dtype: 'float32' as const, shape: [-1, 4] }],
  outputs: [
    { name: 'dense_4', dtype: 'float32' as const, shape: [-1, 3] },
    { name: 'output_probability', dtype: null, shape: null, kind: 'sequence<map<int64,float32>>' },
  ],
};
const MNIST = {
  name: 'mnist',
  version: '1',
  inputs: [{ name: 'Input3', dtype: 'float32' as const, shape: [1, 1, 28, 28] }],
  outputs: [{ name: 'Plus214_Output_0', dtype: 'float32' as const, shape: [1, 10] }],
};

describe('generateScriptTemplate', () => {
  it('names the model and every input and output with its dtype and shape', () => {
    const text = generateScriptTemplate(IRIS);
    assert.match(text, /model "keras-iris", version 3/);
    assert.match(text, /\/\/ {3}dense_1_input {2}float32 {2}\[-1, 4\]/);
    assert.match(text, /\/\/ {3}dense_4 +float32 {2}\[-1, 3\]/);
    assert.match(text, /output_probability +not a tensor \(sequence<map<int64,float32>>\), not passed to postprocess/);
    assert.match(text, /-1 marks a free dimension/);
    assert.match(text, /\[\{ "dense_1_input": \[0, 0, 0, 0\] \}\]/, 'an example record without the batch dimension');
    assert.match(text, /in order: \["dense_4"\]/);
  });

  it('describes large inputs instead of writing them out, and omits the free-dimension note when none is free', () => {
    const text = generateScriptTemplate(MNIST);
    assert.match(text, /"Input3": <1x28x28 float32 values>/);
    assert.doesNotMatch(text, /-1 marks/);
  });

  it('documents the DaaS order of the hooks', () => {
    const text = generateScriptTemplate(IRIS);
    const order = ['1. preprocess_files(args)', '2. prepare(args)', '3. the model runs', '4. postprocess(outputs)'].map((s) => text.indexOf(s));
    assert.ok(order.every((i, n) => i > 0 && (n === 0 || i > order[n - 1]!)), 'steps appear in order');
    assert.match(text, /`preprocess` is accepted as an alias/);
    assert.match(text, /predict\(args\)/);
  });

  it('compiles in the sandbox with stubs for init, preprocess_files, prepare and postprocess that change nothing', async () => {
    const sandbox = await createTestSandbox(generateScriptTemplate(IRIS));
    try {
      assert.deepEqual([...sandbox.functions].sort(), ['init', 'postprocess', 'prepare', 'preprocess_files']);
      const args = { X: [{ dense_1_input: [5.1, 3.5, 1.4, 0.2] }] };
      const budget = createLogBudget(TEST_LIMITS);
      assert.deepEqual((await sandbox.call('prepare', [args], budget)).value, args);
      assert.deepEqual((await sandbox.call('preprocess_files', [args], budget)).value, args);
      assert.deepEqual((await sandbox.call('postprocess', [[[[0.1, 0.9, 0]]]], budget)).value, [[[0.1, 0.9, 0]]]);
    } finally {
      sandbox.dispose();
    }
  });

  it('stays valid JavaScript whatever the names contain', async () => {
    const hostile = {
      name: 'evil */ model\nthrow 1; /*',
      version: '1\n2',
      inputs: [{ name: 'in */ put\u2028x', dtype: 'float32' as const, shape: [2] }],
      outputs: [{ name: "out'\"*/", dtype: 'int64' as const, shape: [] }],
    };
    const sandbox = await createTestSandbox(generateScriptTemplate(hostile));
    sandbox.dispose();
  });
});
