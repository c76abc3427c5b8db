import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { resolveRuntime, runtimeBackends } from '../../src/worker/runtimes/index.js';
import { initTfjsBackend } from '../../src/worker/runtimes/tfjs-backend.js';
import { tfjsRuntime } from '../../src/worker/runtimes/tfjs.js';
import type { LoadedModel } from '../../src/worker/runtimes/types.js';
import { float32, GRU_DIR, MATMUL_DIR, runOne, tempDir, rejectsWith } from '../helpers/tfjs-fixtures.js';

const options = { intraOpThreads: 1 };
const GRU_INPUT = [86, 11, 62, 40, 36, 75, 82, 94, 67, 75];
const GRU_EXPECTED = [-0.0036, 0.0029, -0.003, 0.0096];
const MATMUL_EXPECTED = [0.7568, -0.1835, 0.7568, -0.1835];

function assertClose(actual: readonly number[], expected: readonly number[], tolerance: number): void {
  assert.equal(actual.length, expected.length, `length ${actual.length} vs ${expected.length}`);
  actual.forEach((a, i) => assert.ok(Math.abs(a - expected[i]!) <= tolerance, `[${i}] ${a} vs ${expected[i]} (±${tolerance})`));
}

async function load(t: { after(fn: () => Promise<void>): void }, dir: string, mainFile = 'model.json'): Promise<LoadedModel> {
  const model = await tfjsRuntime.load(dir, mainFile, options);
  t.after(() => model.dispose());
  return model;
}

describe('tfjs backend', () => {
  it('starts one backend per process and reports it, wasm with SIMD when tfjs-node is absent', async () => {
    const backend = await initTfjsBackend();
    assert.equal(backend, await initTfjsBackend());
    assert.equal(tf.getBackend(), backend.kind);
    assert.match(backend.name, /^tfjs(-node)? 4\.\d+\.\d+ \((tensorflow|wasm(, simd)?|cpu)\)$/);
    if (backend.kind === 'wasm') assert.equal(backend.name, `tfjs ${tf.version.tfjs} (wasm, simd)`);
    assert.equal(runtimeBackends()['tfjs'], backend.name);
  });

  it('is registered under format "tfjs"', () => {
    assert.equal(resolveRuntime('tfjs'), tfjsRuntime);
    assert.throws(() => resolveRuntime('pmml'), /available: onnx, tfjs/);
  });
});

describe('tfjs CPU fallback', () => {
  it('gives the same answers on the CPU backend (in a process of its own: the backend is per process)', async () => {
    const src = (path: string) => fileURLToPath(new URL(`../../src/worker/runtimes/${path}`, import.meta.url));
    const script = `
      const { initTfjsBackend } = await import(${JSON.stringify(src('tfjs-backend.ts'))});
      await initTfjsBackend(['cpu']);
      const { tfjsRuntime } = await import(${JSON.stringify(src('tfjs.ts'))});
      const run = async (dir, file, name, shape, values) => {
        const model = await tfjsRuntime.load(dir, file, {});
        const out = await model.run({ [name]: { dtype: 'float32', shape, data: Float32Array.from(values) } });
        return { backend: model.backend, values: [...Object.values(out)[0].data] };
      };
      const gru = await run(${JSON.stringify(GRU_DIR)}, 'model.json', 'embedding_Embedding2_input', [1, 10], ${JSON.stringify(GRU_INPUT)});
      const matmul = await run(${JSON.stringify(MATMUL_DIR)}, 'model.json', 'Placeholder', [2, 2], [1, 1, 1, 1]);
      console.log(JSON.stringify({ gru, matmul }));`;
    const args = ['--no-node-snapshot', '--import', 'tsx', '--input-type=module', '-e', script];
    const { stdout } = await promisify(execFile)(process.execPath, args, { cwd: fileURLToPath(new URL('../..', import.meta.url)) });
    const result = JSON.parse(stdout) as Record<'gru' | 'matmul', { backend: string; values: number[] }>;
    assert.equal(result.gru.backend, `tfjs ${tf.version.tfjs} (cpu)`);
    assertClose(result.gru.values, GRU_EXPECTED, 1e-4);
    assertClose(result.matmul.values, MATMUL_EXPECTED, 1e-4);
  });
});

