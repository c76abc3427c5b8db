import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { InferboxClient } from '../../src/client/index.js';
import { fixtureFile, MNIST_ONNX } from '../helpers/fixtures.js';
import { rejectsApi } from '../helpers/http.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const MNIST_FREE_BATCH = 'onnx-mnist8-free-batch/mnist-8-free-batch.onnx';
/** Each call's own preprocessing and postprocessing around the model step: inverted pixels in, the digit out. */
const SCRIPT = 'function prepare(args) { return { X: args.X.map((r) => ({ Input3: r.Input3.map((c) => c.map((row) => row.map((v) => 255 - v))) })) }; }\nfunction postprocess(outputs) { const logits = outputs[0].flat(); return [logits.indexOf(Math.max(...logits))]; }';
/** Long enough that calls sent together meet in one run even on a loaded machine; only the waiting depends on it. */
const DELAY_US = 50_000;

/** A digit-like 28x28 image, different for each seed (raw 0..255 pixels, as mnist-8 takes). */
const image = (seed: number) => [Array.from({ length: 28 }, (_, r) => Array.from({ length: 28 }, (_, c) => ((r * 28 + c) * (seed * 2 + 7) + seed * 13) % 256))];

/** The requests of one concurrent burst: 1 to 3 images each, in every orientation, some records of several rows. */
function mnistBodies(n: number, seed = 0): Record<string, unknown>[] {
  return Array.from({ length: n }, (_, i) => {
    const rows = 1 + (i % 3);
    const images = Array.from({ length: rows }, (_, r) => image(seed + i * 3 + r));
    if (i % 4 === 1) return { X: images.map((img) => [img]) }; // rows
    if (i % 4 === 2) return { X: { columns: ['Input3'], data: images.map((img) => [img]) } }; // split table
    if (i % 4 === 3) return { X: [{ Input3: images }] }; // one record of several rows
    return { X: images.map((img) => ({ Input3: img })) };
  });
}

/** A series' value from a /metrics text; 0 when absent. */
function metric(text: string, name: string, labels: Record<string, string>): number {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const inner = line.slice(name.length + 1, line.indexOf('}'));
    const have = new Set(inner.split(','));
    if (want.every((w) => have.has(w)) && have.size === want.length) return Number(line.slice(line.indexOf('}') + 2));
  }
  return 0;
}

