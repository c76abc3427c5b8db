import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ApiError } from '../../src/client/index.js';
import { fixtureFile, IRIS_ONNX, assertSetosa } from '../helpers/fixtures.js';
import { ADMIN_TOKEN, startTestServer, type TestServer } from '../helpers/server.js';

async function raw(server: TestServer, method: string, path: string, init: { token?: string | null; body?: unknown; headers?: Record<string, string> } = {}) {
  const headers: Record<string, string> = { ...init.headers };
  if (init.token !== null) headers.authorization = `Bearer ${init.token ?? ADMIN_TOKEN}`;
  let body: string | FormData | undefined;
  if (init.body instanceof FormData || typeof init.body === 'string') body = init.body;
  else if (init.body !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(init.body);
  }
  const res = await fetch(`${server.url}${path}`, { method, headers, ...(body !== undefined ? { body } : {}) });
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: text === '' ? undefined : (JSON.parse(text) as { error: { code: string; message: string; details?: Record<string, unknown> }; requestId?: string }) };
}

describe('bad input gets a clear error and never loses data', () => {
  let server: TestServer;
  let svcToken: string;
  before(async () => {
    server = await startTestServer({ env: { INFERBOX_WORKERS_COUNT: '1', INFERBOX_LIMITS_MAX_JSON_BYTES: '65536' } });
    await server.client.publishModel({ name: 'iris', files: [fixtureFile(IRIS_ONNX)] });
    svcToken = (await server.client.createDeployment({ deployment_name: 'iris-svc', model_name: 'iris' })).access_token;
  });
  after(() => server.close());

  it('answers 401 AUTH_MISSING_TOKEN with WWW-Authenticate when no token comes', async () => {
    const res = await raw(server, 'GET', '/api/v1/models', { token: null });
    assert.equal(res.status, 401);
    assert.equal(res.json?.error.code, 'AUTH_MISSING_TOKEN');
    assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer realm="inferbox"/);
    assert.ok(res.json?.requestId);
  });

  it('answers 401 AUTH_INVALID_TOKEN for a wrong admin token and a wrong deployment token', async () => {
    const admin = await raw(server, 'GET', '/api/v1/models', { token: 'wrong' });
    assert.equal(admin.status, 401);
    assert.equal(admin.json?.error.code, 'AUTH_INVALID_TOKEN');
    assert.match(admin.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
    const svc = await raw(server, 'POST', '/api/v1/svc/iris-svc/predict', { token: 'ibx_svc_wrong', body: { args: { X: [] } } });
    assert.equal(svc.status, 401);
    assert.equal(svc.json?.error.code, 'AUTH_INVALID_TOKEN');
  });

  it('does not let a deployment token manage models', async () => {
    const res = await raw(server, 'GET', '/api/v1/models', { token: svcToken });
    assert.equal(res.status, 401);
  });

  it('answers 400 REQUEST_INVALID with error="invalid_request" for a malformed Authorization header', async () => {
    const res = await raw(server, 'GET', '/api/v1/models', { token: null, headers: { authorization: 'Basic abc' } });
    assert.equal(res.status, 400);
    assert.equal(res.json?.error.code, 'REQUEST_INVALID');
    assert.match(res.headers.get('www-authenticate') ?? '', /error="invalid_request"/);
  });

  it('answers 422 INPUT_SHAPE_MISMATCH naming the input and both shapes', async () => {
    const res = await raw(server, 'POST', '/api/v1/svc/iris-svc/predict', { token: svcToken, body: { args: { X: [{ float_input: [[5.1, 3.5, 1.4]] }] } } });
    assert.equal(res.status, 422);
    assert.equal(res.json?.error.code, 'INPUT_SHAPE_MISMATCH');
    assert.equal(res.json?.error.message, "input 'float_input' expects [1,4], got [1,3]");
    assert.deepEqual(res.json?.error.details, { input: 'float_input', expected: [1, 4], got: [1, 3] });
  });

  it('answers 422 for a ragged array, a wrong dtype, a missing and an unknown input', async () => {
    const cases: [unknown, string, RegExp][] = [
      [[{ float_input: [[1, 2, 3, 4], [1, 2]] }], 'INPUT_SHAPE_MISMATCH', /not rectangular/],
      [[{ float_input: [1, 2, 'x', 4] }], 'INPUT_DTYPE_MISMATCH', /expects float32 values, got "x"/],
      [[{}], 'INPUT_MISSING', /has no value for input 'float_input'/],
      [[{ float_input: [1, 2, 3, 4], extra: 1 }], 'INPUT_UNKNOWN', /names input 'extra'/],
    ];
    for (const [X, code, message] of cases) {
      const res = await raw(server, 'POST', '/api/v1/test', { body: { args: { model_name: 'iris', X } } });
      assert.equal(res.status, 422, code);
      assert.equal(res.json?.error.code, code);
      assert.match(res.json!.error.message, message);
    }
  });

  it('answers 400 for a body without args.X and for malformed JSON', async () => {
    const noX = await raw(server, 'POST', '/api/v1/svc/iris-svc/predict', { token: svcToken, body: { args: {} } });
    assert.equal(noX.status, 400);
    assert.match(noX.json!.error.message, /args\.X is required/);
    const bad = await raw(server, 'POST', '/api/v1/svc/iris-svc/predict', { token: svcToken, body: '{"args":', headers: { 'content-type': 'application/json' } });
    assert.equal(bad.status, 400);
    assert.equal(bad.json?.error.code, 'REQUEST_INVALID');
  });

  it('answers 413 REQUEST_TOO_LARGE for a JSON body over the limit', async () => {
    const big = { args: { X: [{ float_input: Array.from({ length: 20_000 }, () => 1.2345) }] } };
    const res = await raw(server, 'POST', '/api/v1/svc/iris-svc/predict', { token: svcToken, body: big });
    assert.equal(res.status, 413);
    assert.equal(res.json?.error.code, 'REQUEST_TOO_LARGE');
  });

  it('refuses a corrupt model file with 400 MODEL_INVALID and stores nothing', async () => {
    const form = new FormData();
    form.set('name', 'corrupt');
    form.set('file', new Blob([new Uint8Array([8, 1, 18, 4, 116, 101, 115, 116, 0, 0, 255])]), 'corrupt.onnx');
    const res = await raw(server, 'POST', '/api/v1/models', { body: form });
    assert.equal(res.status, 400);
    assert.equal(res.json?.error.code, 'MODEL_INVALID');
    assert.doesNotMatch(res.json!.error.message, /\/tmp\/|onnxruntime_src/, 'no server paths in the message');
    assert.deepEqual(await readdir(join(server.dataDir, 'models')), ['iris']);
    assert.deepEqual(await readdir(join(server.dataDir, 'tmp')), ['uploads']);
    assert.deepEqual(await readdir(join(server.dataDir, 'tmp', 'uploads')), []);
    await assert.rejects(server.client.getModel('corrupt'), (e: ApiError) => e.code === 'MODEL_NOT_FOUND');
  });

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

  it('refuses names that could escape the data directory', async () => {
    for (const name of ['../evil', 'a/b', '.hidden', 'x'.repeat(200), '']) {
      await assert.rejects(
        server.client.publishModel({ name, files: [fixtureFile(IRIS_ONNX)] }),
        (e: ApiError) => e.status === 400 && e.code === 'REQUEST_INVALID' && /name must be/.test(e.message),
        name,
      );
    }
    await assert.rejects(
      server.client.createDeployment({ deployment_name: '../../etc', model_name: 'iris' }),
      (e: ApiError) => e.code === 'REQUEST_INVALID' && /deployment_name/.test(e.message),
    );
    assert.deepEqual(await readdir(join(server.dataDir, 'models')), ['iris']);
  });

  it('answers 404 for unknown models, versions, deployments and routes', async () => {
    await assert.rejects(server.client.getVersion('nope'), (e: ApiError) => e.status === 404 && e.code === 'MODEL_NOT_FOUND');
    await assert.rejects(server.client.getVersion('iris', 9), (e: ApiError) => e.code === 'MODEL_NOT_FOUND' && /has no version 9/.test(e.message));
    await assert.rejects(server.client.test({ model_name: 'nope', X: [] }), (e: ApiError) => e.code === 'MODEL_NOT_FOUND');
    const svc = await raw(server, 'POST', '/api/v1/svc/nope/predict', { body: { args: { X: [] } } });
    assert.equal(svc.status, 404);
    assert.equal(svc.json?.error.code, 'DEPLOYMENT_NOT_FOUND');
    const route = await raw(server, 'GET', '/api/v1/nothing-here');
    assert.equal(route.status, 404);
    assert.equal(route.json?.error.code, 'ROUTE_NOT_FOUND');
  });

  it('answers 405 METHOD_NOT_ALLOWED as JSON with an Allow header', async () => {
    const res = await raw(server, 'PUT', '/api/v1/models');
    assert.equal(res.status, 405);
    assert.equal(res.json?.error.code, 'METHOD_NOT_ALLOWED');
    assert.match(res.headers.get('allow') ?? '', /POST/);
  });

  it('answers 404 FUNCTION_NOT_FOUND for a function a deployment without a script lacks', async () => {
    const res = await raw(server, 'POST', '/api/v1/svc/iris-svc/explain', { token: svcToken, body: { args: { X: [{ float_input: [1, 2, 3, 4] }] } } });
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
    const errorsLogged = server.logs.filter((l) => l.code === 'INPUT_SHAPE_MISMATCH');
    assert.ok(errorsLogged.length > 0 && errorsLogged.every((l) => l.level === 30), '4xx are logged at info');
    assert.ok(!JSON.stringify(server.logs).includes(svcToken), 'tokens never reach the log');
  });
});
