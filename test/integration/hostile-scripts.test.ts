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
    // sooner, and a roomy time limit lets its fill() (which cannot be interrupted) end in the memory
    // limit however slow the machine, never in the host's watchdog. Deployments here set their own.
    server = await startTestServer({ env: { INFERBOX_WORKERS_COUNT: '1', INFERBOX_SANDBOX_MEMORY_LIMIT_MB: '64', INFERBOX_SANDBOX_TIMEOUT_MS: String(ROOMY_TIMEOUT_MS) } });
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

  const servingPids = () => server.workers.workerInfo().filter((w) => w.role === 'serving').map((w) => w.pid);

  it('Object.prototype.then aimed at the sandbox plumbing: the calls still answer real results, and no worker exits (#14)', async () => {
    const before = servingPids();
    // A then only on the prelude's envelopes (they carry "kind"), answering text that is not JSON.
    const { name, svc } = await deploy(`
      Object.defineProperty(Object.prototype, 'then', { configurable: true, get() { return 'kind' in this ? (resolve) => resolve('not json{') : undefined } });
      async function prepare(a) { console.log('prepared'); return a; }
      async function probe() { console.log('probed'); return { fine: true }; }
      async function postprocess([label]) { return { label: label[0] }; }`);
    for (let i = 0; i < 3; i++) assert.deepEqual((await svc.predict(name, IRIS_ARGS)).result, [{ label: 0 }]);
    assert.deepEqual((await svc.predict(name, {}, { fn: 'probe' })).result, { fine: true });
    assert.deepEqual(servingPids(), before, 'the serving workers are the same processes');
    await assertHealthy();
  });

  it('a cyclic result -> 500 SCRIPT_FAILED naming the path of the cycle (#14)', async () => {
    const { name, svc } = await deploy(`
      function postprocess([label]) { const o = { label }; o.self = o; return o; }
      function loop() { const list = [1, { inner: [] }]; list[1].inner.push(list); return list; }`);
    const err = await expectError(svc.predict(name, IRIS_ARGS), 'SCRIPT_FAILED');
    assert.equal(err.status, 500);
    assert.match(err.message, /^postprocess\(\) returned a cyclic value at result\[0\]\.self\b/);
    const other = await expectError(svc.predict(name, {}, { fn: 'loop' }), 'SCRIPT_FAILED');
    assert.match(other.message, /^loop\(\) returned a cyclic value at result\[1\]\.inner\[0\]/);
    await assertHealthy();
  });

  it('memory kept in a global -> 503 SCRIPT_MEMORY_LIMIT once, then a rebuilt sandbox answers, on the same worker (#14)', async () => {
    const before = servingPids();
    const { name, svc } = await deploy(`
      let keep = [];
      function prepare(a) { if (a.typed) keep.push(new Float32Array(1e6)); else keep.push(new Array(1e6).fill(1)); return a; }
      function held() { return keep.length; }`, { memory_limit_mb: 32 });
    for (const typed of [true, false]) {
      let err: ApiError | undefined;
      for (let i = 0; i < 50 && err === undefined; i++) {
        err = await svc.predict(name, { ...IRIS_ARGS, typed }).then(() => undefined, (e: unknown) => e as ApiError);
      }
      assert.ok(err instanceof ApiError, `typed=${typed}: the limit was never reached`);
      assert.equal(err.code, 'SCRIPT_MEMORY_LIMIT', `typed=${typed}: ${err.message}`);
      assert.equal(err.status, 503);
      assert.equal(err.message, 'prepare() reached the sandbox memory limit of 32 MB');
      assert.equal((await svc.predict(name, {}, { fn: 'held' })).result, 0, 'a new isolate: the global is gone');
      assertSetosa((await svc.predict(name, { ...IRIS_ARGS, typed })).result);
    }
    assert.deepEqual(servingPids(), before, 'the serving workers are the same processes');
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
