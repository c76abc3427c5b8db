import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { DeploymentView } from '../../src/api/types.js';
import { fixtureFile, IRIS_ONNX } from '../helpers/fixtures.js';
import { ADMIN_TOKEN, startTestServer, type TestServer } from '../helpers/server.js';

const IRIS_ARGS = { X: [{ float_input: [5.1, 3.5, 1.4, 0.2] }] };
const LABEL_SCRIPT = 'function postprocess([label]) { return { label: label[0] }; }';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One call with ?debug=true: its status and the serving worker (X-Inferbox-Worker) that ran it. */
async function call(server: TestServer, deployment: string, fn = 'predict', args: unknown = IRIS_ARGS): Promise<{ status: number; worker: number; code?: string }> {
  const res = await fetch(`${server.url}/api/v1/svc/${deployment}/${fn}?debug=true`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ args }),
  });
  const body = (await res.json()) as { error?: { code: string } };
  return { status: res.status, worker: Number(res.headers.get('x-inferbox-worker') ?? -1), ...(body.error ? { code: body.error.code } : {}) };
}

async function callsOn(server: TestServer, deployment: string, n: number): Promise<Set<number>> {
  const workers = new Set<number>();
  for (let i = 0; i < n; i++) {
    const out = await call(server, deployment);
    assert.equal(out.status, 200);
    workers.add(out.worker);
  }
  return workers;
}

const pidsOf = (server: TestServer, workers: Iterable<number>) => new Set([...workers].map((w) => server.workers.workerInfo()[w]!.pid));

/** Polls until `done` holds (a state change that happens in the background); fails naming `what`. */
async function until<T>(what: string, get: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  for (let i = 0; i < 1500; i++) {
    const value = await get();
    if (done(value)) return value;
    await sleep(20);
  }
  assert.fail(`never saw: ${what}`);
}

