import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
// The package's own export, as a user's code imports it (package.json "exports").
import { ApiError, Client, ConnectionError } from 'inferbox';
import { fixturePath, IRIS_ONNX, MNIST_ONNX } from '../helpers/fixtures.js';
import { ADMIN_TOKEN, startTestServer, type TestServer } from '../helpers/server.js';

/** The seed's notebook, in TypeScript: publish, test, deploy, predict, through `import { Client } from 'inferbox'`. */

const ROOT = new URL('../../', import.meta.url);

async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

describe('TypeScript SDK (import { Client } from "inferbox")', () => {
  let server: TestServer;
  let client: Client;
  before(async () => {
    server = await startTestServer({ env: { INFERBOX_WORKERS_COUNT: '1' } });
    client = new Client({ baseUrl: server.url, token: ADMIN_TOKEN });
  });
  after(() => server.close());

  it('runs the seed: publish from a path with x_test/y_test, testEndpoint, the test call, deploy, predict', async () => {
    const published = await client.publish(fixturePath(IRIS_ONNX), {
      name: 'iris',
      miningFunction: 'classification',
      xTest: [{ float_input: [5.1, 3.5, 1.4, 0.2] }, { float_input: [6.7, 3.0, 5.2, 2.3] }],
      yTest: [0, 2],
      description: 'A scikit-learn classifier',
    });
    assert.deepEqual(published, { model_name: 'iris', model_version: '1', evaluation: { metric: 'accuracy', value: 1, samples: 2, y_test_kind: 'labels' } });

    const test = await client.testEndpoint(published.model_name, published.model_version);
    assert.equal(test.access_token, ADMIN_TOKEN);
    assert.equal(test.endpoint_url, `${server.url}/api/v1/test`);
    assert.deepEqual(test.payload, { args: { X: [{ float_input: [5.1, 3.5, 1.4, 0.2] }], model_name: 'iris', model_version: '1' } });
    // What the seed does with it: POST the payload to the endpoint with the token.
    const res = await fetch(test.endpoint_url, { method: 'POST', headers: { authorization: `Bearer ${test.access_token}`, 'content-type': 'application/json' }, body: JSON.stringify(test.payload) });
    assert.equal(res.status, 200);
    const answer = (await res.json()) as { result: { output_label: number[] }[]; stdout: string[]; stderr: string[] };
    assert.deepEqual(answer.result[0]!.output_label, [0]);
    assert.deepEqual([answer.stdout, answer.stderr], [[], []]);

    const deployed = await client.deploy({ modelName: 'iris', deploymentName: 'iris-svc', modelVersion: published.model_version, replicas: 1 });
    assert.equal(deployed.endpoint_url, `${server.url}/api/v1/svc/iris-svc/predict`);
    assert.match(deployed.access_token, /^ibx_svc_/);
    const svc = client.withToken(deployed.access_token);
    const predicted = (await svc.predict('iris-svc', deployed.payload.args)) as { result: { output_label: number[] }[] };
    assert.deepEqual(predicted.result[0]!.output_label, [0]);
    assert.equal((await client.getVersion('iris')).evaluation?.value, 1);
  });

  it('saves a script, deploys it, and predicts with a PNG given as a path', async () => {
    await client.publish([{ name: 'mnist-8.onnx', data: readFileSync(fixturePath(MNIST_ONNX)) }], { name: 'mnist' });
    const template = await client.scriptTemplate('mnist', 1);
    assert.match(template, /function postprocess/);
    assert.equal(await client.getScript('mnist', 1), null);
    const saved = await client.saveScript('mnist', 1, readFileSync(new URL('scripts-examples/mnist-png/script.js', ROOT), 'utf8'));
    assert.deepEqual(saved.functions.sort(), ['postprocess', 'preprocess_files']);
    const tested = await client.testScript('mnist', 1, { files: { Input3: fixturePath('mnist-png/ps_2.png') } });
    assert.deepEqual(tested.result, [{ Plus214_Output_0: 2 }]);
    const deployed = await client.deploy({ modelName: 'mnist', deploymentName: 'mnist-svc', script: true });
    const answer = await client.withToken(deployed.access_token).predictFiles('mnist-svc', { Input3: fixturePath('mnist-png/ps_2.png') });
    assert.deepEqual(answer, { result: [{ Plus214_Output_0: 2 }] });
    const stats = await client.stats('mnist-svc');
    assert.equal(stats.functions[0]?.count, 1);
  });

  it('deploys with a preprocess block, changes and removes it, and puts labels from a file path (text and index_to_name.json)', async () => {
    const deployed = await client.deploy({ modelName: 'mnist', deploymentName: 'mnist-block', preprocess: { Input3: { fit: 'fill', scale: 1 } } });
    assert.deepEqual([deployed.preprocess, deployed.preprocess_inferred], [{ Input3: { fit: 'fill', scale: 1 } }, false]);
    assert.deepEqual((await client.patchDeployment('mnist-block', { preprocess: { Input3: { fit: 'cover' } } })).preprocess, { Input3: { fit: 'cover' } });
    const dir = await mkdtemp(join(tmpdir(), 'ibx-sdk-labels-'));
    const digits = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'];
    await writeFile(join(dir, 'digits.txt'), `${digits.join('\n')}\n`);
    await writeFile(join(dir, 'index_to_name.json'), JSON.stringify(Object.fromEntries(digits.map((d, i) => [String(i), ['n' + i, `digit ${d}`]]))));
    try {
      const fromText = await client.putLabelsFile('mnist-block', join(dir, 'digits.txt'), { topK: 2 });
      assert.deepEqual(fromText.labels, { top_k: 2, scores_set: 'auto', outputs: [{ output: 'Plus214_Output_0', count: 10, scores: 'softmax' }] });
      const svc = client.withToken(deployed.access_token);
      const two = (await svc.predictFiles('mnist-block', { Input3: fixturePath('mnist-png/ps_2.png') })).result as { Plus214_Output_0: { label: string }[] }[];
      assert.deepEqual(two[0]!.Plus214_Output_0.map((s) => s.label)[0], 'two');
      await client.putLabelsFile('mnist-block', join(dir, 'index_to_name.json'));
      const seven = (await svc.predictFiles('mnist-block', { Input3: fixturePath('mnist-png/ps_7.png') })).result as { Plus214_Output_0: { label: string }[] }[];
      assert.deepEqual(seven[0]!.Plus214_Output_0.map((s) => s.label)[0], 'digit seven');
    } finally {
      await rm(dir, { recursive: true });
    }
    await assert.rejects(client.patchDeployment('mnist-block', { preprocess: { Input3: { color: 'rgb' } } }), (e: unknown) => e instanceof ApiError && e.status === 400 && e.code === 'REQUEST_INVALID' && /preprocess\.Input3\.color/.test(e.message));
    const removed = await client.patchDeployment('mnist-block', { preprocess: null });
    assert.deepEqual([removed.preprocess, removed.preprocess_inferred], [null, false]);
    await client.deleteDeployment('mnist-block');
  });

  it('rotates a token: the old one is refused with AUTH_INVALID_TOKEN', async () => {
    const deployed = await client.deploy({ modelName: 'iris', deploymentName: 'iris-rotate' });
    const { access_token } = await client.rotateToken('iris-rotate');
    await assert.rejects(client.withToken(deployed.access_token).predict('iris-rotate', deployed.payload.args), (e: unknown) => e instanceof ApiError && e.status === 401 && e.code === 'AUTH_INVALID_TOKEN');
    assert.ok(await client.withToken(access_token).predict('iris-rotate', deployed.payload.args));
  });

  it('throws ApiError with the server’s code, status and message, and ConnectionError when nobody listens', async () => {
    await assert.rejects(client.getVersion('nope'), (e: unknown) => e instanceof ApiError && e.status === 404 && e.code === 'MODEL_NOT_FOUND' && /nope/.test(e.message) && typeof e.requestId === 'string');
    const port = await closedPort();
    await assert.rejects(new Client({ baseUrl: `http://127.0.0.1:${port}`, token: 'x' }).listModels(), (e: unknown) => e instanceof ConnectionError && e.message.includes(String(port)));
  });

  it('takes its server and token from INFERBOX_URL and INFERBOX_TOKEN', async () => {
    const saved = { url: process.env.INFERBOX_URL, token: process.env.INFERBOX_TOKEN };
    process.env.INFERBOX_URL = server.url;
    process.env.INFERBOX_TOKEN = ADMIN_TOKEN;
    try {
      const fromEnv = new Client();
      assert.equal(fromEnv.baseUrl, server.url);
      assert.ok((await fromEnv.listModels()).some((m) => m.model_name === 'iris'));
    } finally {
      for (const [key, value] of [['INFERBOX_URL', saved.url], ['INFERBOX_TOKEN', saved.token]] as const) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
    }
  });
});
