import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { ServeError } from '../../src/errors.js';
import { CallPacer, createLogBudget, type HostBridge, type Sandbox } from '../../src/worker/sandbox-host/index.js';
import { createTestSandbox, disposedAfter, ENTRY_MODES, IRIS_MODEL, irisBridge, outputOf, serveErrorOf, TEST_LIMITS, TIGHT_LIMITS } from '../helpers/sandbox-fixtures.js';

const budget = () => createLogBudget(TEST_LIMITS);
/** An error's details without the call's output (stdout, stderr). */
const withoutOutput = (err: ServeError) => {
  const { stdout: _stdout, stderr: _stderr, ...rest } = err.details ?? {};
  return rest;
};

describe('Sandbox calls', () => {
  const make = disposedAfter((script) => createTestSandbox(script));
  const makeSmallResults = disposedAfter((script) => createTestSandbox(script, { limits: { ...TEST_LIMITS, maxResultBytes: 1000 } }));

  it('returns the value of a sync function with copied arguments', async () => {
    const sandbox = await make('function add(a, b) { return { sum: a.n + b, list: [a.n, b] } }');
    const result = await sandbox.call('add', [{ n: 2 }, 3], budget());
    // Plain JSON with nothing printed leaves as JSON text: kept, so callers pass it on without serializing it again.
    assert.deepEqual(result, { value: { sum: 5, list: [2, 3] }, json: true, text: '{"sum":5,"list":[2,3]}', stdout: [], stderr: [] });
  });

  it('marks a value that left as structured data (a typed array, or with output) as not JSON', async () => {
    const sandbox = await make('function typed() { return new Float32Array([1]) }\nfunction loud() { console.log("hi"); return 1 }');
    assert.equal((await sandbox.call('typed', [], budget())).json, false);
    const loud = await sandbox.call('loud', [], budget());
    assert.deepEqual(loud, { value: 1, json: false, stdout: ['hi'], stderr: [] });
  });

  it('awaits an async function and returns its resolved value', async () => {
    const sandbox = await make('async function later(x) { await null; await Promise.resolve(); return x * 2 }');
    assert.equal((await sandbox.call('later', [21], budget())).value, 42);
  });

  it('returns a Float32Array passed in as a Float32Array, inside nested values too', async () => {
    const sandbox = await make('function echo(x) { return { x, doubled: x.map((v) => v * 2), ints: new Int32Array([7]) } }');
    const input = new Float32Array([1.5, 2.5]);
    const { value } = await sandbox.call('echo', [input], budget());
    const out = value as { x: Float32Array; doubled: Float32Array; ints: Int32Array };
    assert.ok(out.x instanceof Float32Array);
    assert.deepEqual([...out.x], [1.5, 2.5]);
    assert.ok(out.doubled instanceof Float32Array);
    assert.deepEqual([...out.doubled], [3, 5]);
    assert.ok(out.ints instanceof Int32Array);
    assert.deepEqual([...input], [1.5, 2.5], 'the caller keeps its buffer');
  });

  it('refuses a JSON text result over maxResultBytes with SCRIPT_RESULT_TOO_LARGE, parsing nothing, and keeps the sandbox (#14)', async () => {
    const sandbox = await makeSmallResults(`function text(n) { return 'x'.repeat(n) }
      async function later(n) { await null; return 'x'.repeat(n) }`);
    for (const fn of ['text', 'later']) {
      const err = await serveErrorOf(sandbox.call(fn, [999], budget()));
      assert.equal(err.code, 'SCRIPT_RESULT_TOO_LARGE');
      assert.equal(err.status, 413);
      assert.ok(err.message.startsWith(`${fn}() returned a result of 1001 bytes as JSON, over the limit of 1000 bytes (max_result_bytes`), err.message);
      assert.deepEqual(err.details, { stdout: [], stderr: [], limit: 'max_result_bytes', maxResultBytes: 1000, resultBytes: 1001 });
      assert.deepEqual(await sandbox.call(fn, [998], budget()), { value: 'x'.repeat(998), json: true, text: `"${'x'.repeat(998)}"`, stdout: [], stderr: [] });
    }
    assert.equal(sandbox.disposed, false);
  });

  it('copies Date, Map, Set, bigint and shared objects out as data', async () => {
    const sandbox = await make(`function data() {
      const shared = { k: 1 };
      return { when: new Date(0), m: new Map([['a', shared]]), s: new Set([2]), big: 2n ** 70n, shared, again: [shared] };
    }`);
    const value = (await sandbox.call('data', [], budget())).value as Record<string, unknown>;
    assert.ok(value['when'] instanceof Date);
    assert.deepEqual(value['m'], new Map([['a', { k: 1 }]]));
    assert.deepEqual(value['s'], new Set([2]));
    assert.equal(value['big'], 2n ** 70n);
    assert.equal((value['again'] as unknown[])[0], value['shared'], 'an object reached twice (not a cycle) leaves as one copy');
  });

  it('fails a cyclic result with SCRIPT_FAILED naming the path of the cycle, and the sandbox stays usable (#14)', async () => {
    const sandbox = await make(`
      function list() { const o = { name: 'o' }; o.self = o; return [o] }
      function deep() { const a = { b: { c: [1, {}] } }; a.b.c[1].back = a.b; return a }
      function inMap() { const m = new Map(); m.set('me', { m }); return { m } }
      function later() { const o = {}; o['the key'] = o; return Promise.resolve(o) }
      function ok() { return 1 }`);
    const cases: [string, string][] = [
      ['list', 'list() returned a cyclic value at result[0].self'],
      ['deep', 'deep() returned a cyclic value at result.b.c[1].back'],
      ['inMap', 'inMap() returned a cyclic value at result.m.me.m'],
      ['later', 'later() returned a cyclic value at result["the key"]'],
    ];
    for (const [fn, message] of cases) {
      const err = await serveErrorOf(sandbox.call(fn, [], budget()));
      assert.equal(err.code, 'SCRIPT_FAILED', `${fn}: ${err.message}`);
      assert.ok(err.message.startsWith(message), `${fn}: ${err.message}`);
    }
    assert.equal((await sandbox.call('ok', [], budget())).value, 1);
    assert.equal(sandbox.disposed, false);
  });

  it('passes what JSON cannot carry unchanged both ways: NaN, Infinity, undefined, shared objects', async () => {
    // Plain JSON crosses as text (the fast path); anything else must take the structured copy.
    const sandbox = await make(`function echo(a) {
      const shared = { k: 1 };
      return { a, nan: NaN, inf: -Infinity, undef: undefined, list: [undefined, 1], pair: [shared, shared], seen: Number.isNaN(a.n) };
    }`);
    const { value } = await sandbox.call('echo', [{ n: NaN, i: Infinity, u: undefined }], budget());
    const out = value as { a: Record<string, unknown>; nan: number; inf: number; list: unknown[]; pair: object[]; seen: boolean };
    assert.equal(out.seen, true, 'NaN reached the script as NaN');
    assert.ok(Number.isNaN(out.a['n']) && out.a['i'] === Infinity && 'u' in out.a);
    assert.ok(Number.isNaN(out.nan) && out.inf === -Infinity && 'undef' in out);
    assert.deepEqual(out.list, [undefined, 1]);
    assert.equal(out.pair[0], out.pair[1]);
  });

  it('keeps a "__proto__" key of a JSON result an own key, without touching any prototype', async () => {
    const sandbox = await make(`function evil() { return JSON.parse('{"__proto__": {"polluted": true}, "x": 1}') }`);
    const value = (await sandbox.call('evil', [], budget())).value as Record<string, unknown>;
    assert.ok(Object.hasOwn(value, '__proto__'));
    assert.deepEqual(value['__proto__'], { polluted: true });
    assert.equal(Object.getPrototypeOf(value), Object.prototype);
    assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
  });

  it('lists top-level functions: declarations, async ones, and const/let/var bound to functions', async () => {
    const sandbox = await make(`
      function init(ctx) {}
      async function preprocess_files(args) { return args }
      const prepare = (args) => args;
      let postprocess = function (o) { return o };
      var predict = async (args) => { const inner = () => 1; return inner() };
      const notAFunction = 42;
      function helper() { function nested() {} return nested }
      obj = { method() {} };
      obj.method();
    `);
    assert.deepEqual([...sandbox.functions].sort(), ['helper', 'init', 'postprocess', 'predict', 'prepare', 'preprocess_files']);
  });

  it('does not list the sandbox globals as script functions, unless the script redefines one', async () => {
    const sandbox = await make('function argmax(a) { return "mine" }\nfunction f() { return softmax([0, 0]) }');
    assert.deepEqual([...sandbox.functions].sort(), ['argmax', 'f']);
    assert.equal((await sandbox.call('argmax', [[1, 2]], budget())).value, 'mine');
  });

  it('runs init(ctx) once with the model name, version, inputs and outputs', async () => {
    const sandbox = await make(`
      let seen = null; let calls = 0;
      function init(ctx) { seen = ctx.model; calls++; }
      function info() { return { seen, calls, global: { name: model.name, inputs: model.inputs } } }
    `);
    const { value } = await sandbox.call('info', [], budget());
    const { seen, calls, global } = value as { seen: Record<string, unknown>; calls: number; global: Record<string, unknown> };
    assert.equal(calls, 1);
    assert.deepEqual(seen, { name: IRIS_MODEL.name, version: IRIS_MODEL.version, inputs: IRIS_MODEL.inputs, outputs: IRIS_MODEL.outputs });
    assert.deepEqual(global, { name: IRIS_MODEL.name, inputs: IRIS_MODEL.inputs });
  });

  it('awaits an async init before the sandbox is ready', async () => {
    const sandbox = await make('let ready = false; async function init() { await null; ready = true }\nfunction isReady() { return ready }');
    assert.equal((await sandbox.call('isReady', [], budget())).value, true);
  });

  for (const mode of ENTRY_MODES) {
    it(`fails a call waiting on the host with INTERNAL when its sandbox is disposed meanwhile, not at its deadline (${mode} entries)`, async () => {
      let answer: () => void = () => undefined;
      const slow: HostBridge = {
        ...irisBridge,
        runModel: (feeds) => new Promise((resolve) => (answer = () => resolve(irisBridge.runModel(feeds)))),
      };
      const sandbox = await createTestSandbox('async function f() { return (await model.run({ dense_1_input: [[1, 2, 3, 4]] })).dense_4 }', {
        bridge: slow,
        pacer: new CallPacer({ mode }),
      });
      const call = sandbox.call('f', [], budget());
      await new Promise((resolve) => setTimeout(resolve, 50));
      sandbox.dispose();
      const err = await serveErrorOf(call);
      answer();
      assert.equal(err.code, 'INTERNAL');
      assert.equal(err.message, 'the sandbox was disposed while f() ran');
    });
  }

  it('fails with FUNCTION_NOT_FOUND for a function the script does not define', async () => {
    const sandbox = await make('const value = 1;');
    const err = await serveErrorOf(sandbox.call('predict', [], budget()));
    assert.equal(err.code, 'FUNCTION_NOT_FOUND');
    assert.deepEqual(outputOf(err), { stdout: [], stderr: [] });
    assert.equal(sandbox.disposed, false);
  });

  it('fails with SCRIPT_REJECTED and the message when the script calls fail()', async () => {
    const sandbox = await make('function prepare(args) { console.log("checking"); if (!args.X) fail("X is required"); return args }');
    const err = await serveErrorOf(sandbox.call('prepare', [{}], budget()));
    assert.equal(err.code, 'SCRIPT_REJECTED');
    assert.equal(err.message, 'X is required');
    assert.deepEqual(outputOf(err).stdout, ['checking']);
  });

  it('fails with SCRIPT_REJECTED when fail() is called after an await', async () => {
    const sandbox = await make('async function prepare() { await null; fail("late no") }');
    const err = await serveErrorOf(sandbox.call('prepare', [], budget()));
    assert.equal(err.code, 'SCRIPT_REJECTED');
    assert.equal(err.message, 'late no');
  });

  it('fails with SCRIPT_FAILED, the script message, and only the script stack lines in stderr', async () => {
    const sandbox = await make('function inner() {\n  throw new TypeError("bad input shape");\n}\nfunction outer() { return inner() }');
    const err = await serveErrorOf(sandbox.call('outer', [], budget()));
    assert.equal(err.code, 'SCRIPT_FAILED');
    assert.equal(err.message, 'bad input shape');
    assert.equal(err.details?.['errorName'], 'TypeError');
    const { stderr } = outputOf(err);
    assert.equal(stderr.length, 1);
    const lines = stderr[0]!.split('\n');
    assert.equal(lines[0], 'TypeError: bad input shape');
    assert.match(lines[1]!, /^ {4}at inner \(script\.js:2:9\)$/);
    assert.match(lines[2]!, /^ {4}at outer \(script\.js:4:/);
    assert.doesNotMatch(stderr[0]!, /isolated-vm|node_modules|file:|\/work\/|inferbox:prelude|<isolated-vm/);
    assert.equal(sandbox.disposed, false);
  });

  it('keeps the stack of an error thrown after an await', async () => {
    const sandbox = await make('async function f() {\n  await null;\n  throw new Error("async boom");\n}');
    const err = await serveErrorOf(sandbox.call('f', [], budget()));
    assert.equal(err.code, 'SCRIPT_FAILED');
    assert.equal(err.message, 'async boom');
    assert.match(outputOf(err).stderr[0]!, /at f \(script\.js:3:9\)/);
  });

  it('describes a thrown non-Error value as SCRIPT_FAILED', async () => {
    const sandbox = await make('function f() { throw { reason: "nope", code: 7 } }\nfunction g() { throw "plain" }');
    const err = await serveErrorOf(sandbox.call('f', [], budget()));
    assert.equal(err.code, 'SCRIPT_FAILED');
    assert.equal(err.message, "{ reason: 'nope', code: 7 }");
    assert.equal((await serveErrorOf(sandbox.call('g', [], budget()))).message, 'plain');
  });

  it('turns deep recursion into SCRIPT_FAILED RangeError and keeps serving', async () => {
    const sandbox = await make('function deep(n) { return deep(n + 1) + 1 }\nfunction ok() { return "still here" }');
    const err = await serveErrorOf(sandbox.call('deep', [0], budget()));
    assert.equal(err.code, 'SCRIPT_FAILED');
    assert.equal(err.details?.['errorName'], 'RangeError');
    assert.match(err.message, /Maximum call stack size exceeded/);
    assert.equal((await sandbox.call('ok', [], budget())).value, 'still here');
  });

  it('fails with SCRIPT_FAILED naming the path of a function in the result', async () => {
    const sandbox = await make('function f() { return { rows: [{ label: "a", fmt() {} }] } }');
    const err = await serveErrorOf(sandbox.call('f', [], budget()));
    assert.equal(err.code, 'SCRIPT_FAILED');
    assert.match(err.message, /f\(\) returned a function at result\.rows\[0\]\.fmt/);
  });

  it('copies plain data out of class instances and getters, evaluated inside the sandbox', async () => {
    const sandbox = await make('class P { constructor() { this.x = 1 } get y() { return 2 } }\nfunction f() { return { p: new P(), get z() { return 3 } } }');
    assert.deepEqual((await sandbox.call('f', [], budget())).value, { p: { x: 1 }, z: 3 });
  });
});

describe('Sandbox model.run', () => {
  const sandboxes: Sandbox[] = [];
  after(() => sandboxes.forEach((s) => s.dispose()));
  const make = async (script: string, bridge: HostBridge) => {
    const sandbox = await createTestSandbox(script, { bridge });
    sandboxes.push(sandbox);
    return sandbox;
  };

  it('sends copied feeds (typed arrays included) to the bridge and resolves with its outputs', async () => {
    const seen: Record<string, unknown>[] = [];
    const bridge: HostBridge = {
      ...irisBridge,
      async runModel(feeds) {
        seen.push(feeds);
        return { dense_4: [[0.1, 0.7, 0.2]] };
      },
    };
    const sandbox = await make(`async function predict(args) {
      const out = await model.run({ dense_1_input: tensor(new Float32Array(args.X[0]), [1, 4]) });
      return { label: argmax(out.dense_4), raw: out };
    }`, bridge);
    const { value } = await sandbox.call('predict', [{ X: [[5.1, 3.5, 1.4, 0.2]] }], budget());
    assert.deepEqual(value, { label: 1, raw: { dense_4: [[0.1, 0.7, 0.2]] } });
    const feed = seen[0]!['dense_1_input'] as { data: Float32Array; shape: number[] };
    assert.ok(feed.data instanceof Float32Array);
    assert.deepEqual([...feed.data].map((v) => Math.round(v * 10) / 10), [5.1, 3.5, 1.4, 0.2]);
    assert.deepEqual(feed.shape, [1, 4]);
  });

  const rejecting: HostBridge = {
    ...irisBridge,
    async runModel() {
      throw new ServeError('INPUT_SHAPE_MISMATCH', "input 'dense_1_input' expects [-1,4], got [1,3]");
    },
  };

  it('lets the script catch a bridge rejection as an Error with the server code and message', async () => {
    const sandbox = await make(`async function predict() {
      try { await model.run({ dense_1_input: [[1, 2, 3]] }) }
      catch (e) { return { isError: e instanceof Error, code: e.code, message: e.message } }
    }`, rejecting);
    assert.deepEqual((await sandbox.call('predict', [], budget())).value, {
      isError: true,
      code: 'INPUT_SHAPE_MISMATCH',
      message: "input 'dense_1_input' expects [-1,4], got [1,3]",
    });
  });

  it('fails the call with the bridge error code when the script does not catch it', async () => {
    const sandbox = await make('async function predict() { console.log("running"); return model.run({ dense_1_input: [[1, 2, 3]] }) }', rejecting);
    const err = await serveErrorOf(sandbox.call('predict', [], budget()));
    assert.equal(err.code, 'INPUT_SHAPE_MISMATCH');
    assert.equal(err.message, "input 'dense_1_input' expects [-1,4], got [1,3]");
    assert.deepEqual(outputOf(err).stdout, ['running']);
  });

  it('does not let a script forge a server code: a thrown { code } is SCRIPT_FAILED', async () => {
    const sandbox = await make('function f() { const e = new Error("forged"); e.code = "AUTH_INVALID_TOKEN"; throw e }', rejecting);
    assert.equal((await serveErrorOf(sandbox.call('f', [], budget()))).code, 'SCRIPT_FAILED');
  });

  const SHAPE = { input: 'dense_1_input', expected: [-1, 4], got: [1, 3] };
  const withDetails = (err: ServeError): HostBridge => ({
    ...irisBridge,
    async runModel() {
      throw err;
    },
  });
  const shapeMismatch = withDetails(new ServeError('INPUT_SHAPE_MISMATCH', "input 'dense_1_input' expects [-1,4], got [1,3]", SHAPE));

  it("carries the bridge error's details to the script and, uncaught, to the call's error (#14)", async () => {
    const sandbox = await make(`
      async function caught() { try { await model.run({}) } catch (e) { return e.details } }
      async function uncaught() { console.log("running"); return model.run({}) }`, shapeMismatch);
    assert.deepEqual((await sandbox.call('caught', [], budget())).value, SHAPE);
    const err = await serveErrorOf(sandbox.call('uncaught', [], budget()));
    assert.equal(err.code, 'INPUT_SHAPE_MISMATCH');
    assert.deepEqual(withoutOutput(err), SHAPE);
    assert.deepEqual(outputOf(err).stdout, ['running']);
  });

  it('keeps the host details of a bridge error the script changed and rethrew (#14)', async () => {
    const sandbox = await make(`async function f() {
      try { await model.run({}) } catch (e) {
        e.details.input = 'forged'; e.details.secret = 1;
        Object.defineProperty(e, 'details', { value: { admin: true } });
        throw e;
      }
    }`, shapeMismatch);
    const err = await serveErrorOf(sandbox.call('f', [], budget()));
    assert.equal(err.code, 'INPUT_SHAPE_MISMATCH');
    assert.deepEqual(withoutOutput(err), SHAPE);
  });

  it('does not let a script forge details: a thrown object or Error with code and details is SCRIPT_FAILED without them (#14)', async () => {
    const sandbox = await make(`
      function plain() { throw { code: 'INPUT_UNKNOWN', message: 'forged', details: { input: 'x', stdout: ['fake'] } } }
      function error() { const e = new Error('forged'); e.code = 'INPUT_UNKNOWN'; e.details = { input: 'x' }; throw e }
      async function borrowed() {
        // A real bridge error's code, on another object: the brand is the object, not its fields.
        const real = await model.run({}).catch((e) => e);
        const e = new Error('forged'); e.code = real.code; e.details = real.details; throw e;
      }`, shapeMismatch);
    for (const fn of ['plain', 'error', 'borrowed']) {
      const err = await serveErrorOf(sandbox.call(fn, [], budget()));
      assert.equal(err.code, 'SCRIPT_FAILED', fn);
      assert.deepEqual(Object.keys(err.details ?? {}).sort(), ['errorName', 'stderr', 'stdout'], fn);
      assert.deepEqual(err.details?.['stdout'], [], fn);
    }
  });

  it('sends no details over 4 KB of JSON, nor those of an unexposed error, into the sandbox (#14)', async () => {
    const big = withDetails(new ServeError('INPUT_UNKNOWN', 'big', { input: 'x'.repeat(5000) }));
    const hidden = withDetails(new ServeError('INTERNAL', 'hidden', { path: '/srv/secret' }));
    for (const bridge of [big, hidden]) {
      const sandbox = await make(`
        async function caught() { try { await model.run({}) } catch (e) { return [e.code, 'details' in e] } }
        async function uncaught() { return model.run({}) }`, bridge);
      const [code, has] = (await sandbox.call('caught', [], budget())).value as [string, boolean];
      assert.equal(has, false, code);
      assert.deepEqual(withoutOutput(await serveErrorOf(sandbox.call('uncaught', [], budget()))), {});
    }
  });

  it('hides an unexpected host failure behind INTERNAL "model.run() failed"', async () => {
    const broken: HostBridge = {
      ...irisBridge,
      async runModel() {
        throw new Error('/srv/models/secret path exploded');
      },
    };
    const sandbox = await make('async function f() { try { await model.run({}) } catch (e) { return [e.code, e.message] } }', broken);
    assert.deepEqual((await sandbox.call('f', [], budget())).value, ['INTERNAL', 'model.run() failed']);
  });

  it('rejects feeds that are not an object with a TypeError in the script', async () => {
    const sandbox = await make('async function f() { try { await model.run([1, 2]) } catch (e) { return e.name + ": " + e.message } }', rejecting);
    assert.match((await sandbox.call('f', [], budget())).value as string, /^TypeError: model\.run\(feeds\): feeds must be an object/);
  });
});

describe('Sandbox.create', () => {
  it('fails with SCRIPT_INVALID naming the line and column of a syntax error', async () => {
    const err = await serveErrorOf(createTestSandbox('function ok() {}\n\nfunction broken() {\n  return 1 +;\n}'));
    assert.equal(err.code, 'SCRIPT_INVALID');
    assert.match(err.message, /line 4, column 13/);
    assert.match(err.message, /Unexpected token/);
    assert.equal(err.details?.['line'], 4);
    assert.equal(err.details?.['column'], 13);
  });

  it('fails with SCRIPT_INVALID and the error when the top level throws', async () => {
    const err = await serveErrorOf(createTestSandbox('console.log("loading");\nconst table = undefined.rows;'));
    assert.equal(err.code, 'SCRIPT_INVALID');
    assert.match(err.message, /TypeError: Cannot read properties of undefined/);
    const { stdout, stderr } = outputOf(err);
    assert.deepEqual(stdout, ['loading']);
    assert.match(stderr[0]!, /^TypeError: Cannot read properties of undefined \(reading 'rows'\)\n {4}at script\.js:2:25$/);
    assert.doesNotMatch(stderr[0]!, /isolated-vm|file:/);
  });

  it('fails with SCRIPT_INVALID, the message, and the output when init throws', async () => {
    const err = await serveErrorOf(createTestSandbox('function init(ctx) { console.log("init", ctx.model.name); throw new Error("no labels file") }'));
    assert.equal(err.code, 'SCRIPT_INVALID');
    assert.match(err.message, /no labels file/);
    assert.deepEqual(outputOf(err).stdout, ['init keras-iris']);
  });

  it('fails with SCRIPT_INVALID when init never settles', async () => {
    const err = await serveErrorOf(createTestSandbox('async function init() { await new Promise(() => {}) }', { limits: TIGHT_LIMITS }));
    assert.equal(err.code, 'SCRIPT_INVALID');
    assert.equal(err.details?.['reason'], 'SCRIPT_TIMEOUT');
    assert.equal(err.message, `init(ctx) failed: init() ran past its ${TIGHT_LIMITS.timeoutMs} ms time limit`);
  });

  it('is a ServeError for every kind of bad script', async () => {
    for (const script of ['}', 'throw 1', 'function init() { fail("x") }']) {
      const err = await createTestSandbox(script).then(
        (s) => (s.dispose(), null),
        (e: unknown) => e,
      );
      assert.ok(err instanceof ServeError && err.code === 'SCRIPT_INVALID', `${script} -> ${String(err)}`);
    }
  });
});
