/**
 * The seed's PNG-to-digit call inside one worker, without HTTP: the mnist-png script's predict
 * flow (preprocess_files -> image() -> the mnist-8 model -> postprocess) through the real
 * ScriptHost, host bridge, model pool and onnxruntime, one call at a time, µs per call, for each
 * way of entering the isolate; and the model run alone, the floor of that call. Run by hand (not
 * part of npm test):
 *   node --no-node-snapshot --import tsx test/bench/png-flow.ts [--calls 5000] [--rounds 5]
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { PACKAGE_ROOT } from '../../src/package-info.js';
import type { InvokeRequest, ModelRef, ScriptRef } from '../../src/protocol/messages.js';
import { ModelPool } from '../../src/worker/models/model-pool.js';
import { runRecordsSync } from '../../src/worker/models/run-records.js';
import { resolveRuntime } from '../../src/worker/runtimes/index.js';
import { createHostBridge } from '../../src/worker/scripts/host-bridge.js';
import { invokeWithScript } from '../../src/worker/scripts/invoke-script.js';
import { ScriptHost } from '../../src/worker/scripts/script-host.js';
import { decodeToTensor } from '../../src/worker/images/index.js';
import { memoryLogger } from '../helpers/sandbox-fixtures.js';

const { values } = parseArgs({ options: { calls: { type: 'string', default: '5000' }, rounds: { type: 'string', default: '5' } } });
const CALLS = Number(values.calls);
const ROUNDS = Number(values.rounds);

const dir = join(PACKAGE_ROOT, 'test/fixtures/onnx-mnist8-cntk');
const model: ModelRef = { key: 'mnist@1', name: 'mnist', version: 1, format: 'onnx', dir, mainFile: 'mnist-8.onnx', bytes: 26_394 };
const { log } = memoryLogger();
const pool = new ModelPool({ maxModels: 4, maxBytes: 2 ** 30, log, load: (ref) => resolveRuntime(ref.format).load(ref.dir, ref.mainFile, { intraOpThreads: 1 }) });
const text = readFileSync(join(PACKAGE_ROOT, 'scripts-examples/mnist-png/script.js'), 'utf8');
const png = new Uint8Array(readFileSync(join(PACKAGE_ROOT, 'test/fixtures/mnist-png/ps_2.png')));
const limits = { timeoutMs: 1000, memoryLimitMb: 64, maxLogLines: 1000, maxLogBytes: 262_144, maxResultBytes: 8 * 2 ** 20 };

/** Wall µs per call, and CPU µs per call of this whole process (every thread: the isolates' too). */
async function perCall(call: () => unknown): Promise<[number, number]> {
  for (let i = 0; i < Math.min(1000, CALLS); i++) await call();
  const cpu = process.cpuUsage();
  const started = performance.now();
  for (let i = 0; i < CALLS; i++) await call();
  const wall = ((performance.now() - started) * 1000) / CALLS;
  const used = process.cpuUsage(cpu);
  return [wall, (used.user + used.system) / CALLS];
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const rows: Record<string, [number, number][]> = {};
const add = (name: string, us: [number, number]) => (rows[name] ??= []).push(us);

const hosts = {
  async: new ScriptHost(pool, (m) => createHostBridge(pool, m, { maxPixels: 40_000_000 }), log, 'async'),
  adaptive: new ScriptHost(pool, (m) => createHostBridge(pool, m, { maxPixels: 40_000_000 }), log, 'adaptive'),
};
const sets = {
  async: await hosts.async.get({ owner: 'png-async', revision: '1', text, limits, replicas: 1 } as ScriptRef, model),
  adaptive: await hosts.adaptive.get({ owner: 'png-adaptive', revision: '1', text, limits, replicas: 1 } as ScriptRef, model),
};
const request = (): InvokeRequest => ({
  t: 'invoke',
  id: 1,
  model,
  fn: 'predict',
  args: { files: { Input3: { name: 'ps_2.png', type: 'image/png', size: png.length, bytes: png } } },
});
const first = await invokeWithScript(request(), sets.async, pool);
if (first.resultJson !== '[{"Plus214_Output_0":2}]') throw new Error(`unexpected answer ${first.resultJson}`);

const lease = await pool.acquire(model);
const image = await decodeToTensor(png, { grayscale: true, width: 28, height: 28, layout: 'nchw' }, { field: 'Input3', name: 'ps_2.png' }, { maxPixels: 40e6 });
for (let r = 0; r < ROUNDS; r++) {
  add('mnist-8 run alone (runRecordsSync)', await perCall(() => runRecordsSync(lease.model, [{ Input3: image }])));
  add('image decode alone (decodeToTensor, small-png path)', await perCall(() => decodeToTensor(png, { grayscale: true, width: 28, height: 28, layout: 'nchw' }, { field: 'Input3', name: 'ps_2.png' }, { maxPixels: 40e6 })));
  add('mnist-png flow, sandbox.entries=async', await perCall(() => invokeWithScript(request(), sets.async, pool)));
  add('mnist-png flow, sandbox.entries=adaptive', await perCall(() => invokeWithScript(request(), sets.adaptive, pool)));
}
lease.release();

console.log(`µs per call (wall, and CPU of every thread of the process), median of ${ROUNDS} rounds of ${CALLS} calls`);
for (const [name, us] of Object.entries(rows)) {
  const wall = us.map((u) => u[0]);
  const cpu = us.map((u) => u[1]);
  console.log(`${name.padEnd(56)} wall ${median(wall).toFixed(1).padStart(7)}  cpu ${median(cpu).toFixed(1).padStart(7)}   (wall ${wall.map((u) => u.toFixed(0)).join(' ')})`);
}
process.exit(0);
