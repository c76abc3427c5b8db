import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { strToU8, unzipSync, zipSync } from 'fflate';
import { detectModelUpload, unzipModelUpload } from '../../src/worker/publish/detect-upload.js';
import { convertKeras3, convertKerasH5, writeTfjsArtefacts } from '../../src/worker/publish/keras/index.js';
import { argmax, editKerasH5, float32, GRU_DIR, KERAS3_FUNCTIONAL, KERAS3_SEQUENTIAL, loadConverted, mnistDigit, MNIST_H5, REGRESSION_H5, runOne, tempDir, rejectsWith } from '../helpers/tfjs-fixtures.js';

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

describe('convertKerasH5 on real Keras 2 files', () => {
  it('converts the tf.keras 2.2.4 MNIST MLP with Keras names and predicts digit 7 at p=0.9923', async (t) => {
    const bytes = await readFile(MNIST_H5);
    const before = sha256(bytes);
    const converted = await convertKerasH5(bytes);
    assert.equal(sha256(bytes), before, 'the original bytes are left untouched');
    assert.equal(converted.kerasVersion, '2.2.4-tf');
    assert.deepEqual(converted.weightSpecs.map((w) => `${w.name}[${w.shape.join(',')}]`), ['dense_6/kernel[784,128]', 'dense_6/bias[128]', 'dense_7/kernel[128,10]', 'dense_7/bias[10]']);
    const model = await loadConverted(t, converted);
    assert.deepEqual(model.inputs, [{ name: 'flatten_3_input', dtype: 'float32', shape: [-1, 28, 28] }]);
    assert.deepEqual(model.outputs, [{ name: 'dense_7', dtype: 'float32', shape: [-1, 10] }]);
    const p = await runOne(model, await mnistDigit(7));
    assert.ok(Math.abs(p[7]! - 0.9923) <= 1e-4, `p[7] = ${p[7]}`);
  });

  it('recognises at least 9 of the ten real digits ps_0..ps_9', async (t) => {
    const model = await loadConverted(t, await convertKerasH5(await readFile(MNIST_H5)));
    const answers: number[] = [];
    for (let digit = 0; digit < 10; digit++) answers.push(argmax(await runOne(model, await mnistDigit(digit))));
    const right = answers.filter((a, digit) => a === digit).length;
    t.diagnostic(`argmax for ps_0..9: ${answers.join(' ')} (${right}/10 right)`);
    assert.ok(right >= 9, `only ${right}/10 right: ${answers.join(' ')}`);
  });

  it('converts the keras 2.0.6 regression MLP and predicts 0.7136', async (t) => {
    const model = await loadConverted(t, await convertKerasH5(await readFile(REGRESSION_H5)));
    assert.deepEqual(model.inputs.map((s) => [s.name, s.shape]), [['dense_7_input', [-1, 7]]]);
    assert.deepEqual(model.outputs.map((s) => [s.name, s.shape]), [['dense_9', [-1, 1]]]);
    const [y] = await runOne(model, float32([1, 7], [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6]));
    assert.ok(Math.abs(y! - 0.7136) <= 1e-4, `y = ${y}`);
  });

  it('writes model.json and weights.bin', async (t) => {
    const dir = await tempDir(t);
    const written = await writeTfjsArtefacts(dir, await convertKerasH5(await readFile(REGRESSION_H5)));
    assert.deepEqual(written, { mainFile: 'model.json', files: ['model.json', 'weights.bin'] });
    assert.deepEqual((await readdir(dir)).sort(), ['model.json', 'weights.bin']);
    const json = JSON.parse(await readFile(`${dir}/model.json`, 'utf8')) as { format: string; modelTopology: { keras_version: string } };
    assert.equal(json.format, 'layers-model');
    assert.equal(json.modelTopology.keras_version, '2.0.6');
  });
});

describe('convertKerasH5 refusals', () => {
  it('refuses a Keras 1 file by its keras_version with MODEL_UNSUPPORTED', async () => {
    const bytes = await editKerasH5(await readFile(REGRESSION_H5), (_layers, attrs) => (attrs['keras_version'] = '1.2.2'));
    await rejectsWith(convertKerasH5(bytes), 'MODEL_UNSUPPORTED', /^Keras 1 models are not supported \(keras_version 1\.2\.2\)/);
  });

  it('refuses a Keras 1 config without a version by its Keras 1 options', async () => {
    const bytes = await editKerasH5(await readFile(REGRESSION_H5), (layers, attrs) => {
      delete attrs['keras_version'];
      const dense = layers[0]!.config;
      dense['output_dim'] = dense['units'];
      dense['init'] = 'glorot_uniform';
      delete dense['units'];
    });
    await rejectsWith(convertKerasH5(bytes), 'MODEL_UNSUPPORTED', /^Keras 1 models are not supported .*"output_dim"/);
  });

  it('refuses a custom layer class, naming it', async () => {
    const bytes = await editKerasH5(await readFile(REGRESSION_H5), (layers) => (layers[1]!.class_name = 'MyAttentionDense'));
    await rejectsWith(convertKerasH5(bytes), 'MODEL_UNSUPPORTED', /layer "dense_8" is a MyAttentionDense layer, a custom or unknown layer class/);
  });

  it('refuses a data augmentation layer, naming its class', async () => {
    const bytes = await editKerasH5(await readFile(MNIST_H5), (layers) => {
      layers.splice(1, 0, { class_name: 'RandomFlip', config: { name: 'random_flip', mode: 'horizontal' } });
    });
    await rejectsWith(convertKerasH5(bytes), 'MODEL_UNSUPPORTED', /RandomFlip layer, a data augmentation layer/);
  });

  it('refuses a Lambda layer (Python code)', async () => {
    const bytes = await editKerasH5(await readFile(REGRESSION_H5), (layers) => {
      layers.push({ class_name: 'Lambda', config: { name: 'scale', function: ['4wEAAAA...', null, null], function_type: 'lambda' } });
    });
    await rejectsWith(convertKerasH5(bytes), 'MODEL_UNSUPPORTED', /"scale" is a Lambda layer/);
  });

  it('answers MODEL_INVALID for a corrupt .h5 (truncated), and for bytes that are not HDF5', async () => {
    const bytes = await readFile(REGRESSION_H5);
    await rejectsWith(convertKerasH5(bytes.subarray(0, 4096)), 'MODEL_INVALID', /not a readable HDF5 file|not .*model/);
    await rejectsWith(convertKerasH5(strToU8('this is not a model')), 'MODEL_INVALID', /not an HDF5 file/);
  });
});