describe("a deployment's replicas are the runtime workers that serve it (2 workers)", () => {
  let server: TestServer;
  const view = (name: string) => server.client.getDeployment(name);

  before(async () => {
    server = await startTestServer();
    await server.client.publishModel({ name: 'iris', files: [fixtureFile(IRIS_ONNX)] });
  });
  after(() => server.close());

  it('without a script, 1 replica: placed on one worker, every call served by that worker alone', async () => {
    const d = await server.client.createDeployment({ deployment_name: 'iris-one', model_name: 'iris', replicas: 1 });
    assert.equal(d.placement.workers.length, 1);
    assert.deepEqual(d.placement.sandboxes, {});
    assert.equal(d.placement.misbehaving, null);
    const workers = await callsOn(server, 'iris-one', 8);
    assert.deepEqual([...workers], d.placement.workers);
    assert.equal(pidsOf(server, workers).size, 1);
    const stats = (await server.client.stats('iris-one'));
    assert.deepEqual(stats.dispatch, { queued: 0, workers: [{ worker: d.placement.workers[0]!, calls: 8, in_flight: 0 }] });
  });

  it('without a script, 2 replicas: both workers serve it (two worker pids)', async () => {
    const d = await server.client.createDeployment({ deployment_name: 'iris-two', model_name: 'iris', replicas: 2 });
    assert.deepEqual(d.placement.workers, [0, 1]);
    const workers = await callsOn(server, 'iris-two', 8);
    assert.deepEqual([...workers].sort(), [0, 1]);
    assert.equal(pidsOf(server, workers).size, 2);
    const stats = (await server.client.stats('iris-two'));
    assert.deepEqual(stats.dispatch.workers.map((w) => w.worker), [0, 1]);
    assert.equal(stats.dispatch.workers.reduce((n, w) => n + w.calls, 0), 8);
  });

  it('more replicas than workers: capped at the workers; a script gets the rest as sandboxes (3 = 2 + 1)', async () => {
    const plain = await server.client.createDeployment({ deployment_name: 'iris-five', model_name: 'iris', replicas: 5 });
    assert.deepEqual(plain.placement.workers, [0, 1]);
    const scripted = await server.client.createDeployment({ deployment_name: 'labels-three', model_name: 'iris', script: LABEL_SCRIPT, replicas: 3 });
    assert.deepEqual(scripted.placement.workers, [0, 1]);
    assert.deepEqual(Object.values(scripted.placement.sandboxes).sort(), [1, 2]);
    assert.equal((await server.client.stats('labels-three')).sandboxes.replicas, 3);
  });

  it('with a script, 1 replica vs 2: one worker with one sandbox, then both with one each', async () => {
    const one = await server.client.createDeployment({ deployment_name: 'labels', model_name: 'iris', script: LABEL_SCRIPT, replicas: 1 });
    assert.equal(one.placement.workers.length, 1);
    assert.deepEqual(one.placement.sandboxes, { [one.placement.workers[0]!]: 1 });
    assert.equal(pidsOf(server, await callsOn(server, 'labels', 6)).size, 1);
    const two = await server.client.patchDeployment('labels', { replicas: 2 });
    assert.deepEqual(two.placement, { workers: [0, 1], sandboxes: { 0: 1, 1: 1 }, misbehaving: null });
    assert.equal(pidsOf(server, await callsOn(server, 'labels', 6)).size, 2);
  });

  it('PATCH of replicas on a deployment without a script moves it without dropping a request', async () => {
    let stop = false;
    const statuses: number[] = [];
    const load = Array.from({ length: 4 }, async () => {
      while (!stop) statuses.push((await call(server, 'iris-one')).status);
    });
    try {
      for (const replicas of [2, 1, 2, 1]) {
        const d = await server.client.patchDeployment('iris-one', { replicas });
        assert.equal(d.placement.workers.length, replicas);
        assert.deepEqual((await view('iris-one')).placement.workers, d.placement.workers);
      }
    } finally {
      stop = true;
      await Promise.all(load);
    }
    assert.ok(statuses.length > 0);
    assert.deepEqual(
      statuses.filter((s) => s !== 200),
      [],
    );
  });

  it('keeps its placement when its worker restarts, and serves there again', async () => {
    const placed = (await view('iris-one')).placement.workers;
    assert.equal(placed.length, 1);
    const worker = placed[0]!;
    const info = () => server.workers.workerInfo()[worker]!;
    const restarts = info().restarts;
    process.kill(info().pid!, 'SIGKILL');
    while (info().ready) await sleep(5);
    while (!info().ready || info().restarts === restarts) await sleep(20);
    assert.deepEqual((await view('iris-one')).placement.workers, placed);
    assert.deepEqual([...(await callsOn(server, 'iris-one', 4))], placed);
  });

  it('keeps a deployment whose script timed out apart from the others, where the worker count allows', async () => {
    const spinner = await server.client.createDeployment({
      deployment_name: 'spinner',
      model_name: 'iris',
      script: `function spin() { for (;;) {} }\n${LABEL_SCRIPT}`,
      replicas: 2,
      timeout_ms: 100,
    });
    assert.deepEqual(spinner.placement.workers, [0, 1]);
    const spun = await call(server, 'spinner', 'spin', {});
    assert.deepEqual([spun.status, spun.code], [504, 'SCRIPT_TIMEOUT']);
    const moved = await until(
      'spinner confined to one worker',
      () => view('spinner'),
      (d) => d.placement.workers.length === 1,
    );
    assert.equal(moved.placement.misbehaving?.reason, 'SCRIPT_TIMEOUT');
    assert.deepEqual(Object.values(moved.placement.sandboxes), [2], 'it keeps its 2 sandboxes');
    const apart = moved.placement.workers[0]!;
    // Single-replica deployments leave its worker; those with 2 replicas need both workers and keep them.
    const all = await until(
      'single-replica deployments off the spinner\'s worker',
      () => server.client.listDeployments(),
      (ds) => ds.filter((d) => d.replicas === 1).every((d) => !d.placement.workers.includes(apart)),
    );
    for (const d of all.filter((x: DeploymentView) => x.replicas === 1)) {
      assert.notEqual(d.placement.workers[0], apart, d.deployment_name);
      assert.deepEqual([...(await callsOn(server, d.deployment_name, 3))], d.placement.workers, d.deployment_name);
    }
    assert.deepEqual((await view('iris-two')).placement.workers, [0, 1]);
    assert.equal((await call(server, 'spinner')).status, 200, 'the spinner still serves its other calls');
  });
});

/**
 * Both caps keep B's calls from queueing behind A's flood on a worker: A's own cap per worker, or
 * the worker's cap for all deployments, beyond which the deployments' queues take turns.
 */
const FAIRNESS_CASES = [
  { cap: 'workers.maxInflightPerDeployment', env: 'INFERBOX_WORKERS_MAX_INFLIGHT_PER_DEPLOYMENT' },
  { cap: 'workers.maxInflightPerWorker', env: 'INFERBOX_WORKERS_MAX_INFLIGHT_PER_WORKER' },
] as const;

