import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { ServeError } from '../../src/errors.js';
import { createLogBudget, type HostBridge, type Sandbox, type SandboxReplica } from '../../src/worker/sandbox-host/index.js';
import { createTestReplica, createTestSandbox, irisBridge, outputOf, serveErrorOf, TEST_LIMITS } from '../helpers/sandbox-fixtures.js';

const LIMIT_MS = TEST_LIMITS.timeoutMs;
const budget = () => createLogBudget(TEST_LIMITS);

/** Calls `fn` and returns its ServeError and how long it took to arrive. */
async function timedFailure(sandbox: Sandbox | SandboxReplica, fn: string, args: unknown[] = []): Promise<{ err: ServeError; ms: number }> {
  const started = performance.now();
  const err = await serveErrorOf(sandbox.call(fn, args, budget()));
  return { err, ms: performance.now() - started };
}

describe('Sandbox time limits', () => {
  const sandboxes: Sandbox[] = [];
  after(() => sandboxes.forEach((s) => s.dispose()));
  const make = async (script: string, bridge?: HostBridge) => {
    const sandbox = await createTestSandbox(script, bridge === undefined ? {} : { bridge });
    sandboxes.push(sandbox);
    return sandbox;
  };

  it('stops a synchronous endless loop with SCRIPT_TIMEOUT within twice the limit and disposes the isolate', async () => {
    const sandbox = await make('function spin() { console.log("before"); for (;;) {} }');
    const { err, ms } = await timedFailure(sandbox, 'spin');
    assert.equal(err.code, 'SCRIPT_TIMEOUT');
    assert.match(err.message, new RegExp(`spin\\(\\) ran past its ${LIMIT_MS} ms time limit`));
    assert.ok(ms < 2 * LIMIT_MS, `took ${ms} ms`);
    assert.deepEqual(outputOf(err).stdout, ['before'], 'what it printed before the loop is kept');
    assert.equal(sandbox.disposed, true);
  });

  it('stops a promise that never settles with SCRIPT_TIMEOUT within twice the limit', async () => {
    const sandbox = await make('async function hang() { console.log("waiting"); await new Promise(() => {}) }');
    const { err, ms } = await timedFailure(sandbox, 'hang');
    assert.equal(err.code, 'SCRIPT_TIMEOUT');
    assert.ok(ms < 2 * LIMIT_MS, `took ${ms} ms`);
    assert.deepEqual(outputOf(err).stdout, ['waiting']);
    assert.equal(sandbox.disposed, true);
  });

  it('stops an endless microtask loop with SCRIPT_TIMEOUT', async () => {
    const sandbox = await make('async function churn() { for (;;) await null }');
    const { err, ms } = await timedFailure(sandbox, 'churn');
    assert.equal(err.code, 'SCRIPT_TIMEOUT');
    assert.ok(ms < 2 * LIMIT_MS, `took ${ms} ms`);
    assert.equal(sandbox.disposed, true);
  });

  it('stops a loop that starts after model.run resolves with SCRIPT_TIMEOUT', async () => {
    const sandbox = await make('async function f() { await model.run({ dense_1_input: [[1, 2, 3, 4]] }); for (;;) {} }');
    const { err, ms } = await timedFailure(sandbox, 'f');
    assert.equal(err.code, 'SCRIPT_TIMEOUT');
    assert.ok(ms < 2 * LIMIT_MS, `took ${ms} ms`);
  });

  it('does not count time spent awaiting model.run against the limit', async () => {
    const slowBridge: HostBridge = {
      ...irisBridge,
      runModel: () => new Promise((resolve) => setTimeout(() => resolve({ dense_4: [[1, 0, 0]] }), LIMIT_MS * 1.5)),
    };
    const sandbox = await make('async function f() { const a = await model.run({ x: 1 }); const b = await model.run({ x: 2 }); return [a, b] }', slowBridge);
    const result = await sandbox.call('f', [], budget());
    assert.deepEqual(result.value, [{ dense_4: [[1, 0, 0]] }, { dense_4: [[1, 0, 0]] }]);
  });

  it('stops a getter on the result that loops forever (copying out runs no script code)', async () => {
    const sandbox = await make('function f() { return { get trap() { for (;;) {} } } }');
    const { err, ms } = await timedFailure(sandbox, 'f');
    assert.equal(err.code, 'SCRIPT_TIMEOUT');
    assert.ok(ms < 2 * LIMIT_MS, `took ${ms} ms`);
  });
});

