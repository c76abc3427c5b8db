import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { assertSetosa, fixtureFile, flattenDeep, IRIS_ONNX, KERAS_ADD_ONNX } from '../helpers/fixtures.js';
import { rawRequest } from '../helpers/http.js';
import { ADMIN_TOKEN, startTestServer, type TestServer } from '../helpers/server.js';
import { fixture, MNIST_H5 } from '../helpers/tfjs-fixtures.js';
import { rejectsApi } from '../helpers/http.js';

/** Iris rows as numpy's `X_test.tolist()` has them, with their species (0 setosa, 1 versicolor, 2 virginica). */
const IRIS_ROWS = [
  [5.1, 3.5, 1.4, 0.2],
  [4.9, 3.0, 1.4, 0.2],
  [7.0, 3.2, 4.7, 1.4],
  [6.4, 3.2, 4.5, 1.5],
  [6.3, 3.3, 6.0, 2.5],
  [5.8, 2.7, 5.1, 1.9],
];
/** The last label is wrong on purpose, so that an accuracy below 1 shows the forms are scored alike. */
const LABELS = [0, 0, 1, 1, 2, 0];
const oneHot = (label: number) => [0, 1, 2].map((c) => (c === label ? 1 : 0));
const probabilities = (label: number) => [0, 1, 2].map((c) => (c === label ? 0.8 : 0.1));

/** A [3,3,3] value of one number, one record of an input [1,3,3,3]. */
const cube = (v: number) => Array.from({ length: 3 }, () => Array.from({ length: 3 }, () => [v, v, v]));