describe('convertKeras3 on the generated Keras 3 fixtures', () => {
  for (const [kind, path] of [['Sequential', KERAS3_SEQUENTIAL], ['Functional', KERAS3_FUNCTIONAL]] as const) {
    it(`converts the ${kind} .keras MLP and matches the Keras 2 model's predictions within 1e-6`, async (t) => {
      const keras2 = await loadConverted(t, await convertKerasH5(await readFile(MNIST_H5)));
      const converted = await convertKeras3(await readFile(path));
      assert.equal(converted.kerasVersion, '3.4.1');
      const keras3 = await loadConverted(t, converted);
      assert.deepEqual(keras3.inputs, [{ name: 'input_layer', dtype: 'float32', shape: [-1, 28, 28] }]);
      assert.deepEqual(keras3.outputs, [{ name: 'dense_7', dtype: 'float32', shape: [-1, 10] }]);
      for (let digit = 0; digit < 10; digit++) {
        const input = await mnistDigit(digit);
        const [a, b] = [await runOne(keras3, input), await runOne(keras2, input)];
        a.forEach((v, i) => assert.ok(Math.abs(v - b[i]!) <= 1e-6, `digit ${digit} class ${i}: ${v} vs ${b[i]}`));
      }
    });
  }

  it('answers MODEL_INVALID for a zip without model.weights.h5', async () => {
    const entries = unzipSync(await readFile(KERAS3_SEQUENTIAL));
    delete entries['model.weights.h5'];
    await rejectsWith(convertKeras3(zipSync(entries)), 'MODEL_INVALID', /lacks model\.weights\.h5/);
  });

  it('refuses an unknown layer class in config.json, naming it', async () => {
    const entries = unzipSync(await readFile(KERAS3_SEQUENTIAL));
    const config = JSON.parse(new TextDecoder().decode(entries['config.json'])) as { config: { layers: { class_name: string; registered_name: string | null }[] } };
    Object.assign(config.config.layers[2]!, { class_name: 'LoRADense', registered_name: 'my_package>LoRADense' });
    entries['config.json'] = strToU8(JSON.stringify(config));
    await rejectsWith(convertKeras3(zipSync(entries)), 'MODEL_UNSUPPORTED', /"dense_6" is a LoRADense layer/);
  });
});

describe('detectModelUpload', () => {
  it('tells a Keras .h5, a .keras, an .onnx and a TF.js model.json with its shards apart', async () => {
    const part = async (filename: string, path: string) => ({ filename, bytes: new Uint8Array(await readFile(path)) });
    assert.equal(detectModelUpload([await part('m.h5', MNIST_H5)]).kind, 'keras-h5');
    assert.equal(detectModelUpload([await part('m.keras', KERAS3_SEQUENTIAL)]).kind, 'keras3');
    assert.equal(detectModelUpload([{ filename: 'x.onnx', bytes: new Uint8Array([8, 7]) }]).kind, 'onnx');
    const json = await part('model.json', `${GRU_DIR}/model.json`);
    const shard = await part('weights.bin', `${GRU_DIR}/weights.bin`);
    const tfjs = detectModelUpload([shard, json]);
    assert.equal(tfjs.kind, 'tfjs');
    assert.ok(tfjs.kind === 'tfjs' && tfjs.tfjsFormat === 'layers-model' && tfjs.modelJson === json && tfjs.shards[0] === shard);
    assert.throws(() => detectModelUpload([json]), /lists weight file "weights.bin", which was not uploaded/);
    assert.throws(() => detectModelUpload([{ filename: 'notes.txt', bytes: strToU8('hello') }]), /"notes\.txt" is not a model format inferbox recognises/);
  });

  it('opens a zip of a TF.js model (in a folder) and finds model.json and its shard', async () => {
    const zip = zipSync({ 'web_model/model.json': await readFile(`${GRU_DIR}/model.json`), 'web_model/weights.bin': await readFile(`${GRU_DIR}/weights.bin`), '__MACOSX/._model.json': strToU8('x') });
    const upload = detectModelUpload([{ filename: 'model.zip', bytes: zip }]);
    assert.equal(upload.kind, 'zip');
    const parts = unzipModelUpload({ filename: 'model.zip', bytes: zip });
    assert.deepEqual(parts.map((p) => p.filename).sort(), ['web_model/model.json', 'web_model/weights.bin']);
    const inner = detectModelUpload(parts);
    assert.ok(inner.kind === 'tfjs' && inner.shards[0]!.filename === 'web_model/weights.bin');
  });
});
