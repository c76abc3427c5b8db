import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { strToU8, unzipSync, zipSync } from 'fflate';
import sharp from 'sharp';
import { assertSetosa, IRIS_ONNX } from '../helpers/fixtures.js';
import { float16AddOnnx, STRING_LABEL_PIPELINE, stringLabelPipelineOnnx, stringLabelTreeOnnx } from '../helpers/onnx-models.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { editKerasH5, fixture, GRU_DIR, KERAS3_FUNCTIONAL, KERAS3_SEQUENTIAL, MATMUL_DIR, MNIST_H5, REGRESSION_H5 } from '../helpers/tfjs-fixtures.js';
import { rejectsApi } from '../helpers/http.js';

const file = async (path: string, name = path.split('/').at(-1)!) => ({ name, data: await readFile(path) });

/** A real digit as the [28,28] rows of 0..1 pixels the MNIST MLP was trained on. */
async function digitRows(digit: number): Promise<number[][]> {
  const pixels = await sharp(fixture(`mnist-png/ps_${digit}.png`)).greyscale().raw().toBuffer();
  return Array.from({ length: 28 }, (_, r) => Array.from(pixels.subarray(r * 28, r * 28 + 28), (v) => v / 255));
}

const flat = (value: unknown): number[] => (Array.isArray(value) ? value.flatMap(flat) : [value as number]);