describe('x_test, X and y_test as users have them: records, split tables, plain rows, one-hot rows', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ env: { INFERBOX_WORKERS_COUNT: '1' } });
  });
  after(() => server.close());

  it('publishes iris with x_test as plain rows; labels, one-hot rows and probabilities score alike and say which they were', async () => {
    const labels = await server.client.publishModel({ name: 'iris-rows', files: [fixtureFile(IRIS_ONNX)], xTest: IRIS_ROWS, yTest: LABELS });
    assert.equal(labels.evaluation?.metric, 'accuracy');
    assert.equal(labels.evaluation?.y_test_kind, 'labels');
    assert.equal(labels.evaluation?.samples, 6);
    assert.ok(labels.evaluation!.value < 1 && labels.evaluation!.value >= 4 / 6, JSON.stringify(labels.evaluation));

    const hot = await server.client.publishModel({ name: 'iris-rows', files: [fixtureFile(IRIS_ONNX)], xTest: IRIS_ROWS, yTest: LABELS.map(oneHot) });
    assert.deepEqual(hot.evaluation, { ...labels.evaluation, y_test_kind: 'one_hot' });
    const probs = await server.client.publishModel({ name: 'iris-rows', files: [fixtureFile(IRIS_ONNX)], xTest: IRIS_ROWS, yTest: LABELS.map(probabilities) });
    assert.deepEqual(probs.evaluation, { ...labels.evaluation, y_test_kind: 'probabilities' });
    const column = await server.client.publishModel({ name: 'iris-rows', files: [fixtureFile(IRIS_ONNX)], xTest: IRIS_ROWS, yTest: LABELS.map((l) => [l]) });
    assert.deepEqual(column.evaluation, labels.evaluation, 'a column of labels ([[0], [2]]) is labels');

    const version = await server.client.getVersion('iris-rows', hot.model_version);
    assert.deepEqual(version.evaluation, hot.evaluation, 'the version view shows the same evaluation');
    assert.deepEqual(version.sample, { float_input: IRIS_ROWS[0] }, 'the stored sample is the first row as a record');
  });

  it('refuses y_test rows of mixed lengths, naming y_test', async () => {
    await rejectsApi(
      server.client.publishModel({ name: 'iris-mixed', files: [fixtureFile(IRIS_ONNX)], xTest: IRIS_ROWS.slice(0, 2), yTest: [[1, 0, 0], [0, 1]] }),
      400,
      'REQUEST_INVALID',
      /^y_test rows must all have the same length: y_test\[0\] has 3 values, y_test\[1\] has 2$/,
    );
  });

  it('takes plain rows as X in test calls and deployment calls, and answers records', async () => {
    const test = await server.client.test({ model_name: 'iris-rows', model_version: '1', X: [IRIS_ROWS[0]] });
    assertSetosa(test.result);
    const split = await server.client.test({ model_name: 'iris-rows', X: { columns: ['float_input'], data: [[IRIS_ROWS[0]]] } });
    assert.deepEqual((split.result as { columns: string[] }).columns, ['output_label', 'output_probability'], 'a split table still answers a split table');

    const dep = await server.client.createDeployment({ deployment_name: 'iris-rows-svc', model_name: 'iris-rows', model_version: '1' });
    const svc = server.client.withToken(dep.access_token);
    const res = await svc.predict('iris-rows-svc', { X: [IRIS_ROWS[0], { float_input: IRIS_ROWS[4] }] });
    const records = res.result as { output_label: number[] }[];
    assert.deepEqual(records.map((r) => r.output_label[0]), [0, 2], 'rows and records mix in one X');
    assertSetosa([records[0]]);
  });

  it('takes a row for an input [-1,28,28] as the nested 28x28 list of one record, not a flat 784', async () => {
    const pixels = await sharp(fixture('mnist-png/ps_7.png')).greyscale().raw().toBuffer();
    const rows = Array.from({ length: 28 }, (_, r) => Array.from(pixels.subarray(r * 28, r * 28 + 28), (v) => v / 255));
    await server.client.publishModel({ name: 'mnist-rows', files: [{ name: 'mnist.h5', data: await readFile(MNIST_H5) }], xTest: [rows], yTest: [[0, 0, 0, 0, 0, 0, 0, 1, 0, 0]] });
    const meta = await server.client.getVersion('mnist-rows');
    assert.deepEqual(meta.inputs[0]!.shape, [-1, 28, 28]);
    assert.deepEqual(meta.evaluation, { metric: 'accuracy', value: 1, samples: 1, y_test_kind: 'one_hot' });
    await rejectsApi(server.client.test({ model_name: 'mnist-rows', X: [rows.flat()] }), 422, 'INPUT_SHAPE_MISMATCH', /^input 'flatten_3_input' expects \[-1,28,28\], got \[784\]$/);
  });

  it('maps a multi-input row to the inputs in order, and refuses an ambiguous row naming args.X', async () => {
    await server.client.publishModel({ name: 'keras-add-rows', files: [fixtureFile(KERAS_ADD_ONNX)], xTest: [[cube(1), cube(2)]] });
    const meta = await server.client.getVersion('keras-add-rows');
    assert.deepEqual(meta.inputs.map((i) => [i.name, i.shape]), [['input_39_0', [1, 3, 3, 3]], ['input_40_0', [1, 3, 3, 3]]]);
    assert.deepEqual(meta.sample, { input_39_0: cube(1), input_40_0: cube(2) }, 'the x_test row became a record');

    const res = await server.client.test({ model_name: 'keras-add-rows', X: [[cube(1), cube(4)]] });
    const out = flattenDeep((res.result as Record<string, unknown>[])[0]!.add_3_add_01);
    assert.equal(out.length, 27);
    assert.ok(out.every((v) => v === 5), JSON.stringify(out));

    await rejectsApi(
      server.client.test({ model_name: 'keras-add-rows', X: [[1, 2]] }),
      400,
      'REQUEST_INVALID',
      /^args\.X\[0\] is a row of 2 plain values, but the model has 2 inputs \('input_39_0' \[1,3,3,3\], 'input_40_0' \[1,3,3,3\]\): send each row as \[input_39_0, input_40_0\]/,
    );
    await rejectsApi(
      server.client.test({ model_name: 'keras-add-rows', X: [[cube(1)]] }),
      400,
      'REQUEST_INVALID',
      /^args\.X\[0\] is a row of 1 value, but the model has 2 inputs/,
    );
    await rejectsApi(
      server.client.publishModel({ name: 'keras-add-bad', files: [fixtureFile(KERAS_ADD_ONNX)], xTest: [[1, 2, 3]] }),
      400,
      'REQUEST_INVALID',
      /^x_test\[0\] is a row of 3 plain values, but the model has 2 inputs/,
    );
  });

  it('runs the sample at publish without y_test: a sample the model refuses refuses the publish and stores nothing', async () => {
    await rejectsApi(
      server.client.publishModel({ name: 'iris-bad-sample', files: [fixtureFile(IRIS_ONNX)], xTest: [[5.1, 3.5, 1.4]] }),
      400,
      'REQUEST_INVALID',
      /^x_test does not fit the model: input 'float_input' expects \[1,4\], got \[3\]$/,
    );
    await rejectsApi(server.client.getModel('iris-bad-sample'), 404, 'MODEL_NOT_FOUND', /iris-bad-sample/);
    const ok = await server.client.publishModel({ name: 'iris-good-sample', files: [fixtureFile(IRIS_ONNX)], xTest: [IRIS_ROWS[2]] });
    assert.deepEqual(ok, { model_name: 'iris-good-sample', model_version: '1' }, 'no evaluation without y_test');
  });

  it('tests the stored sample when the test call sends no X; without a sample, says what to send and where a random payload is', async () => {
    const sampled = await server.client.test({ model_name: 'iris-rows', model_version: '1' });
    assertSetosa(sampled.result);

    await server.client.publishModel({ name: 'keras-add-plain', files: [fixtureFile(KERAS_ADD_ONNX)] });
    const none = await rawRequest(server.url, 'POST', '/api/v1/test', { token: ADMIN_TOKEN, body: { args: { model_name: 'keras-add-plain' } } });
    assert.equal(none.status, 400);
    const error = (none.json as unknown as { error: { code: string; message: string; details: Record<string, unknown> } }).error;
    assert.equal(error.code, 'REQUEST_INVALID');
    assert.match(error.message, /^args\.X is required: model 'keras-add-plain' version 1 has no stored sample \(publish with x_test to store one\)\. Send X as records \[\{ "input_39_0": \.\.\., "input_40_0": \.\.\. \}\] or rows/);
    assert.equal(error.details.example, '/api/v1/models/keras-add-plain/versions/1/example?random=true');

    const example = await rawRequest(server.url, 'GET', error.details.example as string, { token: ADMIN_TOKEN });
    assert.equal(example.status, 200);
    const body = example.json as unknown as { args: { model_name: string; model_version: string; X: Record<string, unknown>[] } };
    assert.equal(body.args.model_name, 'keras-add-plain');
    assert.deepEqual(Object.keys(body.args.X[0]!), ['input_39_0', 'input_40_0']);
    assert.equal(flattenDeep(body.args.X[0]!.input_39_0).length, 27);
    const run = await rawRequest(server.url, 'POST', '/api/v1/test', { token: ADMIN_TOKEN, body });
    assert.equal(run.status, 200, JSON.stringify(run.json));

    const zeros = await rawRequest(server.url, 'GET', '/api/v1/models/keras-add-plain/versions/1/example', { token: ADMIN_TOKEN });
    assert.deepEqual((zeros.json as unknown as typeof body).args.X, [{ input_39_0: cube(0), input_40_0: cube(0) }], 'without random: zeros when there is no sample');
    const stored = await rawRequest(server.url, 'GET', '/api/v1/models/iris-rows/versions/1/example', { token: ADMIN_TOKEN });
    assert.deepEqual((stored.json as unknown as typeof body).args.X, [{ float_input: IRIS_ROWS[0] }], 'without random: the stored sample');
    const bad = await rawRequest(server.url, 'GET', '/api/v1/models/iris-rows/versions/1/example?random=yes', { token: ADMIN_TOKEN });
    assert.equal(bad.status, 400);
  });
});
