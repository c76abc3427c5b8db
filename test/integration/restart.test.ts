import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { InferboxClient, type ApiError } from '../../src/client/index.js';
import { fixtureFile, IRIS_ONNX, assertSetosa } from '../helpers/fixtures.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { REGRESSION_H5 } from '../helpers/tfjs-fixtures.js';

/**
 * One data directory, two lifetimes of the server (two starts, not four: each start spawns its
 * workers): the first generates the admin token and is given models and deployments; the second,
 * started on the same directory, must know them all and take the same tokens.
 */
describe('state survives a restart', () => {
  const env = { INFERBOX_WORKERS_COUNT: '1', INFERBOX_ADMIN_TOKEN: '' };
  const printed: string[] = [];
  const announce = (line: string) => printed.push(line);
  let dataDir = '';
  let first: TestServer | undefined;
  let second: TestServer | undefined;
  let adminToken = '';

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'inferbox-restart-'));
  });
  after(async () => {
    await first?.close();
    await second?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('generates the admin token on first start and prints it once', async () => {
    first = await startTestServer({ dataDir, env, announce });
    assert.equal(printed.length, 1);
    adminToken = /(ibx_admin_[A-Za-z0-9_-]+)/.exec(printed[0]!)?.[1] ?? '';
    assert.ok(adminToken, 'the announcement shows the token');
    assert.deepEqual(await new InferboxClient({ baseUrl: first.url, token: adminToken }).listModels(), []);
  });

  it('keeps every model and deployment working, with the same tokens', async () => {
    assert.ok(first, 'the first server started');
    const admin = new InferboxClient({ baseUrl: first.url, token: adminToken });
    await admin.publishModel({ name: 'iris', files: [fixtureFile(IRIS_ONNX)], xTest: [{ float_input: [5.1, 3.5, 1.4, 0.2] }] });
    await admin.publishModel({ name: 'iris', files: [fixtureFile(IRIS_ONNX)] });
    const dep = await admin.createDeployment({ deployment_name: 'iris-svc', model_name: 'iris', model_version: 1 });
    // A Keras upload: its version folder holds the upload in a subfolder beside the converted files.
    await admin.publishModel({ name: 'regression', files: [{ name: 'network.h5', data: await readFile(REGRESSION_H5) }] });
    const kerasDep = await admin.createDeployment({ deployment_name: 'regression-svc', model_name: 'regression' });
    await first.close();
    first = undefined;

    second = await startTestServer({ dataDir, env, announce });
    const again = new InferboxClient({ baseUrl: second.url, token: adminToken });
    assert.deepEqual((await again.getModel('iris')).versions.map((v) => v.model_version), ['1', '2']);
    assert.deepEqual((await again.getVersion('iris', 1)).sample, { float_input: [5.1, 3.5, 1.4, 0.2] });
    const d = await again.getDeployment('iris-svc');
    assert.equal(d.model_version, '1');
    const out = await again.withToken(dep.access_token).predict('iris-svc', dep.payload.args);
    assertSetosa(out.result);
    const y = await again.withToken(kerasDep.access_token).predict('regression-svc', { X: [{ dense_7_input: [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6] }] });
    const [value] = (y.result as { dense_9: number[] }[])[0]!.dense_9;
    assert.ok(Math.abs(value! - 0.7136) <= 1e-4, `y = ${value}`);
    await assert.rejects(again.withToken('ibx_svc_other').predict('iris-svc', dep.payload.args), (e: ApiError) => e.status === 401);
  });

  it('accepts the generated admin token after the restart without printing it again', async () => {
    assert.ok(second, 'the second server started');
    assert.equal(printed.length, 1, 'not printed again');
    const admin = new InferboxClient({ baseUrl: second.url, token: adminToken });
    assert.deepEqual((await admin.listModels()).map((m) => m.model_name).sort(), ['iris', 'regression']);
    await assert.rejects(new InferboxClient({ baseUrl: second.url, token: 'ibx_admin_guess' }).listModels(), (e: ApiError) => e.status === 401);
  });
});