describe('publishing Keras, TF.js and zipped models', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ env: { INFERBOX_WORKERS_COUNT: '1' } });
  });
  after(() => server.close());

  /** Publishes, deploys and predicts one record; the record's outputs come back. */
  async function predictOne(model: string, record: Record<string, unknown>): Promise<Record<string, unknown>> {
    const res = await server.client.test({ model_name: model, model_version: 'latest', X: [record] });
    return (res.result as Record<string, unknown>[])[0]!;
  }

  it('serves the tf.keras 2.2.4 MNIST .h5 under Keras names and keeps the original file', async () => {
    await server.client.publishModel({ name: 'mnist-h5', files: [await file(MNIST_H5)] });
    const meta = await server.client.getVersion('mnist-h5');
    assert.equal(meta.format, 'tfjs');
    assert.equal(meta.source_format, 'keras-h5');
    assert.equal(meta.keras_version, '2.2.4-tf');
    assert.match(meta.backend, /^tfjs/);
    assert.deepEqual(meta.inputs, [{ name: 'flatten_3_input', dtype: 'float32', shape: [-1, 28, 28] }]);
    assert.deepEqual(meta.outputs.map((o) => o.name), ['dense_7']);
    assert.deepEqual(meta.files.map((f) => f.name), ['upload/mnist.h5', 'model.json', 'weights.bin']);
    assert.equal(meta.sha256, meta.files[0]!.sha256, 'the version is identified by the uploaded file');
    const health = (await (await fetch(`${server.url}/healthz`)).json()) as { backends: Record<string, string> };
    assert.equal(health.backends.tfjs, meta.backend, '/healthz shows the tfjs backend once a worker started it');

    const dep = await server.client.createDeployment({ deployment_name: 'mnist-h5-svc', model_name: 'mnist-h5' });
    const svc = server.client.withToken(dep.access_token);
    const res = await svc.predict('mnist-h5-svc', { X: [{ flatten_3_input: await digitRows(7) }] });
    const p = flat((res.result as Record<string, unknown>[])[0]!.dense_7);
    assert.equal(p.length, 10);
    assert.ok(Math.abs(p[7]! - 0.9923) <= 1e-4, `p[7] = ${p[7]}`);
  });

  it('serves the keras 2.0.6 regression .h5: 0.7136', async () => {
    await server.client.publishModel({ name: 'regression', files: [await file(REGRESSION_H5)] });
    const out = await predictOne('regression', { dense_7_input: [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6] });
    const [y] = flat(out.dense_9);
    assert.ok(Math.abs(y! - 0.7136) <= 1e-4, `y = ${y}`);
  });

  it('serves Keras 3 .keras files (Sequential and Functional) like the Keras 2 file they came from', async () => {
    const rows = await digitRows(3);
    const reference = flat((await predictOne('mnist-h5', { flatten_3_input: rows })).dense_7);
    for (const [name, path] of [['k3-seq', KERAS3_SEQUENTIAL], ['k3-fn', KERAS3_FUNCTIONAL]] as const) {
      await server.client.publishModel({ name, files: [await file(path)] });
      const meta = await server.client.getVersion(name);
      assert.equal(meta.source_format, 'keras3');
      assert.equal(meta.keras_version, '3.4.1');
      const out = await predictOne(name, { [meta.inputs[0]!.name]: rows });
      const p = flat(out[meta.outputs[0]!.name]);
      assert.ok(p.every((v, i) => Math.abs(v - reference[i]!) <= 1e-6), `${name} differs: ${p} vs ${reference}`);
    }
  });

  it('serves Keras 3 files in saving_lib\'s layout (masked text model, nested multi-input model) within 1e-5 of Keras\'s formulas', async () => {
    const expected = JSON.parse(await readFile(fixture('keras3-layers/expected.json'), 'utf8')) as Record<string, { inputs: Record<string, { shape: number[]; data: number[] }>; outputs: Record<string, { data: number[] }> }>;
    for (const [name, keras] of [['k3-text', 'text.keras'], ['k3-towers', 'towers.keras']] as const) {
      await server.client.publishModel({ name, files: [await file(fixture(`keras3-layers/${keras}`))] });
      const { inputs, outputs } = expected[keras]!;
      // Row 1 of each input (the text model's is padded with zeros).
      const record = Object.fromEntries(Object.entries(inputs).map(([input, { shape, data }]) => {
        const width = data.length / shape[0]!;
        return [input, data.slice(width, 2 * width)];
      }));
      const out = await predictOne(name, record);
      for (const [output, { data }] of Object.entries(outputs)) {
        const want = data.slice(data.length / 2);
        const got = flat(out[output]);
        assert.ok(got.length === want.length && got.every((v, i) => Math.abs(v - want[i]!) <= 1e-5), `${name} ${output}: ${got} vs ${want}`);
      }
    }
  });

  it('serves a Keras 3 model saved unzipped, sent as config.json, model.weights.h5 and metadata.json in one request', async () => {
    const entries = unzipSync(await readFile(fixture('keras3-layers/cnn.keras')));
    const files = ['config.json', 'model.weights.h5', 'metadata.json'].map((name) => ({ name, data: Buffer.from(entries[name]!) }));
    await server.client.publishModel({ name: 'k3-dir', files });
    const meta = await server.client.getVersion('k3-dir');
    assert.equal(meta.source_format, 'keras3');
    assert.equal(meta.keras_version, '3.4.1');
    assert.equal(meta.sha256, meta.files.find((f) => f.name === 'upload/config.json')!.sha256, 'identified by its config.json');
    const { inputs, outputs } = JSON.parse(await readFile(fixture('keras3-layers/expected.json'), 'utf8'))['cnn.keras'] as { inputs: { input_layer: { data: number[] } }; outputs: { head: { data: number[] } } };
    const image = inputs.input_layer.data.slice(0, 128);
    const rows = Array.from({ length: 8 }, (_, y) => Array.from({ length: 8 }, (_, x) => image.slice((y * 8 + x) * 2, (y * 8 + x) * 2 + 2)));
    const got = flat((await predictOne('k3-dir', { input_layer: rows })).head);
    outputs.head.data.slice(0, 3).forEach((v, i) => assert.ok(Math.abs(got[i]! - v) <= 1e-5, `head[${i}] = ${got[i]} vs ${v}`));
  });

  it('serves a TF.js layers model sent as model.json plus its weight file in one request', async () => {
    await server.client.publishModel({ name: 'gru', files: [await file(`${GRU_DIR}/model.json`), await file(`${GRU_DIR}/weights.bin`)] });
    const meta = await server.client.getVersion('gru');
    assert.equal(meta.source_format, 'tfjs-layers');
    assert.deepEqual(meta.files.map((f) => f.name), ['upload/model.json', 'upload/weights.bin', 'model.json', 'weights.bin']);
    const out = await predictOne('gru', { embedding_Embedding2_input: [86, 11, 62, 40, 36, 75, 82, 94, 67, 75] });
    const got = flat(out.gru_GRU1);
    [-0.0036, 0.0029, -0.003, 0.0096].forEach((v, i) => assert.ok(Math.abs(got[i]! - v) <= 1e-4, `gru[${i}] = ${got[i]}`));
  });

  it('serves a TF.js graph model zipped inside a folder, with macOS litter', async () => {
    const zip = zipSync({
      'web_model/model.json': await readFile(`${MATMUL_DIR}/model_new.json`),
      'web_model/weights.bin': await readFile(`${MATMUL_DIR}/weights.bin`),
      '__MACOSX/web_model/._model.json': strToU8('x'),
    });
    await server.client.publishModel({ name: 'matmul', files: [{ name: 'web model.zip', data: Buffer.from(zip) }] });
    const meta = await server.client.getVersion('matmul');
    assert.equal(meta.source_format, 'tfjs-graph');
    assert.equal(meta.files[0]!.name, 'upload/web_model.zip', 'the stored name is made safe');
    const out = await predictOne('matmul', { Placeholder: [[1, 1], [1, 1]] });
    const got = flat(out[meta.outputs[0]!.name]);
    [0.7568, -0.1835, 0.7568, -0.1835].forEach((v, i) => assert.ok(Math.abs(got[i]! - v) <= 1e-4, `matmul[${i}] = ${got[i]}`));
  });

  it('serves an ONNX file from a zip, keeping ZipMap probabilities', async () => {
    const zip = zipSync({ 'iris/logreg_iris.onnx': await readFile(fixture(IRIS_ONNX)), 'iris/README.txt': strToU8('iris') });
    await server.client.publishModel({ name: 'iris-zip', files: [{ name: 'iris.zip', data: Buffer.from(zip) }] });
    const meta = await server.client.getVersion('iris-zip');
    assert.equal(meta.format, 'onnx');
    const res = await server.client.test({ model_name: 'iris-zip', model_version: 'latest', X: [{ float_input: [5.1, 3.5, 1.4, 0.2] }] });
    assertSetosa(res.result);
  });

  it('serves skl2onnx-style classifiers with string class labels: a Scaler + LinearClassifier pipeline and a TreeEnsembleClassifier', async () => {
    await server.client.publishModel({ name: 'pipe-str', files: [{ name: 'pipe.onnx', data: stringLabelPipelineOnnx() }] });
    const meta = await server.client.getVersion('pipe-str');
    assert.deepEqual(meta.outputs.map((o) => [o.name, o.dtype]), [['output_label', 'string'], ['output_probability', 'float32']]);
    const x = [3, -0.5];
    const out = await predictOne('pipe-str', { float_input: x });
    const p = STRING_LABEL_PIPELINE;
    const scaled = x.map((v, i) => (v - p.offset[i]!) * p.scale[i]!);
    const scores = p.coefficients.map((w, c) => w[0]! * scaled[0]! + w[1]! * scaled[1]! + p.intercepts[c]!);
    const sum = scores.reduce((a, s) => a + Math.exp(s), 0);
    const probabilities = (out.output_probability as Record<string, number>[])[0]!;
    assert.deepEqual(Object.keys(probabilities), p.classes);
    p.classes.forEach((c, i) => assert.ok(Math.abs(probabilities[c]! - Math.exp(scores[i]!) / sum) <= 1e-6, `${c}: ${probabilities[c]}`));
    assert.deepEqual(out.output_label, [p.classes[scores.indexOf(Math.max(...scores))]]);

    await server.client.publishModel({ name: 'tree-str', files: [{ name: 'tree.onnx', data: stringLabelTreeOnnx() }] });
    const res = await server.client.test({ model_name: 'tree-str', model_version: 'latest', X: [{ float_input: [0.2] }, { float_input: [0.9] }] });
    assert.deepEqual(res.result, [
      { output_label: ['no'], output_probability: [{ no: 0.75, maybe: 0.25, yes: 0 }] },
      { output_label: ['yes'], output_probability: [{ no: 0, maybe: 0.25, yes: 0.75 }] },
    ]);
  });

  it('takes and returns ordinary numbers for a float16 ONNX model', async () => {
    await server.client.publishModel({ name: 'half', files: [{ name: 'half.onnx', data: float16AddOnnx() }] });
    const meta = await server.client.getVersion('half');
    assert.equal(meta.inputs[0]!.dtype, 'float16');
    const out = await predictOne('half', { x: [1.5, -2, 0.1] });
    // x + x in half precision: 0.1 is 0.0999755859375 in float16, so 0.199951171875.
    assert.deepEqual(flat(out.y), [3, -4, 0.199951171875]);
  });

  describe('refusals leave nothing stored', () => {
    const refuse = async (name: string, files: { name: string; data: Buffer }[], status: number, code: string, message: RegExp) => {
      await rejectsApi(server.client.publishModel({ name, files }), status, code, message);
      await rejectsApi(server.client.getModel(name), 404, 'MODEL_NOT_FOUND', /./);
    };

    it('refuses a Keras layer TF.js cannot build with 422 naming the class', async () => {
      const bytes = await editKerasH5(await readFile(REGRESSION_H5), (layers) => (layers[1]!.class_name = 'MyCustomDense'));
      await refuse('custom', [{ name: 'custom.h5', data: Buffer.from(bytes) }], 422, 'MODEL_UNSUPPORTED', /MyCustomDense/);
    });

    it('refuses a Keras 1 file with 422', async () => {
      const bytes = await editKerasH5(await readFile(REGRESSION_H5), (_layers, attrs) => (attrs['keras_version'] = '1.2.2'));
      await refuse('keras1', [{ name: 'old.h5', data: Buffer.from(bytes) }], 422, 'MODEL_UNSUPPORTED', /Keras 1 models are not supported/);
    });

    it('names pickles, PyTorch checkpoints and unknown files in a 422', async () => {
      await refuse('pickle', [{ name: 'model.pkl', data: Buffer.from([0x80, 0x04, 0x95, 0, 0]) }], 422, 'MODEL_UNSUPPORTED', /Python pickle/);
      const torch = zipSync({ 'archive/data.pkl': new Uint8Array([0x80, 2]), 'archive/version': strToU8('3') });
      await refuse('torch', [{ name: 'model.pt', data: Buffer.from(torch) }], 422, 'MODEL_UNSUPPORTED', /PyTorch checkpoint/);
      await refuse('text', [{ name: 'notes.txt', data: Buffer.from('hello') }], 422, 'MODEL_UNSUPPORTED', /"notes\.txt" is not a model format inferbox recognises/);
      await refuse('empty-zip', [{ name: 'e.zip', data: Buffer.from(zipSync({ 'readme.md': strToU8('no model') })) }], 422, 'MODEL_UNSUPPORTED', /readme\.md/);
    });

    it('refuses model.json without its weight file with 400 naming the file', async () => {
      await refuse('no-shard', [await file(`${GRU_DIR}/model.json`)], 400, 'MODEL_INVALID', /lists weight file "weights\.bin", which was not uploaded/);
    });

    it('refuses a broken HDF5 file with 400', async () => {
      const bytes = Buffer.from(await readFile(MNIST_H5)).subarray(0, 4096);
      await refuse('broken', [{ name: 'broken.h5', data: bytes }], 400, 'MODEL_INVALID', /HDF5|\.h5/);
    });
  });
});
