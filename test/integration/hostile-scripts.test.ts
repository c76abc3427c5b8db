import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ApiError, type InferboxClient } from '../../src/client/index.js';
import { fixtureFile, IRIS_ONNX, assertSetosa } from '../helpers/fixtures.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

/** The time limit of the scripts that run into it: short, so each stop costs little. */
const TIMEOUT_MS = 200;
/** The time limit of the others: roomy, so a loaded machine never makes them meet it. */
const ROOMY_TIMEOUT_MS = 5000;
const IRIS_ARGS = { X: [{ float_input: [5.1, 3.5, 1.4, 0.2] }] };

/**
 * Hostile scripts on real isolates behind the real server. After each one the server still answers
 * and a bystander deployment still predicts. How soon a limit answers is a timing, measured by
 * test/bench/sandbox-limits.ts, not asserted here.
 */
describe('hostile scripts get their error code and leave the server healthy', () => {
  let server: TestServer;
  let bystander: InferboxClient;
  let n = 0;

  before(async () => {
    // Inline scripts under test get the server's default limits: 64 MB makes the crash below come
    // sooner (fill() cannot be interrupted, so the time limit never races it).
    server = await startTestServer({ env: { INFERBOX_WORKERS_COUNT: '1', INFERBOX_SANDBOX_MEMORY_LIMIT_MB: '64' } });
    await server.client.publishModel({ name: 'iris', files: [fixtureFile(IRIS_ONNX)] });
    const dep = await server.client.createDeployment({ deployment_name: 'bystander', model_name: 'iris', script: 'function postprocess([l]) { return { label: l[0], polluted: ({}).polluted ?? null }; }' });
    bystander = server.client.withToken(dep.access_token);
  });
  after(() => server.close());

  async function deploy(script: string, limits: { timeout_ms?: number; memory_limit_mb?: number } = {}) {
    const name = `hostile-${++n}`;
    const dep = await server.client.createDeployment({ deployment_name: name, model_name: 'iris', script, timeout_ms: ROOMY_TIMEOUT_MS, memory_limit_mb: 64, ...limits });
    return { name, svc: server.client.withToken(dep.access_token) };
  }

  async function expectError(call: Promise<unknown>, code: string, message?: string): Promise<ApiError> {
    const err = await call.then(
      () => assert.fail(`expected ${code}`),
      (e: unknown) => e as ApiError,
    );
    assert.ok(err instanceof ApiError, String(err));
    assert.equal(err.code, code, err.message);
    if (message !== undefined) assert.equal(err.message, message);
    return err;
  }

  /** The message of a call stopped by the deployment's time limit. */
  const timedOut = (what: string) => `${what} ran past its ${TIMEOUT_MS} ms time limit`;

  async function assertHealthy() {
    const out = await bystander.predict('bystander', IRIS_ARGS);
    assert.deepEqual(out.result, [{ label: 0, polluted: null }]);
    assert.equal((await fetch(`${server.url}/readyz`)).status, 200);
  }

  it('for(;;){} -> 504 SCRIPT_TIMEOUT, and the next call works on a fresh sandbox', async () => {
    const { name, svc } = await deploy('function prepare(a) { if (a.hang) for (;;) {} return a; }', { timeout_ms: TIMEOUT_MS });
    const err = await expectError(svc.predict(name, { ...IRIS_ARGS, hang: true }), 'SCRIPT_TIMEOUT', timedOut('prepare()'));
    assert.equal(err.status, 504);
    assertSetosa((await svc.predict(name, IRIS_ARGS)).result);
    await assertHealthy();
  });

  it('an awaited promise that never settles -> 504 SCRIPT_TIMEOUT', async () => {
    const { name, svc } = await deploy('async function prepare(a) { await new Promise(() => {}); return a; }', { timeout_ms: TIMEOUT_MS });
    await expectError(svc.predict(name, IRIS_ARGS), 'SCRIPT_TIMEOUT', timedOut('prepare()'));
    await assertHealthy();
  });

  it('a microtask loop -> 504 SCRIPT_TIMEOUT', async () => {
    const { name, svc } = await deploy('async function prepare(a) { for (;;) await null; }', { timeout_ms: TIMEOUT_MS });
    await expectError(svc.predict(name, IRIS_ARGS), 'SCRIPT_TIMEOUT', timedOut('prepare()'));
    await assertHealthy();
  });

  it('unbounded allocation -> 503 SCRIPT_MEMORY_LIMIT, then the sandbox is rebuilt', async () => {
    const { name, svc } = await deploy('function prepare(a) { if (a.grow) { const keep = []; for (;;) keep.push(new Array(10000).fill(keep.length)); } return a; }', { timeout_ms: 5000 });
    await expectError(svc.predict(name, { ...IRIS_ARGS, grow: true }), 'SCRIPT_MEMORY_LIMIT');
    assertSetosa((await svc.predict(name, IRIS_ARGS)).result);
    await assertHealthy();
  });

  it('deep recursion -> 500 SCRIPT_FAILED (RangeError), not a crash', async () => {
    const { name, svc } = await deploy('function f(n) { return f(n + 1) + 1; }\nfunction prepare(a) { return f(0); }');
    const err = await expectError(svc.predict(name, IRIS_ARGS), 'SCRIPT_FAILED');
    assert.equal(err.status, 500);
    assert.match(err.message, /call stack/i);
    await assertHealthy();
  });

  it('a 10 MB log flood is cut at the per-request cap with a marker', async () => {
    const { name, svc } = await deploy('function postprocess(o) { const line = "x".repeat(1000); for (let i = 0; i < 10000; i++) console.log(line); return o; }', { timeout_ms: 5000 });
    const out = await svc.predict(name, IRIS_ARGS, { debug: true });
    const stdout = out.stdout!;
    assert.ok(stdout.length <= 1001, `${stdout.length} lines`);
    assert.ok(stdout.join('\n').length <= 300 * 1024);
    assert.match(stdout.at(-1)!, /truncated/);
    await assertHealthy();
  });

  it('cannot reach process, require or the host through constructor chains', async () => {
    const { name, svc } = await deploy(`
      function probe() {
        const found = {};
        const tries = {
          process: () => typeof process,
          require: () => typeof require,
          Buffer: () => typeof Buffer,
          fnCtor: () => typeof (function () {}).constructor('return this')().process,
          asyncCtor: () => typeof (async function () {}).constructor,
          viaError: () => { try { null.x } catch (e) { return e.constructor.constructor('return typeof process')() } },
          globals: () => Object.getOwnPropertyNames(globalThis).filter((k) => /^(_?ivm|Reference|ExternalCopy|Callback|Isolate|Context)$/.test(k)).join(','),
        };
        for (const [k, f] of Object.entries(tries)) { try { found[k] = String(f()); } catch (e) { found[k] = 'threw'; } }
        return found;
      }`);
    const found = (await svc.predict(name, {}, { fn: 'probe' })).result as Record<string, string>;
    assert.equal(found.process, 'undefined');
    assert.equal(found.require, 'undefined');
    assert.equal(found.Buffer, 'undefined');
    assert.equal(found.fnCtor, 'undefined');
    assert.equal(found.viaError, 'undefined');
    assert.equal(found.globals, '', 'no isolated-vm objects are reachable');
    await assertHealthy();
  });

  it('Object.prototype pollution stays inside its own sandbox', async () => {
    const { name, svc } = await deploy('Object.prototype.polluted = "yes"; Array.prototype.map = () => "hijacked"; function poke() { return ({}).polluted; }');
    assert.equal((await svc.predict(name, {}, { fn: 'poke' })).result, 'yes');
    await assertHealthy();
  });

  it('a thrown object whose toString and message getter loop forever -> 504 SCRIPT_TIMEOUT (its message getter runs under the limit)', async () => {
    const { name, svc } = await deploy('function prepare(a) { throw { toString() { for (;;) {} }, get message() { for (;;) {} } }; }', { timeout_ms: TIMEOUT_MS });
    await expectError(svc.predict(name, IRIS_ARGS), 'SCRIPT_TIMEOUT', timedOut('prepare()'));
    await assertHealthy();
  });

  it('an inline script under test that crashes costs only the scratch worker', async () => {
    const before = server.workers.workerInfo().filter((w) => w.role === 'serving').map((w) => w.pid);
    const res = await fetch(`${server.url}/api/v1/models/iris/versions/1/script/test`, {
      method: 'POST',
      headers: { authorization: 'Bearer test-admin-token', 'content-type': 'application/json' },
      // One crash (the crash loop that ends in SCRIPT_QUARANTINED is in test/soak/crash-loop.test.ts).
      body: JSON.stringify({ script: '// under test\nfunction prepare(a) { new Array(1e8).fill(0); return a; }', args: IRIS_ARGS }),
    });
    assert.equal(res.status, 503);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'SCRIPT_CRASHED');
    assert.deepEqual(server.workers.workerInfo().filter((w) => w.role === 'serving').map((w) => w.pid), before);
    await assertHealthy();
  });
});
