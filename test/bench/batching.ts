/**
 * Dynamic batching (issue #16): mnist-8's CNN at 32 connections, one image per call, on two
 * deployments of the same version, batching off and on (max_batch_size 32, max_delay_us 0),
 * measured in alternating slices so drift on the machine falls on both alike, both on both serving
 * workers (replicas 2). mnist-8 itself fixes its batch dimension to 1, so the CNN runs as
 * test/fixtures/onnx-mnist8-free-batch on onnxruntime, and as its Keras copy
 * (test/fixtures/keras2-mnist-cnn-h5) on TF.js. Goal: req/s with batching at least 1.8x without.
 */
import { cpuMs, fmt, markdownTable, workersOf, type BenchContext, type BenchSection } from './context.js';
import { runInterleaved, runLoad, type LoadTarget } from './load.js';
import { fixture, mnistOipBodies } from './scenarios.js';

export const BATCHING = 'dynamic batching';
const CONNECTIONS = 32;
const GOAL = 1.8;
const MAX_BATCH_SIZE = 32;

/** A digit-like 28x28 image of raw 0..255 pixels, as mnist-8 takes it (NCHW), or its Keras copy (NHWC). */
function imageBody(layout: 'nchw' | 'nhwc', input: string): string {
  const rows = Array.from({ length: 28 }, (_, r) => Array.from({ length: 28 }, (_, c) => ((r * 28 + c) * 37) % 256));
  const image = layout === 'nchw' ? [rows] : rows.map((row) => row.map((v) => [v]));
  return JSON.stringify({ args: { X: [{ [input]: image }] } });
}