describe('dynamic batching: concurrent calls share model runs, answers as without it', () => {
  let server: TestServer;
  let admin: InferboxClient;
  const tokens: Record<string, InferboxClient> = {};
  const rawTokens: Record<string, string> = {};
  const metrics = async () => (await fetch(`${server.url}/metrics`)).text();

  before(async () => {
    // One serving worker, so every call of a deployment reaches the same batcher.
    server = await startTestServer({ env: { INFERBOX_WORKERS_COUNT: '1' } });
    admin = server.client;
    await admin.publishModel({ name: 'mlp', files: [fixtureFile('keras2-mnist-mlp-h5/mnist.h5')] });
    await admin.publishModel({ name: 'mnist', files: [fixtureFile(MNIST_ONNX)] });
    await admin.publishModel({ name: 'mnist-n', files: [fixtureFile(MNIST_FREE_BATCH)] });
    const deploy = async (name: string, model: string, options: { maxBatchSize?: number; maxDelayUs?: number; script?: string; replicas?: number } = {}) => {
      const created = await admin.deploy({ modelName: model, deploymentName: name, ...options });
      tokens[name] = admin.withToken(created.access_token);
      rawTokens[name] = created.access_token;
      return created;
    };
    await deploy('mnist-plain', 'mnist-n');
    await deploy('mnist-batched', 'mnist-n', { maxBatchSize: 64, maxDelayUs: DELAY_US });
    await deploy('mlp-plain', 'mlp');
    await deploy('mlp-batched', 'mlp', { maxBatchSize: 64, maxDelayUs: DELAY_US });
    // A call holds one of its sandboxes for its whole flow: calls meet at the model step only with several.
    await deploy('script-plain', 'mnist-n', { script: SCRIPT, replicas: 4 });
    await deploy('script-batched', 'mnist-n', { script: SCRIPT, replicas: 4, maxBatchSize: 64, maxDelayUs: DELAY_US });
  });
  after(() => server.close());

  it('shows the settings in the deployment view, off by default', async () => {
    const plain = await admin.getDeployment('mnist-plain');
    assert.equal(plain.max_batch_size, 1);
    assert.equal(plain.max_delay_us, 0);
    const batched = await admin.getDeployment('mnist-batched');
    assert.equal(batched.max_batch_size, 64);
    assert.equal(batched.max_delay_us, DELAY_US);
  });

  it('refuses batching for a model whose batch dimension is fixed, and settings over the caps', async () => {
    await rejectsApi(admin.deploy({ modelName: 'mnist', deploymentName: 'fixed', maxBatchSize: 8 }), 400, 'REQUEST_INVALID', /max_batch_size 8 needs a model .*free first \(batch\) dimension.*input 'Input3' has a fixed first dimension \(1\)/);
    // max_batch_size 1 is batching off: any model takes it.
    const off = await admin.deploy({ modelName: 'mnist', deploymentName: 'fixed-off', maxBatchSize: 1 });
    assert.equal(off.max_batch_size, 1);
    await rejectsApi(admin.patchDeployment('fixed-off', { max_batch_size: 4 }), 400, 'REQUEST_INVALID', /fixed first dimension/);
    await rejectsApi(admin.deploy({ modelName: 'mnist-n', deploymentName: 'big', maxBatchSize: 257 }), 400, 'REQUEST_INVALID', /max_batch_size must be at most 256 \(limits\.maxBatchSizeCap\), got 257/);
    await rejectsApi(admin.deploy({ modelName: 'mnist-n', deploymentName: 'slow', maxBatchSize: 4, maxDelayUs: 100_001 }), 400, 'REQUEST_INVALID', /max_delay_us must be at most 100000 \(limits\.maxBatchDelayUsCap\), got 100001/);
    await rejectsApi(admin.deploy({ modelName: 'mnist-n', deploymentName: 'zero', maxBatchSize: 0 }), 400, 'REQUEST_INVALID', /max_batch_size/);
    await rejectsApi(admin.deploy({ modelName: 'mnist-n', deploymentName: 'negative', maxDelayUs: -1 }), 400, 'REQUEST_INVALID', /max_delay_us/);
    // A batched deployment cannot move to a version that fixes the batch dimension.
    await admin.publishModel({ name: 'mnist-n', files: [fixtureFile(MNIST_ONNX)] });
    await rejectsApi(admin.patchDeployment('mnist-batched', { model_version: 2 }), 400, 'REQUEST_INVALID', /version 2's input 'Input3' has a fixed first dimension/);
    assert.equal((await admin.patchDeployment('fixed-off', { max_delay_us: 10 })).max_delay_us, 10);
    await admin.deleteDeployment('fixed-off');
    assert.deepEqual((await admin.listDeployments()).map((d) => d.deployment_name).sort(), ['mlp-batched', 'mlp-plain', 'mnist-batched', 'mnist-plain', 'script-batched', 'script-plain']);
  });

  it('answers every call of a concurrent burst exactly as without batching (1 to 3 images a call, every orientation)', async () => {
    const bodies = mnistBodies(24);
    const expected = await Promise.all(bodies.map((X) => tokens['mnist-plain']!.predict('mnist-plain', X)));
    const labels = { deployment: 'mnist-batched' };
    const before = await metrics();
    const got = await Promise.all(bodies.map((X) => tokens['mnist-batched']!.predict('mnist-batched', X)));
    got.forEach((g, i) => assert.deepEqual(g.result, expected[i]!.result, `call ${i}`));
    const text = await metrics();
    const runs = metric(text, 'inferbox_batch_size_count', labels) - metric(before, 'inferbox_batch_size_count', labels);
    const rows = metric(text, 'inferbox_batch_size_sum', labels) - metric(before, 'inferbox_batch_size_sum', labels);
    assert.equal(rows, bodies.reduce((n, _, i) => n + 1 + (i % 3), 0), 'every image ran in a counted run');
    assert.ok(runs >= 1 && runs < bodies.length, `${bodies.length} calls ran in fewer runs (${runs})`);
    // And as the original mnist-8 (batch dimension fixed to 1) answers each image.
    const original = await admin.deploy({ modelName: 'mnist', deploymentName: 'mnist-original' });
    const one = await admin.withToken(original.access_token).predict('mnist-original', bodies[0]!);
    assert.deepEqual(got[0]!.result, one.result);
    await admin.deleteDeployment('mnist-original');
  });

  it('batches Open Inference Protocol calls too: a burst of /v2 infer answers as without batching, counted in /metrics', async () => {
    const infer = async (name: string, i: number) => {
      const rows = 1 + (i % 3);
      const data = Array.from({ length: rows }, (_, r) => image(i * 3 + r)).flat(3);
      const res = await fetch(`${server.url}/v2/models/${name}/infer`, {
        method: 'POST',
        headers: { authorization: `Bearer ${rawTokens[name]}`, 'content-type': 'application/json' },
        body: JSON.stringify({ id: String(i), inputs: [{ name: 'Input3', shape: [rows, 1, 28, 28], datatype: 'FP32', data }] }),
      });
      assert.equal(res.status, 200);
      return (await res.json()) as { id: string; outputs: { name: string; shape: number[]; data: number[] }[] };
    };
    const n = 18;
    const expected = await Promise.all(Array.from({ length: n }, (_, i) => infer('mnist-plain', i)));
    const labels = { deployment: 'mnist-batched' };
    const before = await metrics();
    const got = await Promise.all(Array.from({ length: n }, (_, i) => infer('mnist-batched', i)));
    got.forEach((g, i) => assert.deepEqual(g, { ...expected[i]!, model_name: 'mnist-batched' }, `call ${i}`));
    const text = await metrics();
    const runs = metric(text, 'inferbox_batch_size_count', labels) - metric(before, 'inferbox_batch_size_count', labels);
    const rows = metric(text, 'inferbox_batch_size_sum', labels) - metric(before, 'inferbox_batch_size_sum', labels);
    assert.equal(rows, Array.from({ length: n }, (_, i) => 1 + (i % 3)).reduce((a, b) => a + b), 'every image ran in a counted run');
    assert.ok(runs >= 1 && runs < n, `${n} calls ran in fewer runs (${runs})`);
    const v2 = { deployment: 'mnist-batched', function: 'v2.infer', status: '200' };
    assert.equal(metric(text, 'inferbox_calls_total', v2) - metric(before, 'inferbox_calls_total', v2), n);
  });

  it('answers a Keras model on TF.js in a burst exactly as without batching', async () => {
    const input = (await admin.getVersion('mlp')).inputs[0]!.name;
    const bodies = Array.from({ length: 16 }, (_, i) => ({ X: Array.from({ length: 1 + (i % 3) }, (_, r) => ({ [input]: image(i * 3 + r)[0]!.map((row) => row.map((v) => v / 255)) })) }));
    const expected = await Promise.all(bodies.map((X) => tokens['mlp-plain']!.predict('mlp-plain', X)));
    const got = await Promise.all(bodies.map((X) => tokens['mlp-batched']!.predict('mlp-batched', X)));
    got.forEach((g, i) => assert.deepEqual(g.result, expected[i]!.result, `call ${i}`));
  });

  it('fails a bad call alone: the others in its burst answer', async () => {
    const bad = [
      { X: [{ Input3: [[1, 2, 3]] }] }, // not 1x28x28
      { X: [{ Input3: image(1).map((c) => c.map((row) => row.map((v, i) => (i === 5 ? 'x' : v)))) }] }, // not a number
      { X: [{ pixels: image(2) }] }, // unknown input
    ];
    const good = mnistBodies(9, 100);
    const expected = await Promise.all(good.map((X) => tokens['mnist-plain']!.predict('mnist-plain', X)));
    const calls = [...good.slice(0, 3), bad[0]!, ...good.slice(3, 6), bad[1]!, ...good.slice(6), bad[2]!];
    const token = (await admin.request<{ access_token: string }>('POST', '/api/v1/deployments/mnist-batched/token')).access_token;
    tokens['mnist-batched'] = admin.withToken(token);
    const answers = await Promise.all(calls.map((X) => fetch(`${server.url}/api/v1/svc/mnist-batched/predict`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ args: X }) }).then(async (r) => ({ status: r.status, body: (await r.json()) as { result?: unknown; error?: { code: string } } }))));
    assert.deepEqual(answers.map((a) => a.status), [200, 200, 200, 422, 200, 200, 200, 422, 200, 200, 200, 422]);
    assert.deepEqual([answers[3]!, answers[7]!, answers[11]!].map((a) => a.body.error?.code), ['INPUT_SHAPE_MISMATCH', 'INPUT_DTYPE_MISMATCH', 'INPUT_UNKNOWN']);
    const okAnswers = answers.filter((a) => a.status === 200);
    okAnswers.forEach((a, i) => assert.deepEqual(a.body.result, expected[i]!.result, `good call ${i}`));
  });

  it('batches the model step of a script flow, each call still running its own script', async () => {
    const bodies = Array.from({ length: 16 }, (_, i) => ({ X: Array.from({ length: 1 + (i % 3) }, (_, r) => ({ Input3: image(i * 5 + r) })) }));
    const expected = await Promise.all(bodies.map((X) => tokens['script-plain']!.predict('script-plain', X)));
    const labels = { deployment: 'script-batched' };
    const before = await metrics();
    const got = await Promise.all(bodies.map((X) => tokens['script-batched']!.predict('script-batched', X)));
    got.forEach((g, i) => assert.deepEqual(g.result, expected[i]!.result, `call ${i}`));
    assert.equal((got[0]!.result as unknown[]).length, 1);
    const runs = metric(await metrics(), 'inferbox_batch_size_count', labels) - metric(before, 'inferbox_batch_size_count', labels);
    assert.ok(runs >= 1 && runs < bodies.length, `${bodies.length} calls ran in fewer runs (${runs})`);
    // One sandbox runs one flow at a time: its model step runs as without batching, and answers the same.
    const single = await admin.deploy({ modelName: 'mnist-n', deploymentName: 'script-single', modelVersion: 1, script: SCRIPT, maxBatchSize: 64, maxDelayUs: DELAY_US });
    const alone = await Promise.all(bodies.map((X) => admin.withToken(single.access_token).predict('script-single', X)));
    alone.forEach((g, i) => assert.deepEqual(g.result, expected[i]!.result, `call ${i} with one sandbox`));
    assert.equal(metric(await metrics(), 'inferbox_batch_size_count', { deployment: 'script-single' }), 0);
    await admin.deleteDeployment('script-single');
  });

  it('counts calls by status and times each stage per deployment and function in /metrics, as the deployment stats count them', async () => {
    const labels = { deployment: 'mnist-batched', function: 'predict' };
    const before = await metrics();
    const n = 16;
    const bodies = Array.from({ length: n }, (_, i) => ({ X: [{ Input3: image(i) }] }));
    await Promise.all(bodies.map((X) => tokens['mnist-batched']!.predict('mnist-batched', X)));
    await rejectsApi(tokens['mnist-batched']!.predict('mnist-batched', { X: [{ Input3: [1, 2] }] }), 422, 'INPUT_SHAPE_MISMATCH', /Input3/);
    const text = await metrics();
    const delta = (name: string, extra: Record<string, string> = {}) => metric(text, name, { ...labels, ...extra }) - metric(before, name, { ...labels, ...extra });
    assert.equal(delta('inferbox_calls_total', { status: '200' }), n);
    assert.equal(delta('inferbox_calls_total', { status: '422' }), 1);
    assert.equal(delta('inferbox_call_duration_seconds_count'), n + 1);
    // Every call a worker took has a queue stage; the failed one failed in its preprocessing.
    assert.equal(delta('inferbox_call_stage_seconds_count', { stage: 'queue' }), n + 1);
    for (const stage of ['preprocess', 'inference', 'postprocess']) assert.equal(delta('inferbox_call_stage_seconds_count', { stage }), n, stage);
    // The same calls as the deployment stats count.
    const stats = await admin.request<{ functions: { function: string; count: number; errors: number }[] }>('GET', '/api/v1/deployments/mnist-batched/stats');
    const predict = stats.functions.find((f) => f.function === 'predict')!;
    assert.equal(metric(text, 'inferbox_calls_total', { ...labels, status: '200' }) + metric(text, 'inferbox_calls_total', { ...labels, status: '422' }), predict.count);
    // A burst of one-image calls ran in runs of more than one image.
    const single = metric(text, 'inferbox_batch_size_bucket', { deployment: 'mnist-batched', le: '1' }) - metric(before, 'inferbox_batch_size_bucket', { deployment: 'mnist-batched', le: '1' });
    const runs = metric(text, 'inferbox_batch_size_count', { deployment: 'mnist-batched' }) - metric(before, 'inferbox_batch_size_count', { deployment: 'mnist-batched' });
    assert.ok(runs >= 1 && runs > single, `some run took more than one image (${runs} runs, ${single} of one)`);
    assert.equal(metric(text, 'inferbox_batch_size_sum', { deployment: 'mnist-batched' }) - metric(before, 'inferbox_batch_size_sum', { deployment: 'mnist-batched' }), n);
    // A deployment without batching has no batch-size series, but the same call series.
    assert.equal(metric(text, 'inferbox_batch_size_count', { deployment: 'mnist-plain' }), 0);
    assert.ok(metric(text, 'inferbox_calls_total', { deployment: 'mnist-plain', function: 'predict', status: '200' }) > 0);
  });
});
