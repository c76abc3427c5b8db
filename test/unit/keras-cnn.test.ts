import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { onnxRuntime, tfjsRuntime, type LoadedModel, type Tensor } from '../../src/worker/runtimes/index.js';
import { convertKerasH5, writeTfjsArtefacts } from '../../src/worker/publish/keras/index.js';
import { argmax, fixturePath, maxRelativeDiff, MNIST_ONNX, readTensorProto } from '../helpers/fixtures.js';
import { mnistDigit, runOne, tempDir } from '../helpers/tfjs-fixtures.js';

// The CNTK MNIST CNN of mnist-8.onnx rebuilt as a Keras 2 .h5 with the same weights
// (test/fixtures/make-keras-cnn.ts): the two must give the same logits.
const CNN_H5 = fixturePath('keras2-mnist-cnn-h5/mnist-cnn.h5');
const TOLERANCE = 1e-4;

type Hooks = { after(fn: () => Promise<void> | void): void; diagnostic(message: string): void };

async function loadKerasCnn(t: Hooks): Promise<LoadedModel> {
  const dir = await tempDir(t);
  const { mainFile } = await writeTfjsArtefacts(dir, await convertKerasH5(await readFile(CNN_H5)));
  const model = await tfjsRuntime.load(dir, mainFile, { intraOpThreads: 1 });
  t.after(() => model.dispose());
  return model;
}

async function loadOnnx(t: Hooks): Promise<LoadedModel> {
  const path = fixturePath(MNIST_ONNX);
  const model = await onnxRuntime.load(path.slice(0, path.lastIndexOf('/')), 'mnist-8.onnx', { intraOpThreads: 1 });
  t.after(() => model.dispose());
  return model;
}

/** NCHW [1,1,28,28] pixels as the Keras model's NHWC [1,28,28,1]: with one channel, the same values in the same order. */
function nhwc(pixels: Float32Array): Tensor<'float32'> {
  return { dtype: 'float32', shape: [1, 28, 28, 1], data: pixels };
}

function nchw(pixels: Float32Array): Tensor<'float32'> {
  return { dtype: 'float32', shape: [1, 1, 28, 28], data: pixels };
}

describe('the Keras 2 CNN transplanted from mnist-8.onnx', () => {
  it('converts with tf.keras names: input conv2d_input [-1,28,28,1], output dense [-1,10]', async (t) => {
    const converted = await convertKerasH5(await readFile(CNN_H5));
    assert.equal(converted.kerasVersion, '2.4.0');
    assert.deepEqual(converted.weightSpecs.map((w) => `${w.name}[${w.shape.join(',')}]`), [
      'conv2d/kernel[5,5,1,8]', 'conv2d/bias[8]', 'conv2d_1/kernel[5,5,8,16]', 'conv2d_1/bias[16]', 'dense/kernel[256,10]', 'dense/bias[10]',
    ]);
    const model = await loadKerasCnn(t);
    assert.deepEqual(model.inputs, [{ name: 'conv2d_input', dtype: 'float32', shape: [-1, 28, 28, 1] }]);
    assert.deepEqual(model.outputs, [{ name: 'dense', dtype: 'float32', shape: [-1, 10] }]);
  });

  it(`matches the ONNX reference outputs mnist_output_0..2 and onnxruntime within a relative ${TOLERANCE}`, async (t) => {
    const [keras, onnx] = [await loadKerasCnn(t), await loadOnnx(t)];
    let worst = 0;
    for (let i = 0; i < 3; i++) {
      const input = readTensorProto(`onnx-mnist8-cntk/mnist_input_${i}.pb`);
      const expected = readTensorProto(`onnx-mnist8-cntk/mnist_output_${i}.pb`).values;
      assert.deepEqual(input.dims, [1, 1, 28, 28]);
      const pixels = Float32Array.from(input.values);
      const fromKeras = await runOne(keras, nhwc(pixels));
      const fromOnnx = await runOne(onnx, nchw(pixels));
      const [vsReference, vsOnnx] = [maxRelativeDiff(fromKeras, expected), maxRelativeDiff(fromKeras, fromOnnx)];
      t.diagnostic(`input ${i}: digit ${argmax(fromKeras)}, max relative diff ${vsReference.toExponential(2)} vs mnist_output_${i}.pb, ${vsOnnx.toExponential(2)} vs onnxruntime`);
      assert.ok(vsReference <= TOLERANCE, `input ${i}: Keras ${fromKeras.join(', ')} vs reference ${expected.join(', ')}`);
      assert.ok(vsOnnx <= TOLERANCE, `input ${i}: Keras ${fromKeras.join(', ')} vs onnxruntime ${fromOnnx.join(', ')}`);
      assert.equal(argmax(fromKeras), argmax(expected));
      worst = Math.max(worst, vsReference, vsOnnx);
    }
    t.diagnostic(`worst relative difference: ${worst.toExponential(2)}`);
  });

  it('answers the same digit as onnxruntime for the ten handwritten digits ps_0..ps_9, logits within the tolerance', async (t) => {
    const [keras, onnx] = [await loadKerasCnn(t), await loadOnnx(t)];
    const answers: number[] = [];
    for (let digit = 0; digit < 10; digit++) {
      // mnistDigit gives 0..1; both models take raw 0..255 pixels.
      const pixels = Float32Array.from((await mnistDigit(digit)).data as Float32Array, (v) => Math.round(v * 255));
      const [fromKeras, fromOnnx] = [await runOne(keras, nhwc(pixels)), await runOne(onnx, nchw(pixels))];
      assert.ok(maxRelativeDiff(fromKeras, fromOnnx) <= TOLERANCE, `ps_${digit}: Keras ${fromKeras.join(', ')} vs onnxruntime ${fromOnnx.join(', ')}`);
      assert.equal(argmax(fromKeras), argmax(fromOnnx), `ps_${digit}`);
      answers.push(argmax(fromKeras));
    }
    t.diagnostic(`argmax for ps_0..9: ${answers.join(' ')}`);
  });
});
