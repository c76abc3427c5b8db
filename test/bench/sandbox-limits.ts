/**
 * How soon a limit stops a script: ms from the call to its error, for each way a script can run
 * into the time limit (the goal: within twice the limit), at the sandbox and over HTTP. Run by hand
 * (not part of npm test, which asserts the codes and never a duration):
 *   npm run build && node --no-node-snapshot --import tsx test/bench/sandbox-limits.ts [--runs 10]
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { createLogBudget, Sandbox, type FlowModel, type SandboxLimits } from '../../src/worker/sandbox-host/index.js';
import { fixtureFile, IRIS_ONNX } from '../helpers/fixtures.js';
import { startTestServer } from '../helpers/server.js';
import { IRIS_MODEL, irisBridge, memoryLogger } from '../helpers/sandbox-fixtures.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '10' } } });
const RUNS = Number(values.runs);
const LIMITS: SandboxLimits = { timeoutMs: 150, memoryLimitMb: 32, maxLogLines: 50, maxLogBytes: 4096, maxResultBytes: 8 * 2 ** 20 };
const IRIS_ARGS = { X: [{ float_input: [5.1, 3.5, 1.4, 0.2] }] };

const instantModel: FlowModel = {
  runSync: () => JSON.stringify({ rows: [[[0.1, 0.2, 0.7]]], names: ['dense_4'], split: false }),
  run: async () => ({ rows: [[[0.1, 0.2, 0.7]]], names: ['dense_4'], split: false }),
};

/** [what, script, how to run into the limit once: resolves with the error code] */
const CASES: [string, string, (sandbox: Sandbox) => Promise<unknown>][] = [
  ['synchronous endless loop', 'function f() { for (;;) {} }', (s) => s.call('f', [], createLogBudget(LIMITS))],
  ['promise that never settles', 'async function f() { await new Promise(() => {}) }', (s) => s.call('f', [], createLogBudget(LIMITS))],
  ['endless microtask loop', 'async function f() { for (;;) await null }', (s) => s.call('f', [], createLogBudget(LIMITS))],
  ['loop after model.run', 'async function f() { await model.run({ dense_1_input: [[1, 2, 3, 4]] }); for (;;) {} }', (s) => s.call('f', [], createLogBudget(LIMITS))],
  ['getter on the result that loops', 'function f() { return { get trap() { for (;;) {} } } }', (s) => s.call('f', [], createLogBudget(LIMITS))],
  ['Error whose message getter loops', 'function f() { const e = new Error("x"); Object.defineProperty(e, "message", { get() { for (;;) {} } }); throw e }', (s) => s.call('f', [], createLogBudget(LIMITS))],
  ['endless loop in a predict flow', 'function prepare(a) { return a }\nfunction postprocess(o) { for (;;) {} }', async (s) => s.flow({ X: [{ dense_1_input: [1, 2, 3, 4]}] }, createLogBudget(LIMITS), { files: false, prepare: 'prepare', postprocess: true }, instantModel)],
];

async function timeToError(work: () => Promise<unknown>): Promise<{ ms: number; code: string }> {
  const started = performance.now();
  try {
    await work();
  } catch (err) {
    return { ms: performance.now() - started, code: (err as { code?: string }).code ?? String(err) };
  }
  throw new Error('expected an error');
}

function summary(what: string, limitMs: number, samples: { ms: number; code: string }[]): string {
  const ms = samples.map((s) => s.ms).sort((a, b) => a - b);
  const codes = [...new Set(samples.map((s) => s.code))].join(',');
  const median = ms[Math.floor(ms.length / 2)]!;
  const max = ms.at(-1)!;
  const verdict = max < 2 * limitMs ? 'ok' : 'OVER 2x';
  return `${what.padEnd(42)} ${codes.padEnd(20)} median ${median.toFixed(0).padStart(5)} ms (${(median / limitMs).toFixed(2)}x)  max ${max.toFixed(0).padStart(5)} ms (${(max / limitMs).toFixed(2)}x)  ${verdict}`;
}

console.log(`node ${process.version}, ${RUNS} runs each, ${new Date().toISOString()}`);
console.log(`Sandbox, limit ${LIMITS.timeoutMs} ms:`);
for (const [what, script, run] of CASES) {
  const samples = [];
  for (let i = 0; i < RUNS; i++) {
    const sandbox = await Sandbox.create({ script, limits: LIMITS, model: IRIS_MODEL, bridge: irisBridge, log: memoryLogger().log });
    samples.push(await timeToError(() => run(sandbox)));
    sandbox.dispose();
  }
  console.log(summary(what, LIMITS.timeoutMs, samples));
}
for (const [what, script] of [['top level endless loop', 'for (;;) {}'], ['init that never settles', 'async function init() { await new Promise(() => {}) }']] as const) {
  const samples = [];
  for (let i = 0; i < RUNS; i++) samples.push(await timeToError(() => Sandbox.create({ script, limits: LIMITS, model: IRIS_MODEL, bridge: irisBridge, log: memoryLogger().log })));
  console.log(summary(what, LIMITS.timeoutMs, samples));
}

// Over HTTP: the real front and one worker (built, when run after npm run build with INFERBOX_TEST_BUILT_WORKERS=1).
const HTTP_LIMIT_MS = 200;
const server = await startTestServer({ env: { INFERBOX_WORKERS_COUNT: '1', INFERBOX_LOG_LEVEL: 'silent' } });
try {
  await server.client.publishModel({ name: 'iris', files: [fixtureFile(IRIS_ONNX)] });
  console.log(`HTTP predict, deployment timeout_ms ${HTTP_LIMIT_MS}:`);
  const scripts: [string, string][] = [
    ['synchronous endless loop in prepare', 'function prepare(a) { for (;;) {} }'],
    ['promise that never settles in prepare', 'async function prepare(a) { await new Promise(() => {}); return a; }'],
    ['microtask loop in prepare', 'async function prepare(a) { for (;;) await null; }'],
  ];
  let n = 0;
  for (const [what, script] of scripts) {
    const name = `limit-${++n}`;
    const dep = await server.client.createDeployment({ deployment_name: name, model_name: 'iris', script, timeout_ms: HTTP_LIMIT_MS });
    const svc = server.client.withToken(dep.access_token);
    const samples = [];
    for (let i = 0; i < RUNS; i++) samples.push(await timeToError(() => svc.predict(name, IRIS_ARGS)));
    console.log(summary(what, HTTP_LIMIT_MS, samples));
  }
} finally {
  await server.close();
}
