import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ApiError } from '../../src/client/index.js';
import { fixtureFile, IRIS_ONNX, assertSetosa } from '../helpers/fixtures.js';
import { rawRequest } from '../helpers/http.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

/** More bad inputs; the table of the common ones (JSON, inputs, sizes, model files, names, tokens) is bad-input-table.test.ts. */
describe('bad input gets a clear error and never loses data', () => {
  let server: TestServer;
  let svcToken: string;
  before(async () => {
    server = await startTestServer({ env: { INFERBOX_WORKERS_COUNT: '1' } });
    await server.client.publishModel({ name: 'iris', files: [fixtureFile(IRIS_ONNX)] });
    svcToken = (await server.client.createDeployment({ deployment_name: 'iris-svc', model_name: 'iris' })).access_token;
  });
  after(() => server.close());

  it('refuses a publish whose y_test does not match x_test, storing nothing', async () => {
    await assert.rejects(
      server.client.publishModel({ name: 'iris-eval', files: [fixtureFile(IRIS_ONNX)], xTest: [{ float_input: [1, 2, 3, 4] }], yTest: [0, 1] }),
      (e: ApiError) => e.status === 400 && e.code === 'REQUEST_INVALID' && /y_test must be a list with one value per x_test row \(1\)/.test(e.message),
    );
    await assert.rejects(
      server.client.publishModel({ name: 'iris-eval', files: [fixtureFile(IRIS_ONNX)], xTest: [{ float_input: [1, 2, 3] }], yTest: [0] }),
      (e: ApiError) => e.status === 400 && /x_test does not fit the model: input 'float_input' expects \[1,4\]/.test(e.message),
    );
    await assert.rejects(server.client.getModel('iris-eval'), (e: ApiError) => e.code === 'MODEL_NOT_FOUND');
  });

  it('answers 404 for unknown models, versions and routes', async () => {
    await assert.rejects(server.client.getVersion('nope'), (e: ApiError) => e.status === 404 && e.code === 'MODEL_NOT_FOUND');
    await assert.rejects(server.client.getVersion('iris', 9), (e: ApiError) => e.code === 'MODEL_NOT_FOUND' && /has no version 9/.test(e.message));
    await assert.rejects(server.client.test({ model_name: 'nope', X: [] }), (e: ApiError) => e.code === 'MODEL_NOT_FOUND');
    const route = await rawRequest(server.url, 'GET', '/api/v1/nothing-here');
    assert.equal(route.status, 404);
    assert.equal(route.json?.error.code, 'ROUTE_NOT_FOUND');
  });

  it('answers 405 METHOD_NOT_ALLOWED as JSON with an Allow header', async () => {
    const res = await rawRequest(server.url, 'PUT', '/api/v1/models');
    assert.equal(res.status, 405);
    assert.equal(res.json?.error.code, 'METHOD_NOT_ALLOWED');
    assert.match(res.headers.get('allow') ?? '', /POST/);
  });

  it('routes svc paths as every other route: 405 with Allow, 404 ROUTE_NOT_FOUND, case ignored', async () => {
    const get = await rawRequest(server.url, 'GET', '/api/v1/svc/iris-svc/predict', { token: svcToken });
    assert.equal(get.status, 405);
    assert.equal(get.json?.error.code, 'METHOD_NOT_ALLOWED');
    assert.equal(get.headers.get('allow'), 'POST');
    for (const path of ['/api/v1/svc', '/api/v1/svc/', '/api/v1/svc/iris-svc', '/api/v1/svc/iris-svc/predict/more', '/api/v1/svcx/iris-svc/predict']) {
      const res = await rawRequest(server.url, 'POST', path, { token: svcToken, body: { args: { X: [{ float_input: [1, 2, 3, 4] }] } } });
      assert.equal(res.status, 404, path);
      assert.equal(res.json?.error.code, 'ROUTE_NOT_FOUND', path);
    }
    const upper = await rawRequest(server.url, 'POST', '/API/V1/SVC/iris-svc/predict/', { token: svcToken, body: { args: { X: [{ float_input: [1, 2, 3, 4] }] } } });
    assert.equal(upper.status, 200);
  });

  it('answers 404 FUNCTION_NOT_FOUND for a function a deployment without a script lacks', async () => {
    const res = await rawRequest(server.url, 'POST', '/api/v1/svc/iris-svc/explain', { token: svcToken, body: { args: { X: [{ float_input: [1, 2, 3, 4] }] } } });
    assert.equal(res.status, 404);
    assert.equal(res.json?.error.code, 'FUNCTION_NOT_FOUND');
  });

  it('answers 409 for a duplicate deployment and for deleting a deployed version', async () => {
    await assert.rejects(server.client.createDeployment({ deployment_name: 'iris-svc', model_name: 'iris' }), (e: ApiError) => e.status === 409 && e.code === 'DEPLOYMENT_EXISTS');
    await assert.rejects(server.client.deleteVersion('iris', 1), (e: ApiError) => e.status === 409 && e.code === 'MODEL_IN_USE' && /iris-svc/.test(e.message));
    await assert.rejects(server.client.deleteModel('iris'), (e: ApiError) => e.code === 'MODEL_IN_USE');
    assert.equal((await server.client.getVersion('iris', 1)).model_version, '1');
  });

  it('answers 400 naming the field for bad deployment bodies and limits over the caps', async () => {
    await assert.rejects(server.client.createDeployment({ deployment_name: 'x', model_name: 'iris', replicas: 0 } as never), (e: ApiError) => e.code === 'REQUEST_INVALID' && /replicas/.test(e.message));
    await assert.rejects(server.client.createDeployment({ deployment_name: 'x', model_name: 'iris', timeout_ms: 10 ** 9 }), (e: ApiError) => e.code === 'REQUEST_INVALID' && /timeout_ms must be at most/.test(e.message));
    await assert.rejects(server.client.createDeployment({ deployment_name: 'x', model_name: 'iris', script: true }), (e: ApiError) => e.code === 'REQUEST_INVALID' && /no saved script/.test(e.message));
  });

  it('keeps serving after all of the above', async () => {
    const out = await server.client.withToken(svcToken).predict('iris-svc', { X: [{ float_input: [5.1, 3.5, 1.4, 0.2] }] });
    assertSetosa(out.result);
  });
});
