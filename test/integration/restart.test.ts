import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { InferboxClient, type ApiError } from '../../src/client/index.js';
import { fixtureFile, IRIS_ONNX, assertSetosa } from '../helpers/fixtures.js';
import { startTestServer } from '../helpers/server.js';
import { REGRESSION_H5 } from '../helpers/tfjs-fixtures.js';

const ONE_WORKER = { INFERBOX_WORKERS_COUNT: '1' };

describe('state survives a restart', () => {
  const dirs: string[] = [];
  after(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

  it('keeps every model and deployment working, with the same tokens', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'inferbox-restart-'));
    dirs.push(dataDir);
    const first = await startTestServer({ dataDir, env: ONE_WORKER });
    await first.client.publishModel({ name: 'iris', files: [fixtureFile(IRIS_ONNX)], xTest: [{ float_input: [5.1, 3.5, 1.4, 0.2] }] });
    await first.client.publishModel({ name: 'iris', files: [fixtureFile(IRIS_ONNX)] });
    const dep = await first.client.createDeployment({ deployment_name: 'iris-svc', model_name: 'iris', model_version: 1 });
    // A Keras upload: its version folder holds the upload in a subfolder beside the converted files.
    await first.client.publishModel({ name: 'regression', files: [{ name: 'network.h5', data: await readFile(REGRESSION_H5) }] });
    const kerasDep = await first.client.createDeployment({ deployment_name: 'regression-svc', model_name: 'regression' });
    await first.close();

    const second = await startTestServer({ dataDir, env: ONE_WORKER });
    try {
      assert.deepEqual((await second.client.getModel('iris')).versions.map((v) => v.model_version), ['1', '2']);
      assert.deepEqual((await second.client.getVersion('iris', 1)).sample, { float_input: [5.1, 3.5, 1.4, 0.2] });
      const d = await second.client.getDeployment('iris-svc');
      assert.equal(d.model_version, '1');
      const out = await second.client.withToken(dep.access_token).predict('iris-svc', dep.payload.args);
      assertSetosa(out.result);
      const y = await second.client.withToken(kerasDep.access_token).predict('regression-svc', { X: [{ dense_7_input: [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6] }] });
      const [value] = (y.result as { dense_9: number[] }[])[0]!.dense_9;
      assert.ok(Math.abs(value! - 0.7136) <= 1e-4, `y = ${value}`);
      await assert.rejects(second.client.withToken('ibx_svc_other').predict('iris-svc', dep.payload.args), (e: ApiError) => e.status === 401);
    } finally {
      await second.close();
    }
  });

  it('generates the admin token on first start, prints it once, and accepts it after a restart', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'inferbox-admin-'));
    dirs.push(dataDir);
    const printed: string[] = [];
    const first = await startTestServer({ dataDir, env: { ...ONE_WORKER, INFERBOX_ADMIN_TOKEN: '' }, announce: (l) => printed.push(l) });
    await first.close();
    assert.equal(printed.length, 1);
    const token = /(ibx_admin_[A-Za-z0-9_-]+)/.exec(printed[0]!)?.[1];
    assert.ok(token, 'the announcement shows the token');

    const second = await startTestServer({ dataDir, env: { ...ONE_WORKER, INFERBOX_ADMIN_TOKEN: '' }, announce: (l) => printed.push(l) });
    try {
      assert.equal(printed.length, 1, 'not printed again');
      const admin = new InferboxClient({ baseUrl: second.url, token });
      assert.deepEqual(await admin.listModels(), []);
      await assert.rejects(new InferboxClient({ baseUrl: second.url, token: 'ibx_admin_guess' }).listModels(), (e: ApiError) => e.status === 401);
    } finally {
      await second.close();
    }
  });
});
