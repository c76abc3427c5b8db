import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ApiError, type InferboxClient } from '../../src/client/index.js';
import { assertSetosa, fixtureFile, IRIS_ONNX } from '../helpers/fixtures.js';
import { rawRequest, type RawAnswer } from '../helpers/http.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const IRIS_ARGS = { X: [{ float_input: [5.1, 3.5, 1.4, 0.2] }] };

/**
 * A script that holds its call for `ms` (busy, on the isolate's thread) and counts the calls that
 * ran, which `count()` answers: a call dropped before it ran is not counted.
 */
const busyScript = (ms: number) => `
let ran = 0;
function prepare(args) { ran++; const end = Date.now() + ${ms}; while (Date.now() < end) {} return args }
function count() { return ran }
`;

/** "200", or the status and error code of an error answer. */
const outcomeOf = (a: RawAnswer): string => (a.status === 200 ? '200' : `${a.status} ${a.json?.error.code}`);

/**
 * Deadlines (504 DEADLINE_EXCEEDED) and bounded queues (503 OVERLOADED) per deployment (#16). What
 * is asserted is status codes, error codes and counts, never a duration: the machine is shared.
 * One request at a time per deployment per worker, so the queues are easy to fill.
 */
describe('deadlines and bounded queues (#16)', () => {
  let server: TestServer;
  const tokens = new Map<string, string>();

  before(async () => {
    server = await startTestServer({ env: { INFERBOX_WORKERS_COUNT: '2', INFERBOX_WORKERS_MAX_INFLIGHT_PER_DEPLOYMENT: '1' } });
    await server.client.publishModel({ name: 'iris', files: [fixtureFile(IRIS_ONNX)] });
  });
  after(() => server.close());

  async function deploy(body: Record<string, unknown> & { deployment_name: string }): Promise<InferboxClient> {
    const dep = await server.client.createDeployment({ model_name: 'iris', ...body });
    tokens.set(body.deployment_name, dep.access_token);
    return server.client.withToken(dep.access_token);
  }

  const call = (name: string, headers: Record<string, string> = {}, fn = 'predict'): Promise<RawAnswer> =>
    rawRequest(server.url, 'POST', `/api/v1/svc/${name}/${fn}`, { token: tokens.get(name)!, body: { args: IRIS_ARGS }, headers });

  it('request_timeout_ms and max_queue: defaults shown, set on create and PATCH, over their caps refused naming the field', async () => {
    await deploy({ deployment_name: 'plain' });
    const plain = await server.client.getDeployment('plain');
    assert.equal(plain.request_timeout_ms, 60_000);
    assert.equal(plain.max_queue, 256);
    const own = await deploy({ deployment_name: 'own', request_timeout_ms: 1500, max_queue: 0 });
    assert.ok(own);
    const view = await server.client.getDeployment('own');
    assert.equal(view.request_timeout_ms, 1500);
    assert.equal(view.max_queue, 0);
    const patched = await server.client.patchDeployment('own', { max_queue: 7 });
    assert.equal(patched.max_queue, 7);
    assert.equal(patched.request_timeout_ms, 1500, 'a PATCH keeps the limits it does not name');

    const refused = async (body: Record<string, unknown>, field: string, message: RegExp) => {
      const answer = await rawRequest(server.url, 'POST', '/api/v1/deployments', { body: { deployment_name: 'bad', model_name: 'iris', ...body } });
      assert.equal(answer.status, 400);
      assert.equal(answer.json?.error.code, 'REQUEST_INVALID');
      assert.match(answer.json!.error.message, message);
      assert.match(answer.json!.error.message, new RegExp(field));
    };
    await refused({ request_timeout_ms: 300_001 }, 'request_timeout_ms', /at most 300000 \(limits\.requestTimeoutMsCap\)/);
    await refused({ max_queue: 10_001 }, 'max_queue', /at most 10000 \(limits\.maxQueueCap\)/);
    await refused({ request_timeout_ms: 0 }, 'request_timeout_ms', /too small|>=1/i);
    await refused({ max_queue: -1 }, 'max_queue', /too small|>=0/i);
    await refused({ max_queue: 1.5 }, 'max_queue', /integer|int/i);
  });

  it('a Request-Timeout that is not a positive number of seconds: 400 naming the header, before any work', async () => {
    for (const value of ['abc', '0', '-1', '1e3', '2s']) {
      const answer = await call('plain', { 'Request-Timeout': value });
      assert.equal(answer.status, 400, value);
      assert.equal(answer.json?.error.code, 'REQUEST_INVALID');
      assert.match(answer.json!.error.message, /Request-Timeout must be a positive number of seconds/);
    }
    const ok = await call('plain', { 'Request-Timeout': '30.5' });
    assert.equal(ok.status, 200);
  });

  it('a call running past its deployment\'s request_timeout_ms: 504 DEADLINE_EXCEEDED; the deployment serves on', async () => {
    const slow = await deploy({ deployment_name: 'slow-run', script: busyScript(1500), timeout_ms: 10_000, request_timeout_ms: 200 });
    const answer = await call('slow-run');
    assert.equal(answer.status, 504);
    assert.equal(answer.json?.error.code, 'DEADLINE_EXCEEDED');
    assert.match(answer.json!.error.message, /while a runtime worker was serving it/);
    // The run it could not stop finishes in the worker; with a roomier deadline the next call is answered.
    await server.client.patchDeployment('slow-run', { request_timeout_ms: 60_000 });
    assert.equal((await call('slow-run')).status, 200);
    assert.ok(slow);
  });

  it('calls that wait in the queue past their Request-Timeout: 504, dropped without running; Request-Timeout never lengthens the deployment\'s deadline', async () => {
    // One worker, one call at a time: the first holds it, the others wait in the front's queue.
    const held = await deploy({ deployment_name: 'held', script: busyScript(1200), timeout_ms: 10_000, replicas: 1 });
    const first = call('held');
    const queued = await Promise.all(Array.from({ length: 3 }, () => call('held', { 'Request-Timeout': '0.2' })));
    assert.deepEqual(queued.map((a) => `${a.status} ${a.json?.error.code}`), Array(3).fill('504 DEADLINE_EXCEEDED'));
    for (const a of queued) assert.match(a.json!.error.message, /in the front's queue for a runtime worker; it was not run/);
    assert.equal((await first).status, 200);
    const ran = (await held.predict('held', {}, { fn: 'count' })).result;
    assert.equal(ran, 1, 'only the first call ran: the queued ones were dropped');

    // A client's longer timeout does not lift the deployment's own (200 ms here).
    await server.client.patchDeployment('held', { request_timeout_ms: 200 });
    const longer = await call('held', { 'Request-Timeout': '120' });
    assert.equal(longer.status, 504);
    assert.equal(longer.json?.error.code, 'DEADLINE_EXCEEDED');
  });

  it('flooding one deployment: it answers 200s and 503 OVERLOADED with Retry-After, never more queued than max_queue; the other answers 200 every time', async () => {
    await deploy({ deployment_name: 'flooded', script: busyScript(100), timeout_ms: 10_000, replicas: 1, max_queue: 2 });
    const healthy = await deploy({ deployment_name: 'healthy', replicas: 2 });
    let flooding = true;
    const queuedSeen = { flooded: 0, healthy: 0 };
    const watch = (async () => {
      while (flooding) {
        const [f, h] = await Promise.all([server.client.stats('flooded'), server.client.stats('healthy')]);
        queuedSeen.flooded = Math.max(queuedSeen.flooded, f.dispatch.queued);
        queuedSeen.healthy = Math.max(queuedSeen.healthy, h.dispatch.queued);
      }
    })();
    const healthyOutcome = { ok: 0, errors: [] as string[] };
    const healthyLoad = Promise.all(
      Array.from({ length: 4 }, async () => {
        while (flooding) {
          try {
            assertSetosa((await healthy.predict('healthy', IRIS_ARGS)).result);
            healthyOutcome.ok++;
          } catch (err) {
            healthyOutcome.errors.push(err instanceof ApiError ? `${err.status} ${err.code}: ${err.message}` : String(err));
          }
        }
      }),
    );
    const flood = await Promise.all(Array.from({ length: 40 }, () => call('flooded')));
    flooding = false;
    await Promise.all([healthyLoad, watch]);

    const byStatus = new Map<string, number>();
    for (const a of flood) byStatus.set(outcomeOf(a), (byStatus.get(outcomeOf(a)) ?? 0) + 1);
    assert.deepEqual([...byStatus.keys()].sort(), ['200', '503 OVERLOADED'], JSON.stringify([...byStatus]));
    assert.ok(byStatus.get('200')! >= 1);
    assert.ok(byStatus.get('503 OVERLOADED')! >= 1);
    for (const a of flood.filter((x) => x.status === 503)) {
      assert.equal(a.headers.get('retry-after'), '1');
      assert.match(a.json!.error.message, /"flooded" already has 2 requests waiting for a runtime worker \(its max_queue\)/);
    }
    assert.ok(queuedSeen.flooded <= 2, `the flooded deployment's queue stayed within max_queue (saw ${queuedSeen.flooded})`);
    assert.deepEqual(healthyOutcome.errors, []);
    assert.ok(healthyOutcome.ok > 0, 'the healthy deployment answered during the flood');
    assert.ok(queuedSeen.healthy <= 4, `the healthy deployment had few queued (saw ${queuedSeen.healthy}, it has 4 callers)`);
  });

  it('max_queue 0: a call that finds no free slot is refused at once rather than queued', async () => {
    await deploy({ deployment_name: 'no-queue', script: busyScript(1500), timeout_ms: 10_000, replicas: 1, max_queue: 0 });
    const answers = await Promise.all(Array.from({ length: 4 }, () => call('no-queue')));
    const codes = answers.map(outcomeOf).sort();
    assert.equal(codes.filter((c) => c === '200').length, 1, codes.join(', '));
    assert.equal(codes.filter((c) => c === '503 OVERLOADED').length, 3, codes.join(', '));
  });
});

/**
 * Calls a worker was given but has not started: several calls of one deployment in its worker,
 * waiting for its one sandbox. Those whose deadline passes meanwhile are answered 504 by the front
 * and skipped by the worker when their turn comes, so they cost the sandbox nothing.
 */
describe('deadlines of calls waiting in a worker for their sandbox (#16)', () => {
  let server: TestServer;

  before(async () => {
    server = await startTestServer({ env: { INFERBOX_WORKERS_COUNT: '1', INFERBOX_WORKERS_MAX_INFLIGHT_PER_DEPLOYMENT: '8' } });
    await server.client.publishModel({ name: 'iris', files: [fixtureFile(IRIS_ONNX)] });
  });
  after(() => server.close());

  it('answers them 504 at their deadline, and the worker never runs them', async () => {
    const dep = await server.client.createDeployment({ deployment_name: 'one-sandbox', model_name: 'iris', script: busyScript(1500), timeout_ms: 10_000, replicas: 1 });
    const call = (headers: Record<string, string> = {}) => rawRequest(server.url, 'POST', '/api/v1/svc/one-sandbox/predict', { token: dep.access_token, body: { args: IRIS_ARGS }, headers });
    const first = call();
    const late = await Promise.all(Array.from({ length: 3 }, () => call({ 'Request-Timeout': '0.3' })));
    assert.deepEqual(late.map(outcomeOf), Array(3).fill('504 DEADLINE_EXCEEDED'));
    for (const a of late) assert.match(a.json!.error.message, /while a runtime worker was serving it/);
    assert.equal((await first).status, 200);
    const ran = (await server.client.withToken(dep.access_token).predict('one-sandbox', {}, { fn: 'count' })).result;
    assert.equal(ran, 1, 'the three calls past their deadline were not run by the sandbox');
  });
});
