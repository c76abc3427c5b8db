import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLogBudget } from '../../src/worker/sandbox-host/index.js';
import { createTestReplica, disposedAfter, serveErrorOf, TEST_LIMITS, TIGHT_LIMITS } from '../helpers/sandbox-fixtures.js';

const budget = () => createLogBudget(TEST_LIMITS);

describe('SandboxReplica', () => {
  const make = disposedAfter((script) => createTestReplica(script));
  const makeTight = disposedAfter((script) => createTestReplica(script, { limits: TIGHT_LIMITS }));

  it('runs calls one at a time in arrival order, async ones included', async () => {
    const replica = await make(`const log = [];
      async function step(name) { log.push('start ' + name); await null; await null; log.push('end ' + name); return log.slice() }`);
    const results = await Promise.all(['a', 'b', 'c'].map((n) => replica.call('step', [n], budget())));
    assert.deepEqual(results[2]!.value, ['start a', 'end a', 'start b', 'end b', 'start c', 'end c']);
  });

  it('rebuilds after a timeout: the failing call gets SCRIPT_TIMEOUT, queued calls get a fresh sandbox with init run again', async () => {
    const replica = await makeTight(`let inits = 0; let calls = 0;
      function init() { inits++ }
      function spin() { for (;;) {} }
      function count() { return { inits, calls: ++calls } }`);
    assert.deepEqual((await replica.call('count', [], budget())).value, { inits: 1, calls: 1 });
    const [spun, next] = await Promise.allSettled([replica.call('spin', [], budget()), replica.call('count', [], budget())]);
    assert.equal(spun.status, 'rejected');
    assert.equal((spun as PromiseRejectedResult).reason.code, 'SCRIPT_TIMEOUT');
    assert.equal(next.status, 'fulfilled');
    assert.deepEqual((next as PromiseFulfilledResult<{ value: unknown }>).value.value, { inits: 1, calls: 1 }, 'state started over');
    assert.equal(replica.rebuilds, 1);
    assert.deepEqual([...replica.functions].sort(), ['count', 'init', 'spin']);
  });

  it('keeps serving after script errors without rebuilding', async () => {
    const replica = await make('function boom() { throw new Error("x") }\nfunction ok() { return 1 }');
    assert.equal((await serveErrorOf(replica.call('boom', [], budget()))).code, 'SCRIPT_FAILED');
    assert.equal((await replica.call('ok', [], budget())).value, 1);
    assert.equal(replica.rebuilds, 0);
  });

  it('fails queued calls with INTERNAL once disposed', async () => {
    const replica = await make('async function slow() { await null; return 1 }');
    const first = replica.call('slow', [], budget());
    const queued = replica.call('slow', [], budget());
    replica.dispose();
    await Promise.allSettled([first]);
    assert.equal((await serveErrorOf(queued)).code, 'INTERNAL');
    assert.equal((await serveErrorOf(replica.call('slow', [], budget()))).code, 'INTERNAL');
  });
});