describe('Sandbox errors that try to run code while being described', () => {
  const cases: [string, string][] = [
    ['a thrown object whose toString loops', 'function f() { throw { toString() { for (;;) {} } } }'],
    ['an Error whose message getter loops', 'function f() { const e = new Error("x"); Object.defineProperty(e, "message", { get() { for (;;) {} } }); throw e }'],
    ['an Error whose message is an object with a looping toString', 'function f() { const e = new Error("x"); e.message = { toString() { for (;;) {} } }; throw e }'],
    ['Error.prepareStackTrace that loops', 'function f() { Error.prepareStackTrace = () => { for (;;) {} }; throw new Error("x") }'],
    ['a promise rejected with a looping toString object', 'async function f() { await null; throw { toString() { for (;;) {} } } }'],
  ];
  for (const [what, script] of cases) {
    it(`answers ${what} with an error within twice the limit`, async () => {
      const sandbox = await createTestSandbox(script);
      try {
        const { err, ms } = await timedFailure(sandbox, 'f');
        assert.ok(err.code === 'SCRIPT_TIMEOUT' || err.code === 'SCRIPT_FAILED', err.code);
        assert.ok(ms < 2 * LIMIT_MS, `took ${ms} ms`);
      } finally {
        sandbox.dispose();
      }
    });
  }

  it('stops a top level whose thrown Error has a looping message getter within twice the limit', async () => {
    const started = performance.now();
    const err = await serveErrorOf(
      createTestSandbox('const e = new Error("x"); Object.defineProperty(e, "message", { get() { for (;;) {} } }); throw e;'),
    );
    assert.equal(err.code, 'SCRIPT_INVALID');
    assert.ok(performance.now() - started < 2 * LIMIT_MS + 50);
  });

  it('stops an endless top-level loop with SCRIPT_INVALID', async () => {
    const started = performance.now();
    const err = await serveErrorOf(createTestSandbox('for (;;) {}'));
    assert.equal(err.code, 'SCRIPT_INVALID');
    assert.equal(err.details?.['reason'], 'SCRIPT_TIMEOUT');
    assert.ok(performance.now() - started < 2 * LIMIT_MS + 50);
  });
});

describe('Sandbox memory limit', () => {
  const replicas: SandboxReplica[] = [];
  after(() => replicas.forEach((r) => r.dispose()));

  it('fails unbounded allocation with SCRIPT_MEMORY_LIMIT, then the replica rebuilds and answers', async () => {
    const script = `
      let inits = 0;
      function init() { inits++ }
      function grow() { const hoard = []; for (;;) hoard.push({ n: hoard.length, s: "item " + hoard.length }) }
      function ping() { return { inits } }`;
    const replica = await createTestReplica(script, { limits: { ...TEST_LIMITS, memoryLimitMb: 16, timeoutMs: 5000 } });
    replicas.push(replica);
    const err = await serveErrorOf(replica.call('grow', [], budget()));
    assert.equal(err.code, 'SCRIPT_MEMORY_LIMIT');
    assert.match(err.message, /16 MB/);
    assert.deepEqual((await replica.call('ping', [], budget())).value, { inits: 1 }, 'a new sandbox, init ran again');
    assert.equal(replica.rebuilds, 1);
  });

  it('fails unbounded allocation after an await with SCRIPT_MEMORY_LIMIT', async () => {
    const script = 'async function grow() { await null; const hoard = []; for (;;) hoard.push("item " + hoard.length) }\nfunction ping() { return 1 }';
    const replica = await createTestReplica(script, { limits: { ...TEST_LIMITS, memoryLimitMb: 16, timeoutMs: 5000 } });
    replicas.push(replica);
    const err = await serveErrorOf(replica.call('grow', [], budget()));
    assert.equal(err.code, 'SCRIPT_MEMORY_LIMIT');
    assert.equal((await replica.call('ping', [], budget())).value, 1);
  });
});
