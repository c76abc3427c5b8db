import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ApiError } from '../../src/client/index.js';
import { assertSetosa, fixtureFile, IRIS_ONNX, MNIST_ONNX } from '../helpers/fixtures.js';
import { sharedPostgres } from '../helpers/postgres.js';
import { spawnServer, type LogLine, type ServerProcess } from '../helpers/server-process.js';

/**
 * Three real server processes (as `npm start` runs them) on one PostgreSQL database, each on its
 * own port and data directory (its artifact cache). What one instance changes, the others serve:
 * each waits by polling for the answer, never for a time, and the log shows that the change came
 * by notification.
 */
const postgres = await sharedPostgres();
const ADMIN = 'ibx_admin_multi_instance_test';
const IRIS_X = [{ float_input: [5.1, 3.5, 1.4, 0.2] }];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Retries `probe` until it resolves; the last error when it never does within a generous bound. */
async function eventually<T>(what: string, probe: () => Promise<T>): Promise<T> {
  let last: unknown;
  for (let i = 0; i < 1200; i++) {
    try {
      return await probe();
    } catch (err) {
      last = err;
      await sleep(50);
    }
  }
  throw new Error(`${what} never happened; last: ${(last as Error)?.message ?? String(last)}`);
}

const heard = (kind: string, name: string, via = 'notification') => (l: LogLine) =>
  l.msg === 'store change from another instance' && l.kind === kind && l.name === name && l.via === via;

function isApiError(status: number, code: string) {
  return (err: unknown) => err instanceof ApiError && err.status === status && err.code === code;
}