/** Rows and runs of a deployment's batched runs so far, from /metrics. */
async function batchCounts(url: string, deployment: string): Promise<{ runs: number; rows: number }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const read = (series: string) => Number(new RegExp(`^${series}\\{deployment="${deployment}"\\} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
  return { runs: read('inferbox_batch_size_count'), rows: read('inferbox_batch_size_sum') };
}

/**
 * CPU of the serving workers per request (µs), from /proc, while `target` alone is driven: what
 * batching cuts, whether or not the front leaves the machine room to turn it into req/s.
 */
async function workerCpuPerRequest(url: string, target: LoadTarget): Promise<number> {
  const pids = (await workersOf(url)).filter((w) => w.role === 'serving').map((w) => w.pid);
  const before = pids.reduce((n, pid) => n + cpuMs(pid), 0);
  const result = await runLoad(target);
  const used = pids.reduce((n, pid) => n + cpuMs(pid), 0) - before;
  return (used * 1000) / Math.max(1, result.ok + result.errors);
}

interface Model {
  readonly label: string;
  readonly name: string;
  readonly file: string;
  readonly body: string | Buffer;
  /** Where the calls go: the deployment's /api/v1 predict, or its Open Inference Protocol infer. */
  readonly path?: (deployment: string) => string;
  readonly contentType?: string;
  readonly headers?: Readonly<Record<string, string>>;
}

const oipBinary = mnistOipBodies().binary;

/** The same CNN on both runtimes: mnist-8 with a free batch dimension on onnxruntime, its Keras copy on TF.js. */
const MODELS: readonly Model[] = [
  { label: 'mnist-8 CNN, ONNX on onnxruntime', name: 'mnist-free-batch', file: 'onnx-mnist8-free-batch/mnist-8-free-batch.onnx', body: imageBody('nchw', 'Input3') },
  { label: 'same CNN, Keras .h5 on TF.js', name: 'mnist-keras-batch', file: 'keras2-mnist-cnn-h5/mnist-cnn.h5', body: imageBody('nhwc', 'conv2d_input') },
  // The same image as Triton's clients send it: the front's cost per call is lower (no 784-number
  // JSON to parse and frame), so the worker's share, which batching cuts, is larger.
  {
    label: 'mnist-8 CNN, ONNX, OIP binary tensors',
    name: 'mnist-oip-batch',
    file: 'onnx-mnist8-free-batch/mnist-8-free-batch.onnx',
    body: oipBinary.body,
    path: (deployment) => `/v2/models/${deployment}/infer`,
    contentType: oipBinary.contentType,
    headers: oipBinary.headers,
  },
];

export async function batchingScenario(ctx: BenchContext): Promise<BenchSection> {
  const { client, server, seconds } = ctx;
  const rows: (string | number)[][] = [];
  const lines: string[] = [];
  const slices = Math.max(2, Math.round(seconds / 2));
  for (const model of MODELS) {
    await client.publishModel({ name: model.name, files: [fixture(model.file)] });
    const off = await client.createDeployment({ deployment_name: `${model.name}-off`, model_name: model.name, replicas: 2 });
    const on = await client.createDeployment({ deployment_name: `${model.name}-on`, model_name: model.name, replicas: 2, max_batch_size: MAX_BATCH_SIZE, max_delay_us: 0 });
    const target = (name: string, token: string): LoadTarget => ({
      url: `${server.url}${model.path ? model.path(name) : `/api/v1/svc/${name}/predict`}`,
      token,
      body: model.body,
      contentType: model.contentType ?? 'application/json',
      ...(model.headers ? { headers: model.headers } : {}),
      connections: CONNECTIONS,
      seconds,
    });
    ctx.progress(`${BATCHING}: ${model.label} @ ${CONNECTIONS}, off/on in ${slices} alternating slice pairs of ${fmt(seconds / slices)} s ... `);
    const before = await batchCounts(server.url, `${model.name}-on`);
    const r = await runInterleaved(target(`${model.name}-off`, off.access_token), target(`${model.name}-on`, on.access_token), { slices, sliceSeconds: seconds / slices, settleSeconds: 0.5 });
    const after = await batchCounts(server.url, `${model.name}-on`);
    const ratio = r.b.rps / r.a.rps;
    const cpuSeconds = Math.max(2, seconds / 2);
    const cpuOff = await workerCpuPerRequest(server.url, { ...target(`${model.name}-off`, off.access_token), seconds: cpuSeconds });
    const cpuOn = await workerCpuPerRequest(server.url, { ...target(`${model.name}-on`, on.access_token), seconds: cpuSeconds });
    const meanBatch = (after.rows - before.rows) / Math.max(1, after.runs - before.runs);
    ctx.progress(`off ${Math.round(r.a.rps)} req/s, on ${Math.round(r.b.rps)} req/s, ratio ${ratio.toFixed(2)}; workers' CPU per call ${cpuOff.toFixed(0)} -> ${cpuOn.toFixed(0)} µs\n`);
    rows.push([model.label, 'off', CONNECTIONS, fmt(r.a.p50Ms), fmt(r.a.p99Ms), Math.round(r.a.rps), r.a.errors, '', cpuOff.toFixed(0)]);
    rows.push([model.label, `on (max_batch_size ${MAX_BATCH_SIZE})`, CONNECTIONS, fmt(r.b.p50Ms), fmt(r.b.p99Ms), Math.round(r.b.rps), r.b.errors, meanBatch.toFixed(1), cpuOn.toFixed(0)]);
    const pairs = r.pairRpsRatios.map((x) => x.toFixed(2)).join(', ');
    lines.push(`- ${model.label}: req/s with batching / without **${ratio.toFixed(2)}** (goal >= ${GOAL}; per slice pair: ${pairs}); the serving workers' CPU per call with / without ${(cpuOn / cpuOff).toFixed(2)}`);
  }
  const table = markdownTable(['model', 'batching', 'connections', 'p50 ms', 'p99 ms', 'req/s', 'errors', 'images per run', 'workers µs CPU per call'], ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r'], rows);
  return {
    title: BATCHING,
    markdown:
      `${table}\n\n${lines.join('\n')}\n` +
      `- one 28x28 image per call (JSON, or the binary tensor extension on the OIP row), max_delay_us 0; each model's two deployments on both serving workers (replicas 2), measured in ${slices} alternating slice pairs; images per run: the mean of inferbox_batch_size over the measured time; workers' CPU per call: /proc/<pid>/stat of the serving workers (10 ms ticks) while each deployment alone is driven at ${CONNECTIONS} connections.`,
  };
}
