import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ApiError } from '../../src/client/index.js';
import {
  argmax,
  assertSetosa,
  fixtureFile,
  flattenDeep,
  IRIS_ONNX,
  KERAS_ADD_ONNX,
  maxRelativeDiff,
  MNIST_ONNX,
  nestValues,
  readTensorProto,
} from '../helpers/fixtures.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const MNIST_PAIRS = [0, 1, 2].map((i) => ({
  input: readTensorProto(`onnx-mnist8-cntk/mnist_input_${i}.pb`),
  output: readTensorProto(`onnx-mnist8-cntk/mnist_output_${i}.pb`),
}));

describe('ONNX models made by others: publish, inspect, test, deploy, predict', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ env: { INFERBOX_WORKERS_COUNT: '1' } });
  });
  after(() => server.close());

  it('publishes the CNTK MNIST model and reads its signature from the file', async () => {
    const published = await server.client.publishModel({ name: 'mnist', files: [fixtureFile(MNIST_ONNX)], description: 'CNTK mnist-8' });
    assert.deepEqual(published, { model_name: 'mnist', model_version: '1' });
    const meta = await server.client.getVersion('mnist', 'latest');
    assert.equal(meta.format, 'onnx');
    assert.match(meta.backend, /^onnxruntime-node 1\.30/);
    assert.deepEqual(meta.inputs, [{ name: 'Input3', dtype: 'float32', shape: [1, 1, 28, 28] }]);
    assert.deepEqual(meta.outputs, [{ name: 'Plus214_Output_0', dtype: 'float32', shape: [1, 10] }]);
    assert.equal(meta.size, 26454);
    assert.equal(meta.sha256, '2f06e72de813a8635c9bc0397ac447a601bdbfa7df4bebc278723b958831c9bf');
    assert.equal(meta.description, 'CNTK mnist-8');
  });

  it('predicts the three reference outputs through /api/v1/test', async () => {
    for (const [i, pair] of MNIST_PAIRS.entries()) {
      const X = [{ Input3: nestValues(pair.input.values, pair.input.dims) }];
      const res = await server.client.test({ model_name: 'mnist', model_version: '1', X });
      assert.deepEqual(res.stdout, []);
      assert.deepEqual(res.stderr, []);
      const got = flattenDeep((res.result as Record<string, unknown>[])[0]!.Plus214_Output_0);
      assert.ok(maxRelativeDiff(got, pair.output.values) < 1e-4, `pair ${i} differs from the reference`);
      assert.equal(argmax(got), argmax(pair.output.values));
    }
  });

  it('deploys MNIST with a zero payload of the right shape and predicts the references with its token', async () => {
    const dep = await server.client.createDeployment({ deployment_name: 'mnist-svc', model_name: 'mnist' });
    assert.equal(dep.endpoint_url, `${server.url}/api/v1/svc/mnist-svc/predict`);
    assert.match(dep.access_token, /^ibx_svc_/);
    const payloadInput = dep.payload.args.X[0]!.Input3 as number[][][];
    assert.deepEqual([payloadInput.length, payloadInput[0]!.length, payloadInput[0]![0]!.length], [1, 28, 28]);
    const svc = server.client.withToken(dep.access_token);
    const zero = await svc.predict('mnist-svc', dep.payload.args);
    assert.equal(flattenDeep((zero.result as Record<string, unknown>[])[0]!.Plus214_Output_0).length, 10);
    assert.equal(zero.stdout, undefined, 'stdout only comes with ?debug=true');

    const X = MNIST_PAIRS.map((p) => ({ Input3: nestValues(p.input.values, p.input.dims) }));
    const res = await svc.predict('mnist-svc', { X }, { debug: true });
    assert.deepEqual(res.stdout, []);
    const results = res.result as Record<string, unknown>[];
    assert.equal(results.length, 3);
    results.forEach((r, i) => {
      assert.ok(maxRelativeDiff(flattenDeep(r.Plus214_Output_0), MNIST_PAIRS[i]!.output.values) < 1e-4);
    });
  });

  it('serves the skl2onnx iris model: the label and, from the ZipMap, class probabilities as sklearn gives them', async () => {
    const xTest = [{ float_input: [5.1, 3.5, 1.4, 0.2] }, { float_input: [6.7, 3.0, 5.2, 2.3] }];
    await server.client.publishModel({ name: 'iris', files: [fixtureFile(IRIS_ONNX)], xTest, yTest: [0, 2], miningFunction: 'classification' });
    const meta = await server.client.getVersion('iris', '1');
    assert.deepEqual(meta.sample, { float_input: [5.1, 3.5, 1.4, 0.2] });
    assert.equal(meta.mining_function, 'classification');
    assert.deepEqual(meta.evaluation, { metric: 'accuracy', value: 1, samples: 2, y_test_kind: 'labels' }, 'scored on x_test/y_test at publish');
    assert.deepEqual(meta.outputs, [
      { name: 'output_label', dtype: 'int64', shape: [1] },
      { name: 'output_probability', dtype: 'float32', shape: [-1, 3], classes: [0, 1, 2] },
    ]);
    assert.deepEqual(meta.files.map((f) => f.name), ['model.onnx', 'model.serving.onnx', 'serving.json'], 'the upload is kept unchanged');
    const res = await server.client.test({ model_name: 'iris', X: xTest });
    const records = res.result as { output_label: number[]; output_probability: Record<string, number>[] }[];
    assert.deepEqual(records.map((r) => r.output_label), [[0], [2]]);
    records.forEach((r, i) => {
      const p = r.output_probability[0]!;
      assert.deepEqual(Object.keys(p), ['0', '1', '2']);
      assert.ok(Math.abs(p['0']! + p['1']! + p['2']! - 1) < 1e-5, 'probabilities sum to 1');
      assert.equal(argmax([p['0']!, p['1']!, p['2']!]), r.output_label[0], `record ${i}: the label is the likeliest class`);
    });

    const dep = await server.client.createDeployment({ deployment_name: 'iris-svc', model_name: 'iris', model_version: 'latest' });
    assert.deepEqual(dep.payload, { args: { X: [{ float_input: [5.1, 3.5, 1.4, 0.2] }] } });
    const out = await server.client.withToken(dep.access_token).predict('iris-svc', dep.payload.args);
    assertSetosa(out.result);
  });

  it('answers a split table in the split orientation', async () => {
    const res = await server.client.test({ model_name: 'iris', X: { columns: ['float_input'], data: [[[5.1, 3.5, 1.4, 0.2]], [[6.7, 3.0, 5.2, 2.3]]] } });
    const table = res.result as { columns: string[]; data: unknown[][] };
    assert.deepEqual(table.columns, ['output_label', 'output_probability']);
    assert.deepEqual(table.data.map((row) => row[0]), [[0], [2]]);
  });

  it('feeds both inputs of the Keras-converted two-input model (ones + twos = threes)', async () => {
    await server.client.publishModel({ name: 'keras-add', files: [fixtureFile(KERAS_ADD_ONNX)] });
    const meta = await server.client.getVersion('keras-add', 1);
    assert.deepEqual(meta.inputs.map((i) => i.name), ['input_39_0', 'input_40_0']);
    const fill = (v: number) => Array.from({ length: 3 }, () => Array.from({ length: 3 }, () => [v, v, v]));
    const res = await server.client.test({ model_name: 'keras-add', X: [{ input_39_0: fill(1), input_40_0: fill(2) }] });
    const out = flattenDeep((res.result as Record<string, unknown>[])[0]!.add_3_add_01);
    assert.equal(out.length, 27);
    assert.ok(out.every((v) => v === 3));
  });

  it('adds a version when a name is published again, and `latest` follows it', async () => {
    const second = await server.client.publishModel({ name: 'iris', files: [fixtureFile(IRIS_ONNX)] });
    assert.equal(second.model_version, '2');
    assert.equal((await server.client.getVersion('iris', 'latest')).model_version, '2');
    const model = await server.client.getModel('iris');
    assert.deepEqual(model.versions.map((v) => v.model_version), ['1', '2']);
    const list = await server.client.listModels();
    assert.deepEqual(list.map((m) => m.model_name), ['iris', 'keras-add', 'mnist']);
  });

  it('lists, changes and deletes deployments', async () => {
    const names = (await server.client.listDeployments()).map((d) => d.deployment_name);
    assert.deepEqual(names, ['iris-svc', 'mnist-svc']);
    const patched = await server.client.patchDeployment('iris-svc', { model_version: 2, replicas: 2 });
    assert.equal(patched.model_version, '2');
    assert.equal(patched.replicas, 2);
    assert.equal((await server.client.getDeployment('iris-svc')).model_version, '2');
    await server.client.deleteVersion('iris', 1);
    await assert.rejects(server.client.getVersion('iris', 1), (e: ApiError) => e.code === 'MODEL_NOT_FOUND' && e.status === 404);
    await server.client.deleteDeployment('iris-svc');
    await assert.rejects(server.client.getDeployment('iris-svc'), (e: ApiError) => e.code === 'DEPLOYMENT_NOT_FOUND');
  });

  it('exposes Prometheus metrics with the model pools and predictions per deployment', async () => {
    const res = await fetch(`${server.url}/metrics`);
    assert.equal(res.status, 200);
    const text = await res.text();
    assert.match(text, /inferbox_predictions_total\{deployment="mnist-svc",status="200"\} [1-9]/);
    const loads = Number(/inferbox_model_pool\{stat="loads"\} (\d+)/.exec(text)?.[1]);
    assert.ok(loads >= 3, `loads = ${loads}`);
    assert.match(text, /inferbox_workers_ready 1\n/);
    assert.match(text, /inferbox_http_request_duration_seconds_bucket\{le="0.005",route="\/api\/v1\/svc\/:deployment\/:fn"\}/);
  });
});