describe('tfjsRuntime with a TF.js layers model (Embedding + GRU)', () => {
  it("names the input and output as Keras does, with -1 for the batch dimension", async (t) => {
    const model = await load(t, GRU_DIR);
    assert.deepEqual(model.inputs, [{ name: 'embedding_Embedding2_input', dtype: 'float32', shape: [-1, 10] }]);
    assert.deepEqual(model.outputs, [{ name: 'gru_GRU1', dtype: 'float32', shape: [-1, 4] }]);
    assert.equal(model.backend, (await initTfjsBackend()).name);
  });

  it('predicts the tfjs e2e reference values', async (t) => {
    const model = await load(t, GRU_DIR);
    assertClose(await runOne(model, float32([1, 10], GRU_INPUT)), GRU_EXPECTED, 1e-4);
  });

  it('runs synchronously too (runSync), with the same answer', async (t) => {
    const model = await load(t, GRU_DIR);
    const out = model.runSync({ embedding_Embedding2_input: float32([1, 10], GRU_INPUT) });
    assert.notEqual(out, null);
    assertClose([...(out!['gru_GRU1']!.data as Float32Array)], GRU_EXPECTED, 1e-4);
  });

  it('runs a batch of two rows in one call', async (t) => {
    const model = await load(t, GRU_DIR);
    const out = await model.run({ embedding_Embedding2_input: float32([2, 10], [...GRU_INPUT, ...GRU_INPUT]) });
    assert.deepEqual(out['gru_GRU1']!.shape, [2, 4]);
    assertClose([...(out['gru_GRU1']!.data as Float32Array)], [...GRU_EXPECTED, ...GRU_EXPECTED], 1e-4);
  });
});

describe('tfjsRuntime with a TF.js graph model (MatMul)', () => {
  for (const file of ['model.json', 'model_new.json']) {
    it(`loads ${file} (converter ${file === 'model.json' ? '1.7' : '2.8'}) and multiplies ones(2,2)`, async (t) => {
      const model = await load(t, MATMUL_DIR, file);
      assert.deepEqual(model.inputs, [{ name: 'Placeholder', dtype: 'float32', shape: [2, 2] }]);
      assert.deepEqual(model.outputs, [{ name: 'MatMul', dtype: 'float32', shape: [2, 2] }]);
      const out = await model.run({ Placeholder: float32([2, 2], [1, 1, 1, 1]) });
      assert.deepEqual(out['MatMul']!.shape, [2, 2]);
      assertClose([...(out['MatMul']!.data as Float32Array)], MATMUL_EXPECTED, 1e-4);
      // A graph without control flow runs synchronously as well (execute, not executeAsync).
      const sync = model.runSync({ Placeholder: float32([2, 2], [1, 1, 1, 1]) });
      assertClose([...(sync!['MatMul']!.data as Float32Array)], MATMUL_EXPECTED, 1e-4);
    });
  }

  it('refuses an op TF.js does not know with MODEL_UNSUPPORTED naming it', async (t) => {
    const dir = await tempDir(t);
    const json = JSON.parse(await readFile(join(MATMUL_DIR, 'model_new.json'), 'utf8')) as { modelTopology: { node: { op: string }[] } };
    json.modelTopology.node[2]!.op = 'FancyMatMulV9';
    await writeFile(join(dir, 'model.json'), JSON.stringify(json));
    await copyFile(join(MATMUL_DIR, 'weights.bin'), join(dir, 'weights.bin'));
    await rejectsWith(tfjsRuntime.load(dir, 'model.json', options), 'MODEL_UNSUPPORTED', /"FancyMatMulV9"/);
  });
});

describe('tfjsRuntime with broken uploads', () => {
  it('names a weight shard that is missing (MODEL_INVALID)', async (t) => {
    const dir = await tempDir(t);
    await copyFile(join(GRU_DIR, 'model.json'), join(dir, 'model.json'));
    await rejectsWith(tfjsRuntime.load(dir, 'model.json', options), 'MODEL_INVALID', /weight file "weights.bin"/);
  });

  it('refuses a shard path that leaves the model directory', async (t) => {
    const dir = await tempDir(t);
    const json = JSON.parse(await readFile(join(GRU_DIR, 'model.json'), 'utf8')) as { weightsManifest: { paths: string[] }[] };
    json.weightsManifest[0]!.paths = ['../../etc/passwd'];
    await writeFile(join(dir, 'model.json'), JSON.stringify(json));
    await rejectsWith(tfjsRuntime.load(dir, 'model.json', options), 'MODEL_INVALID', /not a file beside it/);
  });

  it('refuses JSON that is not a TF.js model', async (t) => {
    const dir = await tempDir(t);
    await writeFile(join(dir, 'model.json'), JSON.stringify({ hello: 'world' }));
    await rejectsWith(tfjsRuntime.load(dir, 'model.json', options), 'MODEL_INVALID', /no modelTopology/);
  });

  it('answers INFERENCE_FAILED for a feed of the wrong shape', async (t) => {
    const model = await load(t, MATMUL_DIR);
    await rejectsWith(model.run({ Placeholder: float32([3], [1, 2, 3]) }), 'INFERENCE_FAILED', /TensorFlow.js could not run the model/);
  });
});
