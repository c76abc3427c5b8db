import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ApiError, type InferboxClient } from '../../src/client/index.js';
import { fixtureFile, IRIS_ONNX, assertSetosa } from '../helpers/fixtures.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

// Moved from test/integration/hostile-scripts.test.ts: a crash loop (each crash costs a worker and
// seconds of a V8 heap running out), for `npm run test:soak`.

const IRIS_ARGS = { X: [{ float_input: [5.1, 3.5, 1.4, 0.2] }] };

describe('a script that keeps crashing its worker', () => {
  let server: TestServer;
  let bystander: InferboxClient;

  before(async () => {
    server = await startTestServer({ env: { INFERBOX_WORKERS_COUNT: '1' } });
    await server.client.publishModel({ name: 'iris', files: [fixtureFile(IRIS_ONNX)] });
    const dep = await server.client.createDeployment({ deployment_name: 'bystander', model_name: 'iris', script: 'function postprocess([l]) { return { label: l[0] }; }' });
    bystander = server.client.withToken(dep.access_token);
  });
  after(() => server.close());

  async function expectError(call: Promise<unknown>, code: string): Promise<ApiError> {
    const err = await call.then(
      () => assert.fail(`expected ${code}`),
      (e: unknown) => e as ApiError,
    );
    assert.ok(err instanceof ApiError, String(err));
    assert.equal(err.code, code, err.message);
    return err;
  }

  async function assertHealthy() {
    assert.deepEqual((await bystander.predict('bystander', IRIS_ARGS)).result, [{ label: 0 }]);
    assert.equal((await fetch(`${server.url}/readyz`)).status, 200);
  }

  it('one huge allocation takes its worker down: 503 SCRIPT_CRASHED, then SCRIPT_QUARANTINED after two crashes', async () => {
    const dep = await server.client.createDeployment({ deployment_name: 'crasher', model_name: 'iris', script: 'function prepare(a) { new Array(1e8).fill(0); return a; }', timeout_ms: 10_000, memory_limit_mb: 64 });
    const svc = server.client.withToken(dep.access_token);
    assert.equal((await expectError(svc.predict('crasher', IRIS_ARGS), 'SCRIPT_CRASHED')).status, 503);
    await assertHealthy();
    await expectError(svc.predict('crasher', IRIS_ARGS), 'SCRIPT_CRASHED');
    await expectError(svc.predict('crasher', IRIS_ARGS), 'SCRIPT_QUARANTINED');
    await assertHealthy();
    // A changed script lifts the quarantine.
    await server.client.patchDeployment('crasher', { script: 'function prepare(a) { return a; }' });
    assertSetosa((await svc.predict('crasher', IRIS_ARGS)).result);
  });
});
