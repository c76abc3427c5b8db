import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import ivm from 'isolated-vm';
import { ServeError } from '../../src/errors.js';
import { detailsFromSandbox, MAX_DETAILS_JSON_BYTES } from '../../src/worker/sandbox-host/error-details.js';
import { createLogBudget } from '../../src/worker/sandbox-host/index.js';
import { createTestSandbox, disposedAfter, irisBridge, serveErrorOf, TEST_LIMITS } from '../helpers/sandbox-fixtures.js';

const budget = () => createLogBudget(TEST_LIMITS);
const SANDBOX_GLOBALS = ['argmax', 'console', 'fail', 'model', 'reshape', 'softmax', 'tensor', 'topk'];

/** The globals of a bare isolated-vm context, to compare against. */
function bareGlobals(): string[] {
  const isolate = new ivm.Isolate({ memoryLimit: 8 });
  try {
    const context = isolate.createContextSync();
    return JSON.parse(context.evalSync('JSON.stringify(Object.getOwnPropertyNames(globalThis))') as string) as string[];
  } finally {
    isolate.dispose();
  }
}

describe('Sandbox boundary', () => {
  const make = disposedAfter((script) => createTestSandbox(script));

  it('gives nothing from the host through this.constructor.constructor and similar escapes', async () => {
    const sandbox = await make(`function probe() {
      const attempts = {
        viaThis: () => this.constructor.constructor('return process')(),
        viaFunction: () => Function('return require')(),
        viaConsole: () => console.log.constructor('return typeof process + typeof require + typeof Buffer')(),
        viaModelRun: () => model.run.constructor('return this')().process,
        viaArgs: () => (function () { return arguments.callee.constructor('return module')() })(),
        viaError: () => { let frames; Error.prepareStackTrace = (e, s) => s; try { null.x } catch (e) { frames = e.stack } Error.prepareStackTrace = undefined;
                          return frames.map((f) => String(f.getScriptNameOrSourceURL())).join(',') },
      };
      const out = {};
      for (const [name, attempt] of Object.entries(attempts)) {
        try { out[name] = String(attempt()) } catch (e) { out[name] = e.name + ': ' + e.message }
      }
      return out;
    }`);
    const { value } = await sandbox.call('probe', [], budget());
    const { viaError, ...rest } = value as Record<string, string>;
    assert.match(viaError!, /^script\.js,script\.js,/, 'call sites are the script\'s own');
    assert.doesNotMatch(viaError!, /\/|file:|node:|isolated-vm/, 'no host file in any frame');
    assert.deepEqual(rest, {
      viaThis: 'ReferenceError: process is not defined',
      viaFunction: 'ReferenceError: require is not defined',
      viaConsole: 'undefinedundefinedundefined',
      viaModelRun: 'undefined',
      viaArgs: 'ReferenceError: module is not defined',
    });
  });

  it('has no host globals: only the built-ins of a bare context plus the sandbox API', async () => {
    const sandbox = await make('function names() { return Object.getOwnPropertyNames(globalThis) }');
    const names = new Set((await sandbox.call('names', [], budget())).value as string[]);
    const removed = ['WebAssembly', 'SharedArrayBuffer', 'Atomics'];
    const expected = new Set([...bareGlobals().filter((n) => !removed.includes(n)), ...SANDBOX_GLOBALS, 'names']);
    assert.deepEqual([...names].sort(), [...expected].sort());
    for (const name of ['require', 'process', 'Buffer', 'setTimeout', 'setInterval', 'fetch', 'queueMicrotask', ...removed]) {
      assert.equal(names.has(name), false, `${name} must not exist`);
    }
  });

  it('keeps Object.prototype pollution inside the sandbox that did it', async () => {
    const polluter = await make('function pollute() { Object.prototype.polluted = "yes"; Array.prototype.push = null; return ({}).polluted }');
    const other = await make('function check() { return [typeof ({}).polluted, typeof [].push] }');
    assert.equal((await polluter.call('pollute', [], budget())).value, 'yes');
    assert.deepEqual((await other.call('check', [], budget())).value, ['undefined', 'function']);
    assert.equal(({} as Record<string, unknown>)['polluted'], undefined, 'the host is untouched');
  });

  it('keeps working when the script patches the built-ins the sandbox plumbing uses', async () => {
    const sandbox = await make(`function sabotage() {
      Array.prototype.push = () => { throw new Error('no push') };
      Array.prototype.join = () => 'hijacked';
      Map.prototype.get = () => undefined;
      Promise.prototype.then = function () { return this };
      Reflect.apply = () => 'hijacked';
      JSON.stringify = () => 'hijacked';
      String.prototype.split = () => [];
      return 'patched';
    }
    function after() { console.log({ ok: [1, 2] }); return { list: [1, 2, 3] } }
    function boom() { throw new Error('still described') }`);
    assert.equal((await sandbox.call('sabotage', [], budget())).value, 'patched');
    const result = await sandbox.call('after', [], budget());
    assert.deepEqual(result.value, { list: [1, 2, 3] });
    assert.equal(result.stdout.length, 1);
    const err = await serveErrorOf(sandbox.call('boom', [], budget()));
    assert.equal(err.code, 'SCRIPT_FAILED');
    assert.equal(err.message, 'still described');
  });

  it('settles calls for real when the script sets Object.prototype.then; the host never sees forged text (#14)', async () => {
    // Resolving a promise with an object reads its then: the prelude's envelopes once inherited this
    // one, the script answered the host's promise with text that is not JSON, and the worker exited.
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const sandbox = await make(`
        function patch() {
          Object.defineProperty(Object.prototype, 'then', { configurable: true, get() { return 'kind' in this ? (resolve) => resolve('not json{') : undefined } });
          return 'patched';
        }
        async function loud() { console.log('printed'); return 1 }
        async function quiet() { return 2 }
        async function throws() { throw new Error('thrown after await') }
        function plain() { return 3 }`);
      assert.equal((await sandbox.call('patch', [], budget())).value, 'patched');
      const loud = await sandbox.call('loud', [], budget());
      assert.deepEqual([loud.value, loud.stdout], [1, ['printed']]);
      assert.equal((await sandbox.call('quiet', [], budget())).value, 2);
      const err = await serveErrorOf(sandbox.call('throws', [], budget()));
      assert.equal(err.code, 'SCRIPT_FAILED');
      assert.equal(err.message, 'thrown after await');
      assert.equal((await sandbox.call('plain', [], budget())).value, 3);
      await new Promise((resolve) => setImmediate(resolve));
      assert.deepEqual(unhandled, [], 'nothing the script did reached the host outside the call');
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('cannot make the host run script code through setters planted on Array.prototype', async () => {
    const sandbox = await make(`function plant() {
      for (let i = 0; i < 8; i++) {
        Object.defineProperty(Array.prototype, i, { configurable: true,
          set(v) { Object.defineProperty(this, i, { get() { for (;;) {} }, enumerable: true }) },
          get() { for (;;) {} } });
      }
      return 'planted';
    }
    function after() { console.log('a', 'b'); return { items: [1, 2, 3] } }`);
    assert.equal((await sandbox.call('plant', [], budget())).value, 'planted');
    // The prelude builds its lists and copies results without indexed stores on script arrays, so
    // no planted accessor runs: the call answers normally, its output intact, and the isolate lives.
    const { value, stdout, stderr } = await sandbox.call('after', [], budget());
    assert.deepEqual(value, { items: [1, 2, 3] });
    assert.deepEqual([stdout, stderr], [['a b'], []]);
    assert.equal(sandbox.disposed, false);
  });

  it('answers a bridge error normally even with a throwing setter planted on Object.prototype.code', async () => {
    const sandbox = await createTestSandbox(
      `async function f() {
        Object.defineProperty(Object.prototype, 'code', { configurable: true, set() { throw { toString() { for (;;) {} } } } });
        try { await model.run({}) } catch (e) { return e.code }
      }`,
      { bridge: { ...irisBridge, runModel: async () => Promise.reject(new ServeError('INPUT_MISSING', 'no input')) } },
    );
    try {
      // Answered, not stopped by the limit: the planted setter never ran.
      assert.equal((await sandbox.call('f', [], budget())).value, 'INPUT_MISSING');
      assert.equal(sandbox.disposed, false);
    } finally {
      sandbox.dispose();
    }
  });

  it('refuses model.run outside a call, e.g. from a promise chain that outlives it', async () => {
    const sandbox = await make(`let leaked = 'pending';
      function start() {
        model.run({ dense_1_input: [[1, 2, 3, 4]] })
          .then(() => model.run({ dense_1_input: [[1, 2, 3, 4]] }))
          .then(() => { leaked = 'ran' }, (e) => { leaked = e.code + ': ' + e.message });
        return 'started';
      }
      function probe() { return leaked }`);
    assert.equal((await sandbox.call('start', [], budget())).value, 'started');
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal((await sandbox.call('probe', [], budget())).value, 'SCRIPT_FAILED: model.run() can only be used while a script function is running');
  });
});

describe('error details read back from the sandbox (#14)', () => {
  it('accepts only JSON text of an object within MAX_DETAILS_JSON_BYTES', () => {
    assert.deepEqual(detailsFromSandbox('{"input":"x","got":[1,3]}'), { input: 'x', got: [1, 3] });
    const atLimit = `{"k":"${'a'.repeat(MAX_DETAILS_JSON_BYTES - 8)}"}`;
    assert.equal(Buffer.byteLength(atLimit), MAX_DETAILS_JSON_BYTES);
    assert.notEqual(detailsFromSandbox(atLimit), null);
    const overInUtf8 = `{"k":"${'é'.repeat(MAX_DETAILS_JSON_BYTES / 2)}"}`;
    for (const raw of [{ input: 'x' }, `{"k":"${'a'.repeat(MAX_DETAILS_JSON_BYTES)}"}`, overInUtf8, '{"input":', '[1,2]', '"text"', 'null', '7', undefined]) {
      assert.equal(detailsFromSandbox(raw), null, String(raw).slice(0, 40));
    }
  });

  it('keeps a "__proto__" key an own key, touching no prototype', () => {
    const details = detailsFromSandbox('{"__proto__":{"polluted":true}}')!;
    assert.ok(Object.hasOwn(details, '__proto__'));
    assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
  });
});