describe('three instances on one PostgreSQL database (#17)', { skip: postgres.reason ?? false }, () => {
  let a: ServerProcess;
  let b: ServerProcess;
  let c: ServerProcess;
  const dirs: string[] = [];
  let svcToken = '';

  before(async () => {
    const url = await postgres.server!.createDatabase();
    const start = async () => {
      const dataDir = await mkdtemp(join(tmpdir(), 'inferbox-multi-'));
      dirs.push(dataDir);
      return spawnServer({ dataDir, adminToken: ADMIN, args: ['--workers-count', '1'], env: { INFERBOX_DATABASE_URL: url } });
    };
    // Started together: the migrations run once, under the advisory lock.
    [a, b, c] = await Promise.all([start(), start(), start()]);
  });

  after(async () => {
    await Promise.all([a, b, c].map((s) => s?.stop()));
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  it('listen on different ports', () => {
    assert.equal(new Set([a.url, b.url, c.url]).size, 3);
  });

  it('publish on A, deploy on B, predict on C: C serves it, told by notification', async () => {
    const published = await a.client.publish(fixtureFile(IRIS_ONNX), { name: 'iris' });
    assert.equal(published.model_version, '1');
    const created = await b.client.createDeployment({ deployment_name: 'svc', model_name: 'iris' });
    svcToken = created.access_token;
    const out = await eventually('C answering svc', () => c.client.predict('svc', { X: IRIS_X }, { token: svcToken }));
    assertSetosa(out.result);
    await c.waitForLine(heard('deployment', 'svc'));
    await c.waitForLine(heard('model', 'iris'));
    // C had never seen the file: it fetched it from the database into its own cache.
    await c.waitForLine((l) => l.msg === 'fetched a model version from the database into the cache' && l.model === 'iris' && l.version === 1);
  });

  it('a version switch on C is served by A and B', async () => {
    // Version 2 of "iris" is another model (MNIST), so which version answers shows in the answer.
    assert.equal((await b.client.publish(fixtureFile(MNIST_ONNX), { name: 'iris' })).model_version, '2');
    // C learns of version 2 by notification; a PATCH naming it before then would be MODEL_NOT_FOUND.
    const digits = (await eventually('C to know version 2', () => c.client.testEndpoint('iris', 2))).payload.args.X;
    // Before the switch, A serves version 1 (iris), which refuses the digits' input.
    await eventually('A serving svc', () => a.client.predict('svc', { X: IRIS_X }, { token: svcToken }));
    await assert.rejects(a.client.predict('svc', { X: digits }, { token: svcToken }), (e: unknown) => e instanceof ApiError && e.status === 422);
    const view = await c.client.patchDeployment('svc', { model_version: 2 });
    assert.equal(view.model_version, '2');
    for (const server of [a, b]) {
      const out = await eventually('the switch served', () => server.client.predict('svc', { X: digits }, { token: svcToken }));
      assert.equal((out.result as unknown[]).length, 1);
      assert.equal((await server.client.getDeployment('svc')).model_version, '2');
      await server.waitForLine(heard('deployment', 'svc'));
    }
  });

  it('a script change on C is served by A and B', async () => {
    await c.client.patchDeployment('svc', { script: "function postprocess(record) { return { script: 'C' }; }" });
    const digits = (await c.client.testEndpoint('iris', 2)).payload.args.X;
    for (const server of [a, b]) {
      await eventually('the script served', async () => {
        const out = await server.client.predict('svc', { X: digits }, { token: svcToken });
        assert.deepEqual(out.result, [{ script: 'C' }]);
      });
    }
  });

  it('a deployment deleted on A answers 404 on B and C', async () => {
    await a.client.deleteDeployment('svc');
    for (const server of [b, c]) {
      await eventually('B and C to drop svc', async () => {
        await assert.rejects(server.client.predict('svc', { X: IRIS_X }), isApiError(404, 'DEPLOYMENT_NOT_FOUND'));
      });
      await assert.rejects(server.client.getDeployment('svc'), isApiError(404, 'DEPLOYMENT_NOT_FOUND'));
      // Its token is refused too: nothing of it is left.
      await assert.rejects(server.client.predict('svc', { X: IRIS_X }, { token: svcToken }), isApiError(401, 'AUTH_INVALID_TOKEN'));
    }
  });

  it('two instances publishing one name at once get distinct versions', async () => {
    const file = fixtureFile(IRIS_ONNX);
    const answers = await Promise.all([a, b, a, b].map((s) => s.client.publish(file, { name: 'race' })));
    assert.deepEqual(answers.map((x) => Number(x.model_version)).sort((x, y) => x - y), [1, 2, 3, 4]);
    await eventually('C to list all four', async () => {
      assert.deepEqual((await c.client.getModel('race')).versions.map((v) => v.model_version), ['1', '2', '3', '4']);
    });
  });

  it('kill -9 of one instance under load leaves the others serving with no failed request', async () => {
    const { access_token: token } = await a.client.createDeployment({ deployment_name: 'load', model_name: 'iris', model_version: 1 });
    for (const server of [b, c]) await eventually('load served', () => server.client.predict('load', { X: IRIS_X }, { token }));
    let stop = false;
    const tally = new Map<ServerProcess, { ok: number; failed: unknown[] }>([a, b, c].map((s) => [s, { ok: 0, failed: [] }]));
    const loop = async (server: ServerProcess) => {
      const t = tally.get(server)!;
      while (!stop) {
        try {
          assertSetosa((await server.client.predict('load', { X: IRIS_X }, { token })).result);
          t.ok++;
        } catch (err) {
          t.failed.push(err);
          if (server === a) await sleep(20);
        }
      }
    };
    const loops = [a, a, b, b, b, c, c, c].map(loop);
    const okOn = (s: ServerProcess) => tally.get(s)!.ok;
    while (okOn(a) < 10 || okOn(b) < 20 || okOn(c) < 20) await sleep(20);
    await a.kill9();
    const [afterB, afterC] = [okOn(b), okOn(c)];
    while (okOn(b) < afterB + 50 || okOn(c) < afterC + 50) await sleep(20);
    stop = true;
    await Promise.all(loops);
    assert.deepEqual(tally.get(b)!.failed, [], 'no request failed on B');
    assert.deepEqual(tally.get(c)!.failed, [], 'no request failed on C');
    assert.ok(tally.get(a)!.failed.length > 0 || okOn(a) > 0);
  });

  it('a database restart: 503 STORE_UNAVAILABLE for what needs it, predictions from memory, then recovery', async () => {
    postgres.server!.stop();
    try {
      await assert.rejects(b.client.createDeployment({ deployment_name: 'during', model_name: 'iris', model_version: 1 }), isApiError(503, 'STORE_UNAVAILABLE'));
      await assert.rejects(c.client.getScript('iris', 1), isApiError(503, 'STORE_UNAVAILABLE'));
      // Loaded deployments keep answering from memory (the admin token works on every deployment).
      assertSetosa((await b.client.predict('load', { X: IRIS_X })).result);
      assertSetosa((await c.client.predict('load', { X: IRIS_X })).result);
      assert.deepEqual((await c.client.listDeployments()).map((d) => d.deployment_name), ['load']);
    } finally {
      postgres.server!.start();
    }
    const created = await eventually('B to deploy again', () => b.client.createDeployment({ deployment_name: 'after', model_name: 'iris', model_version: 1 }));
    const out = await eventually('C to serve what B deployed after the restart', () => c.client.predict('after', { X: IRIS_X }, { token: created.access_token }));
    assertSetosa(out.result);
    for (const server of [b, c]) await server.waitForLine((l) => l.msg === 'reconnected to the database; reloaded the store');
  });
});