for (const { cap, env } of FAIRNESS_CASES) describe(`fair sharing (${cap} = 2): a flood on one deployment does not queue another behind it`, () => {
  /** Requests in flight on one worker: of one deployment, or of all. */
  const CAP = 2;
  const FLOOD = 100;
  const B_CALLS = 5;
  /** A's requests waiting in the front before B starts. */
  const QUEUED = 10;
  let server: TestServer;

  before(async () => {
    server = await startTestServer({ env: { [env]: String(CAP) } });
    await server.client.publishModel({ name: 'iris', files: [fixtureFile(IRIS_ONNX)] });
    // Each of A's calls holds its worker's event loop for 50 ms of busy work.
    const busy = 'function prepare(args) { const t = Date.now(); while (Date.now() - t < 50) {} return args; }';
    await server.client.createDeployment({ deployment_name: 'flood-a', model_name: 'iris', script: busy, replicas: 2, timeout_ms: 5000 });
    await server.client.createDeployment({ deployment_name: 'quiet-b', model_name: 'iris', replicas: 1 });
  });
  after(() => server.close());

  it(`B's calls wait behind at most about ${CAP} of A's on their worker, and all succeed`, async () => {
    /** Completions in the order the client saw them. */
    const events: ({ kind: 'a'; worker: number; status: number } | { kind: 'b-start' } | { kind: 'b-end'; worker: number; status: number })[] = [];
    const flood = Array.from({ length: FLOOD }, async () => {
      const out = await call(server, 'flood-a');
      events.push({ kind: 'a', worker: out.worker, status: out.status });
    });
    // B starts once A's requests wait in the front: the flood is under way.
    await until(
      'A queued in the front',
      () => server.client.stats('flood-a'),
      (s) => s.dispatch.queued >= QUEUED,
    );
    for (let i = 0; i < B_CALLS; i++) {
      events.push({ kind: 'b-start' });
      const out = await call(server, 'quiet-b');
      events.push({ kind: 'b-end', worker: out.worker, status: out.status });
    }
    await Promise.all(flood);

    const aStatuses = events.flatMap((e) => (e.kind === 'a' ? [e.status] : []));
    assert.equal(aStatuses.length, FLOOD);
    assert.deepEqual(
      aStatuses.filter((s) => s !== 200),
      [],
    );
    // For each B call: A's calls answered by B's worker between B's start and its answer. At most
    // CAP were in flight there when B was sent; answers the worker gave before that may still be on
    // their way to this client, which juggles the whole flood (without the cap: 59 on one B call).
    const bound = 4 * CAP + 2;
    const counts: number[] = [];
    for (let i = 0; i < events.length; i++) {
      if (events[i]!.kind !== 'b-start') continue;
      const endAt = events.findIndex((e, j) => j > i && e.kind === 'b-end');
      const end = events[endAt] as { worker: number; status: number };
      assert.equal(end.status, 200);
      counts.push(events.slice(i + 1, endAt).filter((e) => e.kind === 'a' && e.worker === end.worker).length);
    }
    assert.equal(counts.length, B_CALLS);
    assert.ok(
      counts.every((n) => n <= bound),
      `A's answers on B's worker during each B call: ${counts.join(', ')} (at most ${bound})`,
    );
    // And B did not wait for the flood: A was still being answered on B's worker after B's last call.
    const lastB = events.findLastIndex((e) => e.kind === 'b-end');
    const bWorker = (events[lastB] as { worker: number }).worker;
    assert.ok(events.slice(lastB).some((e) => e.kind === 'a' && e.worker === bWorker), 'A still had calls after B finished');
  });
});

describe('a call that waits for a slot past its deadline', () => {
  const TIMEOUT_MS = 2000;
  let server: TestServer;
  before(async () => {
    // The deadline (limits.requestTimeoutMs), not workers.requestTimeoutMs, ends a deployment call's wait since #16.
    server = await startTestServer({ env: { INFERBOX_WORKERS_MAX_INFLIGHT_PER_DEPLOYMENT: '1', INFERBOX_LIMITS_REQUEST_TIMEOUT_MS: String(TIMEOUT_MS) } });
    await server.client.publishModel({ name: 'iris', files: [fixtureFile(IRIS_ONNX)] });
    // Each call holds the deployment's one slot for 40 % of the deadline: the fifth waits past it.
    const slow = `function prepare(args) { const t = Date.now(); while (Date.now() - t < ${TIMEOUT_MS * 0.4}) {} return args; }`;
    await server.client.createDeployment({ deployment_name: 'one-slot', model_name: 'iris', script: slow, timeout_ms: 5000 });
  });
  after(() => server.close());

  it('is refused 504 DEADLINE_EXCEEDED without being run, and the calls ahead of it are answered', async () => {
    const outcomes = await Promise.all(Array.from({ length: 5 }, () => call(server, 'one-slot').then((out) => (out.status === 200 ? 'ok' : `${out.status} ${out.code}`))));
    // The first to arrive runs at once; the last ones wait for four calls ahead of them.
    assert.ok(outcomes.includes('ok'), outcomes.join(', '));
    assert.ok(outcomes.includes('504 DEADLINE_EXCEEDED'), outcomes.join(', '));
    assert.ok(outcomes.every((o) => o === 'ok' || o === '504 DEADLINE_EXCEEDED'), outcomes.join(', '));
    assert.equal((await call(server, 'one-slot')).status, 200, 'and the deployment serves on');
  });
});
