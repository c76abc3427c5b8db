import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fixtureFile, IRIS_ONNX } from '../helpers/fixtures.js';
import { ADMIN_TOKEN, startTestServer, type TestServer } from '../helpers/server.js';

/** What the web console needs from the API beyond the seed's calls: call statistics and TypeScript scripts. */

const X = [{ float_input: [5.1, 3.5, 1.4, 0.2] }];

async function call(server: TestServer, method: string, path: string, body?: unknown, token = ADMIN_TOKEN) {
  const init: RequestInit = { method, headers: { authorization: `Bearer ${token}` } };
  if (typeof body === 'string') init.body = body;
  else if (body !== undefined) {
    init.body = JSON.stringify(body);
    (init.headers as Record<string, string>)['content-type'] = 'application/json';
  }
  const res = await fetch(`${server.url}${path}`, init);
  const text = await res.text();
  let parsed: any = text;
  try {
    parsed = JSON.parse(text);
  } catch {}
  return { status: res.status, body: parsed };
}

describe('console API', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ env: { INFERBOX_WORKERS_COUNT: '1' } });
    await server.client.publishModel({ name: 'iris', files: [fixtureFile(IRIS_ONNX)] });
  });
  after(() => server.close());

  describe('GET /api/v1/deployments/{name}/stats', () => {
    it('counts calls and errors per function, with latency figures and the first and last call', async () => {
      const script = 'function label(args) { if (!args.ok) fail("not ok"); return "setosa"; }';
      const dep = await server.client.createDeployment({ deployment_name: 'iris-stats', model_name: 'iris', script });
      const empty = await call(server, 'GET', '/api/v1/deployments/iris-stats/stats');
      assert.equal(empty.status, 200);
      assert.deepEqual(empty.body.functions, []);
      assert.deepEqual(empty.body.sandboxes, { state: 'running', crashes: 0, replicas: 1 });

      for (let i = 0; i < 3; i++) assert.equal((await call(server, 'POST', '/api/v1/svc/iris-stats/predict', { args: { X } }, dep.access_token)).status, 200);
      assert.equal((await call(server, 'POST', '/api/v1/svc/iris-stats/label', { args: { ok: true } }, dep.access_token)).status, 200);
      assert.equal((await call(server, 'POST', '/api/v1/svc/iris-stats/label', { args: { ok: false } }, dep.access_token)).status, 422);
      assert.equal((await call(server, 'POST', '/api/v1/svc/iris-stats/predict', { args: { X: [{ float_input: [1, 2] }] } }, dep.access_token)).status, 422);
      // A function the script lacks is not counted: its name is the caller's choice.
      assert.equal((await call(server, 'POST', '/api/v1/svc/iris-stats/nope', { args: {} }, dep.access_token)).status, 404);

      const stats = await call(server, 'GET', '/api/v1/deployments/iris-stats/stats');
      assert.equal(stats.status, 200);
      assert.equal(stats.body.deployment_name, 'iris-stats');
      assert.ok(!Number.isNaN(Date.parse(stats.body.since)));
      const byName = Object.fromEntries(stats.body.functions.map((f: any) => [f.function, f]));
      assert.deepEqual(stats.body.functions.map((f: any) => f.function), ['predict', 'label'], 'most called first');
      assert.equal(byName.predict.count, 4);
      assert.equal(byName.predict.errors, 1);
      assert.equal(byName.label.count, 2);
      assert.equal(byName.label.errors, 1);
      for (const f of stats.body.functions) {
        const { avg, median, min, max } = f.latency_ms;
        assert.ok(min > 0 && min <= median && median <= max && min <= avg && avg <= max, JSON.stringify(f.latency_ms));
        assert.ok(Date.parse(f.first_call) <= Date.parse(f.last_call));
      }
      assert.deepEqual(Object.keys(byName).sort(), ['label', 'predict']);
    });

    it('starts from zero for a deployment deleted and created again, and says when there is no script', async () => {
      const first = await server.client.createDeployment({ deployment_name: 'iris-again', model_name: 'iris' });
      await call(server, 'POST', '/api/v1/svc/iris-again/predict', { args: { X } }, first.access_token);
      assert.equal((await call(server, 'GET', '/api/v1/deployments/iris-again/stats')).body.functions[0].count, 1);
      assert.equal((await call(server, 'DELETE', '/api/v1/deployments/iris-again')).status, 204);
      await server.client.createDeployment({ deployment_name: 'iris-again', model_name: 'iris' });
      const stats = await call(server, 'GET', '/api/v1/deployments/iris-again/stats');
      assert.deepEqual(stats.body.functions, []);
      assert.deepEqual(stats.body.sandboxes, { state: 'none', crashes: 0, replicas: 0 });
    });

    it('answers 404 DEPLOYMENT_NOT_FOUND for an unknown deployment and 401 without the admin token', async () => {
      const missing = await call(server, 'GET', '/api/v1/deployments/nobody/stats');
      assert.equal(missing.status, 404);
      assert.equal(missing.body.error.code, 'DEPLOYMENT_NOT_FOUND');
      assert.equal((await call(server, 'GET', '/api/v1/deployments/iris-stats/stats', undefined, 'wrong')).status, 401);
    });
  });

  describe('POST /api/v1/deployments/{name}/token', () => {
    it('mints a new token: the old one stops working, the new one predicts', async () => {
      const dep = await server.client.createDeployment({ deployment_name: 'iris-token', model_name: 'iris' });
      // Used before it is rotated: whatever the front keeps of a token seen must not outlive it.
      assert.equal((await call(server, 'POST', '/api/v1/svc/iris-token/predict', { args: { X } }, dep.access_token)).status, 200);
      const rotated = await call(server, 'POST', '/api/v1/deployments/iris-token/token');
      assert.equal(rotated.status, 200);
      assert.equal(rotated.body.deployment_name, 'iris-token');
      assert.match(rotated.body.access_token, /^ibx_svc_/);
      assert.notEqual(rotated.body.access_token, dep.access_token);
      const old = await call(server, 'POST', '/api/v1/svc/iris-token/predict', { args: { X } }, dep.access_token);
      assert.equal(old.status, 401);
      assert.equal(old.body.error.code, 'AUTH_INVALID_TOKEN');
      assert.equal((await call(server, 'POST', '/api/v1/svc/iris-token/predict', { args: { X } }, rotated.body.access_token)).status, 200);
      assert.equal((await call(server, 'POST', '/api/v1/deployments/iris-token/token', undefined, rotated.body.access_token)).status, 401, 'a service token cannot mint tokens');
      // Deleted, then created again under the same name: the token of the deleted one fails at once.
      await server.client.deleteDeployment('iris-token');
      const gone = await call(server, 'POST', '/api/v1/svc/iris-token/predict', { args: { X } }, rotated.body.access_token);
      assert.equal(gone.status, 401);
      assert.equal(gone.body.error.code, 'AUTH_INVALID_TOKEN');
      const again = await server.client.createDeployment({ deployment_name: 'iris-token', model_name: 'iris' });
      assert.equal((await call(server, 'POST', '/api/v1/svc/iris-token/predict', { args: { X } }, rotated.body.access_token)).status, 401);
      assert.equal((await call(server, 'POST', '/api/v1/svc/iris-token/predict', { args: { X } }, again.access_token)).status, 200);
    });
  });

  it('lists models with the size and source format of their latest version', async () => {
    const list = await call(server, 'GET', '/api/v1/models');
    const iris = list.body.find((m: any) => m.model_name === 'iris');
    const version = await call(server, 'GET', '/api/v1/models/iris/versions/latest');
    assert.equal(iris.size, version.body.size);
    assert.ok(iris.size > 0);
    assert.equal(iris.source_format, 'onnx');
  });

  describe('TypeScript scripts', () => {
    const TS = [
      'interface Args { X: { float_input: number[] }[] }',
      'type Scores = number[][];',
      'function prepare(args: Args): Args {',
      '  const first: number = args.X[0]!.float_input[0]!;',
      '  console.log(`first value ${first}`);',
      '  return args;',
      '}',
      'function postprocess(outputs: Scores[]) {',
      '  return outputs;',
      '}',
      'function boom(_args: unknown): never {',
      '  throw new Error("line eleven");',
      '}',
    ].join('\n');

    it('saves a script with type annotations, keeps the source as written, and runs it', async () => {
      const put = await call(server, 'PUT', '/api/v1/models/iris/versions/1/script', TS);
      assert.equal(put.status, 200, JSON.stringify(put.body));
      assert.deepEqual([...put.body.functions].sort(), ['boom', 'postprocess', 'prepare']);
      const saved = await call(server, 'GET', '/api/v1/models/iris/versions/1/script');
      assert.equal(saved.body, TS, 'the stored script is the TypeScript the user wrote');
      const run = await call(server, 'POST', '/api/v1/models/iris/versions/1/script/test', { args: { X } });
      assert.equal(run.status, 200, JSON.stringify(run.body));
      assert.deepEqual(run.body.stdout, ['first value 5.1']);
    });

    it("names the user's own line in a runtime error's stack (types stripped, lines kept)", async () => {
      const run = await call(server, 'POST', '/api/v1/models/iris/versions/1/script/test', { script: TS, function: 'boom', args: {} });
      assert.equal(run.status, 500);
      assert.equal(run.body.error.code, 'SCRIPT_FAILED');
      assert.match(JSON.stringify(run.body.error), /line eleven/);
      assert.match(run.body.error.details.stderr.join('\n'), /:12\b/, 'the throw is on line 12 of the TypeScript source');
    });

    it('refuses a script that does not parse with 422 SCRIPT_INVALID naming its line and column', async () => {
      const bad = 'function prepare(args: Args {\n  return args;\n}';
      const put = await call(server, 'PUT', '/api/v1/models/iris/versions/1/script', bad);
      assert.equal(put.status, 422);
      assert.equal(put.body.error.code, 'SCRIPT_INVALID');
      assert.match(put.body.error.message, /line 1, column 29/);
      assert.deepEqual(put.body.error.details, { line: 1, column: 29 });
      const test = await call(server, 'POST', '/api/v1/models/iris/versions/1/script/test', { script: bad, args: { X } });
      assert.equal(test.status, 422);
      assert.equal(test.body.error.code, 'SCRIPT_INVALID');
    });

    it('deploys a TypeScript script inline', async () => {
      const dep = await server.client.createDeployment({ deployment_name: 'iris-ts', model_name: 'iris', script: TS });
      const out = await call(server, 'POST', '/api/v1/svc/iris-ts/predict?debug=true', { args: { X } }, dep.access_token);
      assert.equal(out.status, 200, JSON.stringify(out.body));
      assert.deepEqual(out.body.stdout, ['first value 5.1']);
    });
  });
});
