import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ApiError } from '../../src/client/index.js';
import { fixtureFile, MNIST_ONNX } from '../helpers/fixtures.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const zeros = () => [[Array.from({ length: 28 }, () => new Array<number>(28).fill(0))]];

describe('a runtime worker that dies costs only its in-flight requests', () => {
  let server: TestServer;
  let token: string;
  before(async () => {
    server = await startTestServer();
    await server.client.publishModel({ name: 'mnist', files: [fixtureFile(MNIST_ONNX)] });
    // Room for the 300 concurrent calls below (the default max_queue, 256, would refuse some: #16).
    token = (await server.client.createDeployment({ deployment_name: 'mnist-svc', model_name: 'mnist', max_queue: 512 })).access_token;
  });
  after(() => server.close());

  it('answers in-flight requests with 503 WORKER_CRASHED, restarts the worker and serves again', async () => {
    const svc = server.client.withToken(token);
    const victim = server.workers.workerInfo()[0]!;
    assert.ok(victim.pid);
    const outcomes: string[] = [];
    let killed = false;
    const load = Array.from({ length: 300 }, async () => {
      try {
        await svc.predict('mnist-svc', { X: [{ Input3: zeros() }] });
        outcomes.push('ok');
        // Mid-load: the 20th answer triggers the kill while ~280 requests are in flight.
        if (outcomes.length === 20 && !killed) {
          killed = true;
          process.kill(victim.pid!, 'SIGKILL');
        }
      } catch (err) {
        const e = err as ApiError;
        outcomes.push(`${e.status} ${e.code}`);
      }
    });
    await Promise.all(load);
    const failures = outcomes.filter((o) => o !== 'ok');
    assert.ok(failures.length > 0, 'some requests were in flight on the killed worker');
    assert.ok(failures.every((f) => f === '503 WORKER_CRASHED'), `only WORKER_CRASHED failures, got ${[...new Set(failures)].join(', ')}`);
    assert.ok(outcomes.filter((o) => o === 'ok').length > 100, 'the other worker kept serving');

    // Recovers by itself: a new process in the same slot, counted as one restart.
    while (server.workers.readyCount < 2) await sleep(50);
    const info = server.workers.workerInfo()[0]!;
    assert.notEqual(info.pid, victim.pid);
    assert.equal(info.restarts, 1);
    for (let i = 0; i < 20; i++) {
      const out = await svc.predict('mnist-svc', { X: [{ Input3: zeros() }] });
      assert.equal((out.result as unknown[]).length, 1);
    }
  });

  it('keeps requests waiting while every worker is down and serves them once one is back', async () => {
    const svc = server.client.withToken(token);
    for (const w of server.workers.workerInfo()) process.kill(w.pid!, 'SIGKILL');
    while (server.workers.workerInfo().some((w) => w.ready)) await sleep(5);
    const out = await svc.predict('mnist-svc', { X: [{ Input3: zeros() }] });
    assert.equal((out.result as unknown[]).length, 1);
    const ready = await fetch(`${server.url}/readyz`);
    assert.equal(ready.status, 200);
  });

  it('rebuilds a script deployment\'s sandboxes in a restarted worker on its next request', async () => {
    const script = 'function postprocess(outputs) { console.log("post"); return [outputs[0].indexOf(Math.max(...outputs[0]))]; }';
    const dep = await server.client.createDeployment({ deployment_name: 'mnist-script', model_name: 'mnist', script, replicas: 2 });
    const svc = server.client.withToken(dep.access_token);
    const before = await svc.predict('mnist-script', { X: [{ Input3: zeros() }] }, { debug: true });
    assert.deepEqual(before.stdout, ['post']);
    // Invokes carry no script text; restarted workers lack the revision, and the front sends it again.
    for (const w of server.workers.workerInfo()) if (w.role === 'serving') process.kill(w.pid!, 'SIGKILL');
    while (server.workers.workerInfo().some((w) => w.role === 'serving' && w.ready)) await sleep(5);
    while (server.workers.readyCount < 2) await sleep(20);
    for (let i = 0; i < 4; i++) {
      const after = await svc.predict('mnist-script', { X: [{ Input3: zeros() }] }, { debug: true });
      assert.deepEqual(after.result, before.result);
      assert.deepEqual(after.stdout, ['post']);
    }
  });
});

describe('a runtime worker that stops answering', () => {
  const TIMEOUT_MS = 2000;
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ env: { INFERBOX_WORKERS_REQUEST_TIMEOUT_MS: String(TIMEOUT_MS) } });
    await server.client.publishModel({ name: 'mnist', files: [fixtureFile(MNIST_ONNX)] });
  });
  after(() => server.close());

  it('answers past workers.requestTimeoutMs with 504 WORKER_TIMEOUT, also after an earlier request was answered in time, and is replaced', async () => {
    const dep = await server.client.createDeployment({ deployment_name: 'mnist-stuck', model_name: 'mnist' });
    const svc = server.client.withToken(dep.access_token);
    const [worker] = dep.placement.workers;
    const victim = server.workers.workerInfo()[worker!]!;
    const predict = () =>
      svc.predict('mnist-stuck', { X: [{ Input3: zeros() }] }).then(
        () => 'ok',
        (err: ApiError) => `${err.status} ${err.code}`,
      );
    // Answered in time; the worker's timeout was armed for this one and must still catch the next.
    assert.equal(await predict(), 'ok');
    await sleep(TIMEOUT_MS / 2);
    process.kill(victim.pid!, 'SIGSTOP');
    try {
      const [first, second] = await Promise.all([predict(), predict()]);
      assert.equal(first, '504 WORKER_TIMEOUT');
      // Due a moment later: timed out too, or failed by the kill that the first one's timeout sent.
      assert.ok(second === '504 WORKER_TIMEOUT' || second === '503 WORKER_CRASHED', second);
    } finally {
      process.kill(victim.pid!, 'SIGCONT');
    }
    while (server.workers.workerInfo()[worker!]!.pid === victim.pid || server.workers.readyCount < 2) await sleep(20);
    assert.equal(server.workers.workerInfo()[worker!]!.restarts, 1);
    assert.equal(await predict(), 'ok');
  });
});
