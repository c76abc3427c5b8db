import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { createLogBudget, type LogBudget, type Sandbox } from '../../src/worker/sandbox-host/index.js';
import { createTestSandbox, outputOf, serveErrorOf, TEST_LIMITS } from '../helpers/sandbox-fixtures.js';

const budget = () => createLogBudget(TEST_LIMITS);
const MARKER = `[inferbox] output truncated: ${TEST_LIMITS.maxLogLines} lines / ${TEST_LIMITS.maxLogBytes} bytes per request`;

describe('Sandbox console', () => {
  const sandboxes: Sandbox[] = [];
  after(() => sandboxes.forEach((s) => s.dispose()));
  const make = async (script: string, limits = TEST_LIMITS) => {
    const sandbox = await createTestSandbox(script, { limits });
    sandboxes.push(sandbox);
    return sandbox;
  };

  it('sends log/info/debug/dir to stdout and warn/error to stderr, in call order', async () => {
    const sandbox = await make(`function f() {
      console.log('one'); console.warn('w1'); console.info('two'); console.error('e1'); console.debug('three'); console.dir({ k: 1 });
      return null;
    }`);
    const { stdout, stderr } = await sandbox.call('f', [], budget());
    assert.deepEqual(stdout, ['one', 'two', 'three', '{ k: 1 }']);
    assert.deepEqual(stderr, ['w1', 'e1']);
  });

  it('returns only what the current call printed', async () => {
    const sandbox = await make('let n = 0; function f() { console.log(`call ${++n}`); return n }');
    assert.deepEqual((await sandbox.call('f', [], budget())).stdout, ['call 1']);
    assert.deepEqual((await sandbox.call('f', [], budget())).stdout, ['call 2']);
  });

  it('keeps output printed around awaits in an async call', async () => {
    const sandbox = await make('async function f() { console.log("a"); await null; console.log("b"); await model.run({ dense_1_input: [[1,2,3,4]] }); console.log("c") }');
    assert.deepEqual((await sandbox.call('f', [], budget())).stdout, ['a', 'b', 'c']);
  });

  it('formats arguments like Node: strings as they are, objects inspected, cycles marked, typed arrays summarised', async () => {
    const sandbox = await make(`function f() {
      const cyclic = { name: 'c' }; cyclic.self = cyclic;
      console.log('text', 42, -0, true, null, undefined, 10n, Symbol('s'));
      console.log({ a: 'x', 'b-c': [1, [2, [3, [4]]]], deep: { l1: { l2: { l3: {} } } } });
      console.log(cyclic);
      console.log(new Float32Array(784));
      console.log([function named() {}, () => 1, new Map([['k', 1]]), new Set([1]), new Date(0)]);
      console.log('%s has %d items (%i%%), %j', 'list', 3, 42.9, { j: 1 });
      console.log(new (class Point { constructor() { this.x = 1 } })(), Object.create(null));
      console.log(new Error('shown'));
    }`);
    const { stdout } = await sandbox.call('f', [], budget());
    assert.equal(stdout[0], 'text 42 -0 true null undefined 10n Symbol(s)');
    assert.equal(stdout[1], "{ a: 'x', 'b-c': [ 1, [ 2, [Array] ] ], deep: { l1: { l2: [Object] } } }", 'depth 2, as Node');
    assert.equal(stdout[2], "{ name: 'c', self: [Circular] }");
    assert.equal(stdout[3], 'Float32Array(784) [ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, ... 774 more items ]');
    assert.equal(stdout[4], "[ [Function: named], [Function: (anonymous)], Map(1) { 'k' => 1 }, Set(1) { 1 }, 1970-01-01T00:00:00.000Z ]");
    assert.equal(stdout[5], 'list has 3 items (42%), {"j":1}');
    assert.equal(stdout[6], 'Point { x: 1 } [Object: null prototype] {}');
    assert.match(stdout[7]!, /^Error: shown\n {4}at f \(script\.js:10:/);
  });

  it('caps lines per request and writes the truncation marker once', async () => {
    const sandbox = await make('function f(n) { for (let i = 0; i < n; i++) console.log(`line ${i}`) }');
    const shared: LogBudget = budget();
    const first = await sandbox.call('f', [TEST_LIMITS.maxLogLines + 10], shared);
    assert.equal(first.stdout.length, TEST_LIMITS.maxLogLines + 1);
    assert.equal(first.stdout.at(-1), MARKER);
    assert.equal(shared.truncated, true);
    const second = await sandbox.call('f', [5], shared);
    assert.deepEqual(second.stdout, [], 'the same request prints nothing more');
    const fresh = await sandbox.call('f', [2], budget());
    assert.deepEqual(fresh.stdout, ['line 0', 'line 1'], 'a new request has a new budget');
  });

  it('shares the budget across the calls of one request', async () => {
    const sandbox = await make('function f(n) { for (let i = 0; i < n; i++) console.log("x") }');
    const shared = budget();
    await sandbox.call('f', [30], shared);
    const second = await sandbox.call('f', [30], shared);
    assert.equal(second.stdout.length, TEST_LIMITS.maxLogLines - 30 + 1);
    assert.equal(second.stdout.at(-1), MARKER);
    assert.equal(shared.lines, 0);
  });

  it('caps bytes per request, cutting the line that crosses the limit', async () => {
    const sandbox = await make('function f() { console.log("é".repeat(1000)); console.error("z".repeat(10000)); console.log("never") }');
    const shared = budget();
    const { stdout, stderr } = await sandbox.call('f', [], shared);
    assert.deepEqual(stdout, ['é'.repeat(1000)]);
    assert.equal(Buffer.byteLength(stderr[0]!), TEST_LIMITS.maxLogBytes - 2000);
    assert.equal(stderr[1], MARKER);
    assert.equal(shared.bytes, 0);
  });

  it('survives a 10 MB log flood: truncated output, a small answer, and a usable sandbox', async () => {
    const limits = { ...TEST_LIMITS, timeoutMs: 5000, maxLogLines: 1000, maxLogBytes: 262_144 };
    // What keeps a flood cheap: once the request's budget is spent, console.log formats nothing.
    // The probe's message getter counts how often a logged value is formatted.
    const sandbox = await make(`let formatted = 0;
    const counts = { beforeCap: 0, afterCap: 0 };
    const probe = new Error('probe');
    Object.defineProperty(probe, 'message', { get() { formatted++; return 'probe' } });
    function flood() {
      formatted = 0;
      console.log(probe);
      counts.beforeCap = formatted;
      const chunk = 'x'.repeat(1024);
      for (let i = 0; i < 10 * 1024; i++) console.log(chunk);
      console.log('y'.repeat(10 * 1024 * 1024));
      for (let i = 0; i < 10 * 1024; i++) console.log(probe);
      counts.afterCap = formatted - counts.beforeCap;
      return 'done';
    }
    function probeCounts() { return counts }`, limits);
    const { value, stdout } = await sandbox.call('flood', [], createLogBudget(limits));
    assert.equal(value, 'done');
    assert.ok(stdout.length <= limits.maxLogLines + 1);
    assert.equal(stdout.at(-1), '[inferbox] output truncated: 1000 lines / 262144 bytes per request');
    assert.ok(stdout.reduce((n, line) => n + Buffer.byteLength(line), 0) <= limits.maxLogBytes + 100);
    const { beforeCap, afterCap } = (await sandbox.call('probeCounts', [], createLogBudget(limits))).value as { beforeCap: number; afterCap: number };
    assert.ok(beforeCap > 0, 'the probe counts the formatting of a logged value');
    assert.equal(afterCap, 0, 'after the cap, 10,240 more console.log calls formatted nothing');
    assert.equal((await sandbox.call('flood', [], createLogBudget(limits))).value, 'done');
  });

  it('keeps what a failing call printed in the error details', async () => {
    const sandbox = await make('function f() { console.log("step 1"); console.warn("careful"); throw new Error("broke") }');
    const err = await serveErrorOf(sandbox.call('f', [], budget()));
    const { stdout, stderr } = outputOf(err);
    assert.deepEqual(stdout, ['step 1']);
    assert.equal(stderr[0], 'careful');
    assert.match(stderr[1]!, /^Error: broke\n {4}at f \(script\.js:1:/);
  });

  it('writes console.trace and failed console.assert to stderr', async () => {
    const sandbox = await make('function f() {\n  console.trace("here");\n  console.assert(1 === 2, "math");\n  console.assert(true, "silent");\n}');
    const { stderr } = await sandbox.call('f', [], budget());
    assert.match(stderr[0]!, /^Trace: here\n {4}at f \(script\.js:2:11\)/);
    assert.equal(stderr[1], 'Assertion failed: math');
    assert.equal(stderr.length, 2);
  });
});
