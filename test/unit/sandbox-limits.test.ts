import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { ServeError } from '../../src/errors.js';
import { CallPacer, createLogBudget, type HostBridge, type Sandbox, type SandboxReplica } from '../../src/worker/sandbox-host/index.js';
import { createTestReplica, createTestSandbox, ENTRY_MODES, irisBridge, outputOf, serveErrorOf, TEST_LIMITS, TIGHT_LIMITS } from '../helpers/sandbox-fixtures.js';

const LIMIT_MS = TIGHT_LIMITS.timeoutMs;
const budget = () => createLogBudget(TEST_LIMITS);

/**
 * Calls `fn` and returns its ServeError. How soon a limit stops a script is a timing, measured by
 * test/bench/sandbox-limits.ts (never asserted here: it varies with the machine's load); these tests
 * check that the limit stops it (a regression hangs the test), with which code, and what is left.
 */
async function failure(sandbox: Sandbox | SandboxReplica, fn: string, args: unknown[] = []): Promise<ServeError> {
  return serveErrorOf(sandbox.call(fn, args, budget()));
}

/** The message of a call stopped by the time limit. */
const timedOut = (fn: string) => `${fn}() ran past its ${LIMIT_MS} ms time limit`;

// Both ways into the isolate (see src/worker/sandbox-host/pacer.ts) must stop a script alike.
for (const mode of ENTRY_MODES) {
  describe(`Sandbox time limits (${mode} entries)`, () => {
    const sandboxes: Sandbox[] = [];
    after(() => sandboxes.forEach((s) => s.dispose()));
    const make = async (script: string, bridge?: HostBridge) => {
      const sandbox = await createTestSandbox(script, bridge === undefined ? { pacer: new CallPacer({ mode }), limits: TIGHT_LIMITS } : { pacer: new CallPacer({ mode }), limits: TIGHT_LIMITS, bridge });
      sandboxes.push(sandbox);
      return sandbox;
    };

    it('stops a synchronous endless loop with SCRIPT_TIMEOUT naming the limit and disposes the isolate', async () => {
      const sandbox = await make('function spin() { console.log("before"); for (;;) {} }');
      const err = await failure(sandbox, 'spin');
      assert.equal(err.code, 'SCRIPT_TIMEOUT');
      assert.equal(err.message, timedOut('spin'));
      assert.deepEqual(outputOf(err).stdout, ['before'], 'what it printed before the loop is kept');
      assert.equal(sandbox.disposed, true);
    });

    it('stops a promise that never settles with SCRIPT_TIMEOUT naming the limit and disposes the isolate', async () => {
      const sandbox = await make('async function hang() { console.log("waiting"); await new Promise(() => {}) }');
      const err = await failure(sandbox, 'hang');
      assert.equal(err.code, 'SCRIPT_TIMEOUT');
      assert.equal(err.message, timedOut('hang'));
      assert.deepEqual(outputOf(err).stdout, ['waiting']);
      assert.equal(sandbox.disposed, true);
    });

    it('stops an endless microtask loop with SCRIPT_TIMEOUT', async () => {
      const sandbox = await make('async function churn() { for (;;) await null }');
      const err = await failure(sandbox, 'churn');
      assert.equal(err.code, 'SCRIPT_TIMEOUT');
      assert.equal(err.message, timedOut('churn'));
      assert.equal(sandbox.disposed, true);
    });

    it('stops a loop that starts after model.run resolves with SCRIPT_TIMEOUT', async () => {
      const sandbox = await make('async function f() { await model.run({ dense_1_input: [[1, 2, 3, 4]] }); for (;;) {} }');
      const err = await failure(sandbox, 'f');
      assert.equal(err.code, 'SCRIPT_TIMEOUT');
      assert.equal(err.message, timedOut('f'));
      assert.equal(sandbox.disposed, true);
    });

    it('does not count time spent awaiting model.run against the limit', async () => {
      // Two model runs of 3/4 of the limit each: together past it, by construction. Counted against
      // the script's clock, the call's deadline would expire before the second run answers. The limit
      // is wider than TIGHT_LIMITS so the script's own (tiny) time stays far inside it on a loaded machine.
      const limits = { ...TEST_LIMITS, timeoutMs: 400 };
      const slowBridge: HostBridge = {
        ...irisBridge,
        runModel: () => new Promise((resolve) => setTimeout(() => resolve({ dense_4: [[1, 0, 0]] }), limits.timeoutMs * 0.75)),
      };
      const sandbox = await createTestSandbox('async function f() { const a = await model.run({ x: 1 }); const b = await model.run({ x: 2 }); return [a, b] }', { pacer: new CallPacer({ mode }), limits, bridge: slowBridge });
      sandboxes.push(sandbox);
      const result = await sandbox.call('f', [], budget());
      assert.deepEqual(result.value, [{ dense_4: [[1, 0, 0]] }, { dense_4: [[1, 0, 0]] }]);
    });

    it('stops a getter on the result that loops forever (copying out runs no script code)', async () => {
      const sandbox = await make('function f() { return { get trap() { for (;;) {} } } }');
      const err = await failure(sandbox, 'f');
      assert.equal(err.code, 'SCRIPT_TIMEOUT');
      assert.equal(err.message, timedOut('f'));
      assert.equal(sandbox.disposed, true);
    });
  });

  describe(`Sandbox errors that try to run code while being described (${mode} entries)`, () => {
    // A thrown value is described without running its code (SCRIPT_FAILED, the isolate kept; under
    // the roomy limit, so only running the loop could make it a SCRIPT_TIMEOUT); an Error's own
    // message, or Error.prepareStackTrace, is script code: it runs under the call's (tight) limit.
    const described = { code: 'SCRIPT_FAILED', message: '{ toString: [Function: toString] }', disposed: false };
    const stopped = { code: 'SCRIPT_TIMEOUT', message: timedOut('f'), disposed: true };
    const cases: [string, string, typeof described][] = [
      ['a thrown object whose toString loops', 'function f() { throw { toString() { for (;;) {} } } }', described],
      ['an Error whose message getter loops', 'function f() { const e = new Error("x"); Object.defineProperty(e, "message", { get() { for (;;) {} } }); throw e }', stopped],
      ['an Error whose message is an object with a looping toString', 'function f() { const e = new Error("x"); e.message = { toString() { for (;;) {} } }; throw e }', stopped],
      ['Error.prepareStackTrace that loops', 'function f() { Error.prepareStackTrace = () => { for (;;) {} }; throw new Error("x") }', stopped],
      ['a promise rejected with a looping toString object', 'async function f() { await null; throw { toString() { for (;;) {} } } }', described],
    ];
    for (const [what, script, expected] of cases) {
      it(`answers ${what} with ${expected.code}`, async () => {
        const sandbox = await createTestSandbox(script, { pacer: new CallPacer({ mode }), limits: expected === stopped ? TIGHT_LIMITS : TEST_LIMITS });
        try {
          const err = await failure(sandbox, 'f');
          assert.deepEqual({ code: err.code, message: err.message, disposed: sandbox.disposed }, expected);
        } finally {
          sandbox.dispose();
        }
      });
    }

    it('stops a top level whose thrown Error has a looping message getter: SCRIPT_INVALID, reason SCRIPT_TIMEOUT', async () => {
      const err = await serveErrorOf(
        createTestSandbox('const e = new Error("x"); Object.defineProperty(e, "message", { get() { for (;;) {} } }); throw e;', { pacer: new CallPacer({ mode }), limits: TIGHT_LIMITS }),
      );
      assert.equal(err.code, 'SCRIPT_INVALID');
      assert.equal(err.details?.['reason'], 'SCRIPT_TIMEOUT');
      assert.equal(err.message, `the script's top level ran past its ${LIMIT_MS} ms time limit`);
    });

    it('stops an endless top-level loop with SCRIPT_INVALID', async () => {
      const err = await serveErrorOf(createTestSandbox('for (;;) {}', { pacer: new CallPacer({ mode }), limits: TIGHT_LIMITS }));
      assert.equal(err.code, 'SCRIPT_INVALID');
      assert.equal(err.details?.['reason'], 'SCRIPT_TIMEOUT');
      assert.equal(err.message, `the script's top level ran past its ${LIMIT_MS} ms time limit`);
    });
  });
}

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

  it('answers SCRIPT_MEMORY_LIMIT and replaces the isolate when memory kept in a global fills it, call by call (#14)', async () => {
    // Typed arrays live outside the V8 heap: past the limit their allocation fails with a RangeError
    // the isolate survives, so memory kept in a global once failed every later call for ever.
    const script = `
      let keep = [];
      function typed() { keep.push(new Float32Array(1e6)); return keep.length }
      function plain() { keep.push(new Array(1e6).fill(1)); return keep.length }
      function held() { return keep.length }`;
    for (const fn of ['typed', 'plain']) {
      const replica = await createTestReplica(script);
      replicas.push(replica);
      let err: ServeError | undefined;
      for (let i = 0; i < 50 && err === undefined; i++) {
        err = await replica.call(fn, [], budget()).then(() => undefined, (e: unknown) => e as ServeError);
      }
      assert.ok(err instanceof ServeError, `${fn}: the limit was never reached`);
      assert.equal(err.code, 'SCRIPT_MEMORY_LIMIT', `${fn}: ${err.message}`);
      assert.equal(err.message, `${fn}() reached the sandbox memory limit of ${TEST_LIMITS.memoryLimitMb} MB`);
      assert.equal((await replica.call('held', [], budget())).value, 0, `${fn}: a new isolate, the global's memory gone`);
      assert.equal(replica.rebuilds, 1);
      assert.equal((await replica.call(fn, [], budget())).value, 1, `${fn}: calls work again`);
    }
  });

  it('answers SCRIPT_MEMORY_LIMIT when a call cannot allocate because a global holds the memory, though the filler caught its error (#14)', async () => {
    const script = `
      let keep = [];
      function fill() { try { for (;;) keep.push(new Float32Array(1e5)) } catch (e) { return e.name + ': ' + e.message } }
      function take(n) { return new Float32Array(n).length }
      function held() { return keep.length }`;
    const replica = await createTestReplica(script);
    replicas.push(replica);
    assert.equal((await replica.call('fill', [], budget())).value, 'RangeError: Array buffer allocation failed', 'the script may catch its own failure');
    const err = await serveErrorOf(replica.call('take', [1e6], budget()));
    assert.equal(err.code, 'SCRIPT_MEMORY_LIMIT');
    assert.equal(err.message, `take() reached the sandbox memory limit of ${TEST_LIMITS.memoryLimitMb} MB`);
    assert.equal((await replica.call('held', [], budget())).value, 0, 'the isolate was replaced');
    assert.equal(replica.rebuilds, 1);
    assert.equal((await replica.call('take', [1e6], budget())).value, 1e6);
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
