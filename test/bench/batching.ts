/**
 * Dynamic batching (issue #16): mnist-8's CNN at 32 connections, one image per call, on two
 * deployments of the same version, batching off and on (max_batch_size 32, max_delay_us 0),
 * measured in alternating slices so drift on the machine falls on both alike, both on both serving
 * workers (replicas 2). mnist-8 itself fixes its batch dimension to 1, so the CNN runs as
 * test/fixtures/onnx-mnist8-free-batch on onnxruntime, and as its Keras copy
 * (test/fixtures/keras2-mnist-cnn-h5) on TF.js. Goal: req/s with batching at least 1.8x without.
 */
import { fmt, markdownTable, type BenchContext, type BenchSection } from './context.js';
import { runInterleaved, type LoadTarget } from './load.js';
import { fixture } from './scenarios.js';

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

interface Model {
  readonly label: string;
  readonly name: string;
  readonly file: string;
  readonly body: string;
}

/** The same CNN on both runtimes: mnist-8 with a free batch dimension on onnxruntime, its Keras copy on TF.js. */
const MODELS: readonly Model[] = [
  { label: 'mnist-8 CNN, ONNX on onnxruntime', name: 'mnist-free-batch', file: 'onnx-mnist8-free-batch/mnist-8-free-batch.onnx', body: imageBody('nchw', 'Input3') },
  { label: 'same CNN, Keras .h5 on TF.js', name: 'mnist-keras-batch', file: 'keras2-mnist-cnn-h5/mnist-cnn.h5', body: imageBody('nhwc', 'conv2d_input') },
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
    const target = (name: string, token: string): LoadTarget => ({ url: `${server.url}/api/v1/svc/${name}/predict`, token, body: model.body, contentType: 'application/json', connections: CONNECTIONS, seconds });
    ctx.progress(`${BATCHING}: ${model.label} @ ${CONNECTIONS}, off/on in ${slices} alternating slice pairs of ${fmt(seconds / slices)} s ... `);
    const before = await batchCounts(server.url, `${model.name}-on`);
    const r = await runInterleaved(target(`${model.name}-off`, off.access_token), target(`${model.name}-on`, on.access_token), { slices, sliceSeconds: seconds / slices, settleSeconds: 0.5 });
    const after = await batchCounts(server.url, `${model.name}-on`);
    const ratio = r.b.rps / r.a.rps;
    const meanBatch = (after.rows - before.rows) / Math.max(1, after.runs - before.runs);
    ctx.progress(`off ${Math.round(r.a.rps)} req/s, on ${Math.round(r.b.rps)} req/s, ratio ${ratio.toFixed(2)}\n`);
    rows.push([model.label, 'off', CONNECTIONS, fmt(r.a.p50Ms), fmt(r.a.p99Ms), Math.round(r.a.rps), r.a.errors, '']);
    rows.push([model.label, `on (max_batch_size ${MAX_BATCH_SIZE})`, CONNECTIONS, fmt(r.b.p50Ms), fmt(r.b.p99Ms), Math.round(r.b.rps), r.b.errors, meanBatch.toFixed(1)]);
    const pairs = r.pairRpsRatios.map((x) => x.toFixed(2)).join(', ');
    lines.push(`- ${model.label}: req/s with batching / without **${ratio.toFixed(2)}** (goal >= ${GOAL}; per slice pair: ${pairs})`);
  }
  const table = markdownTable(['model', 'batching', 'connections', 'p50 ms', 'p99 ms', 'req/s', 'errors', 'images per run'], ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r'], rows);
  return {
    title: BATCHING,
    markdown:
      `${table}\n\n${lines.join('\n')}\n` +
      `- one 28x28 image per call (JSON), max_delay_us 0; each model's two deployments on both serving workers (replicas 2), measured in ${slices} alternating slice pairs; images per run: the mean of inferbox_batch_size over the measured time.`,
  };
}
