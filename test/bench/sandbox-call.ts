/**
 * Micro-benchmark of one Sandbox: µs per call on the sync path and on the async path, plus a
 * Float32Array(784) round trip and the time to create a sandbox. Run by hand (not part of npm test):
 *   node --no-node-snapshot --import tsx test/bench/sandbox-call.ts
 */
import { performance } from 'node:perf_hooks';
import { createLogBudget, Sandbox, type FlowModel, type SandboxLimits } from '../../src/worker/sandbox-host/index.js';
import { IRIS_MODEL, irisBridge, memoryLogger } from '../helpers/sandbox-fixtures.js';

const LIMITS: SandboxLimits = { timeoutMs: 1000, memoryLimitMb: 64, maxLogLines: 1000, maxLogBytes: 262_144, maxResultBytes: 8 * 2 ** 20 };
const SCRIPT = `
function syncAdd(a, b) { return a + b }
async function asyncAdd(a, b) { return a + b }
function scale(pixels) { return pixels.map((p) => p / 255) }
function logOne(x) { console.log('value', x); return x }
async function viaModel(x) { const out = await model.run({ dense_1_input: [x] }); return argmax(out.dense_4) }
function prepare(args) { return args }
function postprocess(outputs) { return outputs }
`;

/** A model step that answers at once, so the flow rows time the sandbox alone. */
const INSTANT_ROWS = { rows: [[[0.1, 0.2, 0.7]]], names: ['dense_4'], split: false };
const instantModel: FlowModel = {
  runSync: () => JSON.stringify(INSTANT_ROWS),
  run: async () => INSTANT_ROWS,
};
const FLOW_ARGS = { X: [{ dense_1_input: [5.1, 3.5, 1.4, 0.2] }] };

/** The predict flow in one entry, against the two calls it replaced (prepare, then postprocess). */
async function measureFlow(sandbox: Sandbox, calls: number, oneEntry: boolean): Promise<number> {
  const plan = { files: false, prepare: 'prepare', postprocess: true } as const;
  const once = async () => {
    if (oneEntry) return sandbox.flow(FLOW_ARGS, createLogBudget(LIMITS), plan, instantModel);
    await sandbox.call('prepare', [FLOW_ARGS], createLogBudget(LIMITS));
    return sandbox.call('postprocess', [[[0.1, 0.2, 0.7]]], createLogBudget(LIMITS));
  };
  for (let i = 0; i < Math.min(2000, calls); i++) await once();
  const started = performance.now();
  for (let i = 0; i < calls; i++) await once();
  return ((performance.now() - started) * 1000) / calls;
}

async function measure(sandbox: Sandbox, fn: string, args: unknown[], calls: number): Promise<number> {
  for (let i = 0; i < Math.min(2000, calls); i++) await sandbox.call(fn, args, createLogBudget(LIMITS));
  const started = performance.now();
  for (let i = 0; i < calls; i++) await sandbox.call(fn, args, createLogBudget(LIMITS));
  return ((performance.now() - started) * 1000) / calls;
}

const createStarted = performance.now();
const sandbox = await Sandbox.create({ script: SCRIPT, limits: LIMITS, model: IRIS_MODEL, bridge: irisBridge, log: memoryLogger().log });
const firstCreateMs = performance.now() - createStarted;
const again = performance.now();
for (let i = 0; i < 20; i++) (await Sandbox.create({ script: SCRIPT, limits: LIMITS, model: IRIS_MODEL, bridge: irisBridge, log: memoryLogger().log })).dispose();
const createMs = (performance.now() - again) / 20;

const rows: [string, number][] = [
  ['sync call  syncAdd(1, 2)', await measure(sandbox, 'syncAdd', [1, 2], 50_000)],
  ['async call asyncAdd(1, 2)', await measure(sandbox, 'asyncAdd', [1, 2], 10_000)],
  ['sync call  scale(Float32Array(784)) -> Float32Array(784)', await measure(sandbox, 'scale', [new Float32Array(784)], 20_000)],
  ['sync call  logOne(1) with one console.log line', await measure(sandbox, 'logOne', [1], 20_000)],
  ['async call viaModel([1,2,3,4]) through model.run', await measure(sandbox, 'viaModel', [[1, 2, 3, 4]], 5_000)],
  ['predict flow prepare -> model -> postprocess, one entry', await measureFlow(sandbox, 20_000, true)],
  ['the same as two calls, prepare() then postprocess()', await measureFlow(sandbox, 20_000, false)],
];
sandbox.dispose();

console.log(`node ${process.version}, isolated-vm 5, ${new Date().toISOString()}`);
console.log(`Sandbox.create: first ${firstCreateMs.toFixed(1)} ms, then ${createMs.toFixed(2)} ms each (prelude code cache warm)`);
for (const [label, us] of rows) console.log(`${label.padEnd(58)} ${us.toFixed(1).padStart(7)} µs/call`);
