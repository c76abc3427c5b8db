import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiError, type InferboxClient } from '../../src/client/index.js';
import { assertSetosa, fixtureFile, IRIS_ONNX } from '../helpers/fixtures.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const IRIS_ARGS = { X: [{ float_input: [5.1, 3.5, 1.4, 0.2] }] };
/** The hostile deployments' time limit: short, so each stop costs little. */
const TIMEOUT_MS = 200;

interface WorkerInfo {
  index: number;
  role: string;
  pid: number | null;
  ready: boolean;
  restarts: number;
}

/**
 * Hostile scripts on one deployment while another serves under load (#14). What is asserted is the
 * healthy deployment's error count (zero) and the codes the hostile calls get, never a latency:
 * how much the neighbours slow it is measured by `npm run bench` (noisy neighbour).
 */
describe('a healthy deployment under load beside hostile scripts (#14)', () => {
  let server: TestServer;
  let healthy: InferboxClient;

  before(async () => {
    server = await startTestServer({ env: { INFERBOX_WORKERS_COUNT: '2' } });
    await server.client.publishModel({ name: 'iris', files: [fixtureFile(IRIS_ONNX)] });
    const dep = await server.client.createDeployment({ deployment_name: 'healthy', model_name: 'iris', replicas: 2 });
    healthy = server.client.withToken(dep.access_token);
  });
  after(() => server.close());

  async function hostile(name: string, script: string, timeoutMs = TIMEOUT_MS): Promise<InferboxClient> {
    const dep = await server.client.createDeployment({ deployment_name: name, model_name: 'iris', script, timeout_ms: timeoutMs, replicas: 2 });
    return server.client.withToken(dep.access_token);
  }

  /** Calls `healthy` from `connections` loops until `stop` resolves; answers each call's outcome. */
  async function load(connections: number, stop: Promise<unknown>): Promise<{ ok: number; errors: string[] }> {
    let done = false;
    void stop.finally(() => (done = true));
    const outcome = { ok: 0, errors: [] as string[] };
    await Promise.all(
      Array.from({ length: connections }, async () => {
        while (!done) {
          try {
            const out = await healthy.predict('healthy', IRIS_ARGS);
            assertSetosa(out.result);
            outcome.ok++;
          } catch (err) {
            outcome.errors.push(err instanceof ApiError ? `${err.status} ${err.code}: ${err.message}` : String(err));
          }
        }
      }),
    );
    return outcome;
  }

  async function codeOf(call: Promise<unknown>): Promise<string> {
    return call.then(
      () => 'ok',
      (err: unknown) => (err instanceof ApiError ? `${err.status} ${err.code}` : String(err)),
    );
  }

  async function workers(): Promise<WorkerInfo[]> {
    const body = (await (await fetch(`${server.url}/healthz`)).json()) as { workers: WorkerInfo[] };
    return body.workers.filter((w) => w.role === 'serving');
  }

  it('spinning scripts on both workers: each spin gets 504 SCRIPT_TIMEOUT, the healthy deployment no error', async () => {
    const spinner = await hostile('spinner', 'function prepare(args) { for (;;) {} }');
    const spins = Promise.all(Array.from({ length: 6 }, () => codeOf(spinner.predict('spinner', IRIS_ARGS))));
    const outcome = await load(4, spins);
    assert.deepEqual(await spins, Array(6).fill('504 SCRIPT_TIMEOUT'));
    assert.deepEqual(outcome.errors, []);
    assert.ok(outcome.ok > 0, 'the healthy deployment answered while the spins ran');
  });

  it('a script firing 50,000 model.run without awaiting: refused inside its sandbox, the healthy deployment no error', async () => {
    // A roomy time limit: making 50,000 refusals takes the script a while, and this is about the cap.
    const flood = await hostile('flood', 'function prepare(args) { for (let i = 0; i < 50000; i++) model.run({ float_input: [[1, 2, 3, 4]] }); return args }', 10_000);
    const floods = Promise.all(Array.from({ length: 4 }, () => flood.predict('flood', IRIS_ARGS).then(() => 'ok', (err: ApiError) => `${err.status} ${err.code} ${err.message}`)));
    const outcome = await load(4, floods);
    for (const answer of await floods) {
      assert.match(answer, /^500 SCRIPT_FAILED model\.run\(\): 64 calls are already in flight in this sandbox/);
    }
    assert.deepEqual(outcome.errors, []);
  });

  it('an isolate that does not stop when disposed: 504 for its call, its worker replaced once idle, the healthy deployment no error', async () => {
    const before = await workers();
    // isolated-vm reads an unhandled rejection's properties after the time limit stopped watching;
    // a looping get trap survives the dispose (see STUCK_AFTER_MS in src/worker/sandbox-host/sandbox.ts).
    const stuck = await hostile('stuck', 'function prepare(args) { Promise.reject(new Proxy({}, { get() { for (;;) {} } })); return args }');
    const call = codeOf(stuck.predict('stuck', IRIS_ARGS));
    const outcome = await load(4, call);
    assert.equal(await call, '504 SCRIPT_TIMEOUT');
    // The worker asks to be replaced, finishes what it has in flight, then is restarted: wait for it
    // (bounded only so that a regression fails instead of hanging).
    let now = await workers();
    for (let i = 0; i < 300 && !(now.some((w, k) => w.restarts > before[k]!.restarts) && now.every((w) => w.ready)); i++) {
      await sleep(100);
      now = await workers();
    }
    assert.equal(now.filter((w, k) => w.restarts > before[k]!.restarts).length, 1, 'one worker was replaced');
    assert.ok(now.every((w) => w.ready));
    assert.deepEqual(outcome.errors, []);
    const after = await load(2, healthy.predict('healthy', IRIS_ARGS));
    assert.deepEqual(after.errors, []);
  });
});
