import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { argmax, fixtureFile, fixturePath, flattenDeep, IRIS_ONNX, maxRelativeDiff, MNIST_ONNX, nestValues, readTensorProto } from '../helpers/fixtures.js';
import { float16AddOnnx, oipSpecExampleOnnx, stringLabelTreeOnnx } from '../helpers/onnx-models.js';
import { ADMIN_TOKEN, startTestServer, type TestServer } from '../helpers/server.js';

/**
 * The Open Inference Protocol over REST (docs/api/oip.md): the specification's example requests
 * (kserve/open-inference-protocol, specification/protocol/inference_rest.md) and requests written
 * the way tritonclient's HTTP client writes them (JSON, and the binary tensor extension), on ONNX
 * and Keras models, compared with what /api/v1 answers for the same inputs.
 */

const IRIS_ROWS = [
  [5.1, 3.5, 1.4, 0.2],
  [6.7, 3.0, 5.2, 2.3],
  [5.9, 3.0, 4.2, 1.5],
];
const MNIST_PAIRS = [0, 1, 2].map((i) => ({ input: readTensorProto(`onnx-mnist8-cntk/mnist_input_${i}.pb`), output: readTensorProto(`onnx-mnist8-cntk/mnist_output_${i}.pb`) }));

interface OipOutput {
  name: string;
  datatype: string;
  shape: number[];
  data?: unknown[];
  parameters?: { binary_data_size?: number };
}
interface OipAnswer {
  status: number;
  headers: Headers;
  body: { model_name?: string; model_version?: string; id?: string; outputs?: OipOutput[]; error?: string } & Record<string, unknown>;
  /** With the binary extension: each binary output's bytes by name. */
  binary: Map<string, Buffer>;
}

/** One exchange, reading the binary extension's answer the way tritonclient does (Inference-Header-Content-Length). */
async function oip(server: TestServer, method: string, path: string, init: { token?: string | null; json?: unknown; body?: Buffer; headers?: Record<string, string> } = {}): Promise<OipAnswer> {
  const headers: Record<string, string> = { ...init.headers };
  if (init.token !== null) headers.authorization = `Bearer ${init.token ?? ADMIN_TOKEN}`;
  let body: Buffer | string | undefined = init.body;
  if (init.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(init.json);
  }
  const res = await fetch(`${server.url}${path}`, { method, headers, ...(body !== undefined ? { body } : {}) });
  const bytes = Buffer.from(await res.arrayBuffer());
  const headerLength = res.headers.get('inference-header-content-length');
  const jsonBytes = headerLength === null ? bytes.length : Number(headerLength);
  const parsed = JSON.parse(bytes.toString('utf8', 0, jsonBytes)) as OipAnswer['body'];
  const binary = new Map<string, Buffer>();
  let at = jsonBytes;
  for (const o of parsed.outputs ?? []) {
    const size = o.parameters?.binary_data_size;
    if (size === undefined) continue;
    binary.set(o.name, bytes.subarray(at, at + size));
    at += size;
  }
  if (headerLength !== null) assert.equal(at, bytes.length, 'the binary outputs fill the body');
  return { status: res.status, headers: res.headers, body: parsed, binary };
}

/** A request with the binary tensor extension, as tritonclient's InferInput.set_data_from_numpy(binary_data=True) builds it. */
function binaryRequest(header: unknown, tensors: readonly ArrayBufferView[]): { body: Buffer; headers: Record<string, string> } {
  // tritonclient writes the header with json.dumps: ", " and ": " separators.
  const json = Buffer.from(JSON.stringify(header).replace(/,"/g, ', "').replace(/":/g, '": '), 'utf8');
  return { body: Buffer.concat([json, ...tensors.map((t) => Buffer.from(t.buffer, t.byteOffset, t.byteLength))]), headers: { 'Inference-Header-Content-Length': String(json.length) } };
}

const f32 = (buffer: Buffer) => [...new Float32Array(buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + buffer.length))];
const i64 = (buffer: Buffer) => [...new BigInt64Array(buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + buffer.length))].map(Number);
const outputOf = (answer: OipAnswer, name: string) => {
  const found = answer.body.outputs?.find((o) => o.name === name);
  assert.ok(found, `output ${name} in ${JSON.stringify(answer.body)}`);
  return found;
};

describe('Open Inference Protocol V2 over REST', () => {
  let server: TestServer;
  let irisToken: string;
  let scriptedToken: string;

  before(async () => {
    server = await startTestServer({ env: { INFERBOX_WORKERS_COUNT: '1' } });
    const { client } = server;
    await client.publishModel({ name: 'iris', files: [fixtureFile(IRIS_ONNX)] });
    await client.publishModel({ name: 'iris', files: [fixtureFile(IRIS_ONNX)], description: 'v2' });
    await client.publishModel({ name: 'mnist', files: [fixtureFile(MNIST_ONNX)] });
    await client.publishModel({ name: 'keras-mlp', files: [{ name: 'mnist.h5', data: await readFile(fixturePath('keras2-mnist-mlp-h5/mnist.h5')) }] });
    await client.publishModel({ name: 'half', files: [{ name: 'half.onnx', data: float16AddOnnx() }] });
    await client.publishModel({ name: 'tree', files: [{ name: 'tree.onnx', data: stringLabelTreeOnnx() }] });
    await client.publishModel({ name: 'mymodel', files: [{ name: 'mymodel.onnx', data: oipSpecExampleOnnx() }] });
    irisToken = (await client.createDeployment({ deployment_name: 'iris-svc', model_name: 'iris', model_version: 1 })).access_token;
    const script = 'function postprocess(output) { return { scripted: true }; }';
    scriptedToken = (await client.createDeployment({ deployment_name: 'iris-scripted', model_name: 'iris', model_version: 1, script })).access_token;
  });
  after(() => server.close());

  it('answers server metadata, liveness and readiness without a token', async () => {
    const meta = await oip(server, 'GET', '/v2', { token: null });
    assert.equal(meta.status, 200);
    assert.equal(meta.body.name, 'inferbox');
    assert.equal(typeof meta.body.version, 'string');
    assert.deepEqual(meta.body.extensions, ['binary_tensor_data']);
    assert.deepEqual((await oip(server, 'GET', '/v2/health/live', { token: null })).body, { live: true });
    const ready = await oip(server, 'GET', '/v2/health/ready', { token: null });
    assert.equal(ready.status, 200);
    assert.deepEqual(ready.body, { ready: true });
  });

  it('gives model metadata with OIP datatypes and -1 for free dimensions, ONNX and Keras', async () => {
    const iris = await oip(server, 'GET', '/v2/models/iris');
    assert.equal(iris.status, 200);
    assert.deepEqual(iris.body, {
      name: 'iris',
      versions: ['1', '2'],
      platform: 'onnxruntime_onnx',
      // As the file declares them: a batch of 1 in, any batch of probabilities out.
      inputs: [{ name: 'float_input', datatype: 'FP32', shape: [1, 4] }],
      outputs: [
        { name: 'output_label', datatype: 'INT64', shape: [1] },
        { name: 'output_probability', datatype: 'FP32', shape: [-1, 3] },
      ],
    });
    assert.deepEqual((await oip(server, 'GET', '/v2/models/iris/versions/1')).body.versions, ['1', '2']);
    const mnist = await oip(server, 'GET', '/v2/models/mnist/versions/1');
    assert.deepEqual(mnist.body.inputs, [{ name: 'Input3', datatype: 'FP32', shape: [1, 1, 28, 28] }]);
    assert.deepEqual(mnist.body.outputs, [{ name: 'Plus214_Output_0', datatype: 'FP32', shape: [1, 10] }]);
    const keras = await oip(server, 'GET', '/v2/models/keras-mlp');
    assert.equal(keras.body.platform, 'keras_h5');
    const kerasMeta = await server.client.getVersion('keras-mlp', 'latest');
    assert.deepEqual(keras.body.inputs, kerasMeta.inputs.map((i) => ({ name: i.name, datatype: 'FP32', shape: i.shape })));
    assert.deepEqual((await oip(server, 'GET', '/v2/models/half')).body.inputs, [{ name: 'x', datatype: 'FP16', shape: [-1, 3] }]);
    assert.deepEqual((await oip(server, 'GET', '/v2/models/tree')).body.outputs?.[0], { name: 'output_label', datatype: 'BYTES', shape: [-1] });
  });

  it('shows a deployment as a model named after it, with its token, its one version, and ready', async () => {
    const meta = await oip(server, 'GET', '/v2/models/iris-svc', { token: irisToken });
    assert.equal(meta.status, 200);
    assert.equal(meta.body.name, 'iris-svc');
    assert.deepEqual(meta.body.versions, ['1']);
    assert.equal((await oip(server, 'GET', '/v2/models/iris-svc/versions/1', { token: irisToken })).status, 200);
    const ready = await oip(server, 'GET', '/v2/models/iris-svc/ready', { token: irisToken });
    assert.equal(ready.status, 200);
    assert.deepEqual(ready.body, { name: 'iris-svc', ready: true });
    assert.deepEqual((await oip(server, 'GET', '/v2/models/iris/versions/2/ready')).body, { name: 'iris', ready: true });
  });

  it('refuses without a token, with a wrong token, and a deployment token for a model or another deployment', async () => {
    const cases: [string, string | null, number][] = [
      ['/v2/models/iris-svc', null, 401],
      ['/v2/models/iris-svc', 'ibx_svc_wrong', 401],
      ['/v2/models/iris', irisToken, 401],
      ['/v2/models/iris-scripted', irisToken, 401],
      // The token is checked first: a stranger cannot tell a missing name from a protected one.
      ['/v2/models/nothing-here', irisToken, 401],
    ];
    for (const [path, token, status] of cases) {
      for (const [method, suffix] of [['GET', ''], ['GET', '/ready'], ['POST', '/infer']] as const) {
        const answer = await oip(server, method, path + suffix, { token, ...(method === 'POST' ? { json: { inputs: [] } } : {}) });
        assert.equal(answer.status, status, `${method} ${path}${suffix} with ${token}`);
        assert.deepEqual(Object.keys(answer.body), ['error']);
        assert.match(answer.body.error!, token === null ? /Authorization: Bearer/ : /not valid for model/);
      }
    }
  });

  it('answers 404 with the protocol error body for unknown models, versions and paths', async () => {
    const cases: [string, RegExp][] = [
      ['/v2/models/nothing-here', /no model or deployment is named "nothing-here"/],
      ['/v2/models/iris/versions/3', /model "iris" has no version "3" \(versions: 1, 2\)/],
      ['/v2/models/iris/versions/latest', /no version "latest"/],
      ['/v2/models/iris-svc/versions/2', /model "iris-svc" \(a deployment\) has only version 1/],
      ['/v2/models/iris-svc/versions/2/ready', /has only version 1/],
      ['/v2/nowhere', /no route for GET \/v2\/nowhere/],
    ];
    for (const [path, message] of cases) {
      const answer = await oip(server, 'GET', path);
      assert.equal(answer.status, 404, path);
      assert.deepEqual(Object.keys(answer.body), ['error']);
      assert.match(answer.body.error!, message);
    }
    const wrongMethod = await oip(server, 'DELETE', '/v2/models/iris');
    assert.equal(wrongMethod.status, 405);
    assert.match(wrongMethod.body.error!, /DELETE is not allowed/);
  });

  it("answers the specification's example request (UINT32 and BOOL in, FP32 [3,2] out), and refuses it verbatim", async () => {
    const example = {
      id: '42',
      inputs: [
        { name: 'input0', shape: [2, 2], datatype: 'UINT32', data: [1, 2, 3, 4] },
        { name: 'input1', shape: [3], datatype: 'BOOL', data: [true] },
      ],
      outputs: [{ name: 'output0' }],
    };
    // As printed, input1 holds one value for a shape of three.
    const verbatim = await oip(server, 'POST', '/v2/models/mymodel/infer', { json: example });
    assert.equal(verbatim.status, 400);
    assert.deepEqual(verbatim.body, { error: "input 'input1' has 1 values, but its shape [3] holds 3" });
    const fixed = { ...example, inputs: [example.inputs[0], { ...example.inputs[1], data: [true, false, true] }] };
    const answer = await oip(server, 'POST', '/v2/models/mymodel/infer', { json: fixed });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.deepEqual(answer.body, {
      model_name: 'mymodel',
      model_version: '1',
      id: '42',
      outputs: [{ name: 'output0', shape: [3, 2], datatype: 'FP32', data: [5, 7, 4, 6, 5, 7] }].map(({ name, shape, datatype, data }) => ({ name, datatype, shape, data })),
    });
    const meta = await oip(server, 'GET', '/v2/models/mymodel');
    assert.deepEqual(meta.body.inputs, [
      { name: 'input0', datatype: 'UINT32', shape: [2, 2] },
      { name: 'input1', datatype: 'BOOL', shape: [3] },
    ]);
    const v1 = await server.client.test({ model_name: 'mymodel', X: [{ input0: [[1, 2], [3, 4]], input1: [true, false, true] }] });
    assert.deepEqual(flattenDeep((v1.result as Record<string, unknown>[])[0]!.output0), [5, 7, 4, 6, 5, 7]);
  });

  it("runs the specification's example request shape (id, outputs by name) and answers as /api/v1/test does", async () => {
    const request = {
      id: '42',
      inputs: [{ name: 'float_input', shape: [3, 4], datatype: 'FP32', data: IRIS_ROWS.flat() }],
      outputs: [{ name: 'output_probability' }],
    };
    const answer = await oip(server, 'POST', '/v2/models/iris/versions/1/infer', { json: request });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.body.id, '42');
    assert.equal(answer.body.model_name, 'iris');
    assert.equal(answer.body.model_version, '1');
    assert.equal(answer.body.outputs!.length, 1);
    const probs = outputOf(answer, 'output_probability');
    assert.equal(probs.datatype, 'FP32');
    assert.deepEqual(probs.shape, [3, 3]);
    const v1 = await server.client.test({ model_name: 'iris', model_version: '1', X: IRIS_ROWS.map((row) => ({ float_input: [row] })) });
    const expected = (v1.result as { output_probability: Record<string, number>[] }[]).flatMap((r) => ['0', '1', '2'].map((c) => r.output_probability[0]![c]!));
    assert.deepEqual(probs.data, expected);
    // Every output without `outputs`; nested data reads as flat data; no id, none answered.
    const all = await oip(server, 'POST', '/v2/models/iris/infer', { json: { inputs: [{ name: 'float_input', shape: [3, 4], datatype: 'FP32', data: IRIS_ROWS }] } });
    assert.equal(all.status, 200);
    assert.equal(all.body.model_version, '2');
    assert.equal(all.body.id, undefined);
    assert.deepEqual(
      all.body.outputs!.map((o) => o.name),
      ['output_label', 'output_probability'],
    );
    assert.deepEqual(outputOf(all, 'output_label'), { name: 'output_label', datatype: 'INT64', shape: [3], data: (v1.result as { output_label: number[] }[]).map((r) => r.output_label[0]) });
    assert.deepEqual(outputOf(all, 'output_probability').data, expected);
  });

  it('runs the three MNIST references (ONNX) in JSON, equal to the references and to /api/v1/test', async () => {
    for (const [i, pair] of MNIST_PAIRS.entries()) {
      const answer = await oip(server, 'POST', '/v2/models/mnist/infer', { json: { inputs: [{ name: 'Input3', shape: pair.input.dims, datatype: 'FP32', data: nestValues(pair.input.values, pair.input.dims) }] } });
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      const out = outputOf(answer, 'Plus214_Output_0');
      assert.deepEqual(out.shape, [1, 10]);
      assert.ok(maxRelativeDiff(out.data as number[], pair.output.values) < 1e-4, `pair ${i}`);
      const v1 = await server.client.test({ model_name: 'mnist', model_version: '1', X: [{ Input3: nestValues(pair.input.values, pair.input.dims) }] });
      assert.deepEqual(out.data, flattenDeep((v1.result as Record<string, unknown>[])[0]!.Plus214_Output_0));
    }
  });

  it('runs the Keras model, flat and binary, equal to /api/v1/test', async () => {
    const meta = await server.client.getVersion('keras-mlp', 'latest');
    const input = meta.inputs[0]!;
    const perRecord = input.shape!.slice(1).reduce((n, d) => n * d, 1);
    const pixels = MNIST_PAIRS[0]!.input.values.map((v) => v / 255).slice(0, perRecord);
    const shape = [1, ...input.shape!.slice(1)];
    const json = await oip(server, 'POST', '/v2/models/keras-mlp/infer', { json: { inputs: [{ name: input.name, shape, datatype: 'FP32', data: pixels }] } });
    assert.equal(json.status, 200, JSON.stringify(json.body));
    const v1 = await server.client.test({ model_name: 'keras-mlp', X: [{ [input.name]: nestValues(pixels, shape) }] });
    const outName = meta.outputs[0]!.name;
    const expected = flattenDeep((v1.result as Record<string, unknown>[])[0]![outName]);
    const out = outputOf(json, outName);
    assert.deepEqual(out.data, expected);
    assert.deepEqual(out.shape, [1, 10]);
    const req = binaryRequest({ inputs: [{ name: input.name, shape, datatype: 'FP32', parameters: { binary_data_size: pixels.length * 4 } }], parameters: { binary_data_output: true } }, [new Float32Array(pixels)]);
    const binary = await oip(server, 'POST', '/v2/models/keras-mlp/versions/1/infer', req);
    assert.equal(binary.status, 200, JSON.stringify(binary.body));
    assert.deepEqual(f32(binary.binary.get(outName)!), expected);
    assert.equal(argmax(expected), argmax(MNIST_PAIRS[0]!.output.values));
  });

  it('takes and answers binary tensors as tritonclient writes them, mixed with JSON outputs', async () => {
    const rows = new Float32Array(IRIS_ROWS.flat());
    // tritonclient: InferInput(binary_data=True), InferRequestedOutput('output_label', binary_data=True), ('output_probability', binary_data=False).
    const req = binaryRequest(
      {
        id: 'triton-1',
        inputs: [{ name: 'float_input', shape: [3, 4], datatype: 'FP32', parameters: { binary_data_size: rows.byteLength } }],
        outputs: [
          { name: 'output_label', parameters: { binary_data: true } },
          { name: 'output_probability', parameters: { binary_data: false } },
        ],
      },
      [rows],
    );
    const answer = await oip(server, 'POST', '/v2/models/iris-svc/infer', { token: irisToken, ...req });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.headers.get('content-type'), 'application/octet-stream');
    assert.equal(answer.body.id, 'triton-1');
    const label = outputOf(answer, 'output_label');
    assert.deepEqual(label, { name: 'output_label', datatype: 'INT64', shape: [3], parameters: { binary_data_size: 24 } });
    const json = await oip(server, 'POST', '/v2/models/iris-svc/infer', { token: irisToken, json: { inputs: [{ name: 'float_input', shape: [3, 4], datatype: 'FP32', data: IRIS_ROWS.flat() }] } });
    assert.deepEqual(i64(answer.binary.get('output_label')!), outputOf(json, 'output_label').data);
    assert.deepEqual(outputOf(answer, 'output_probability').data, outputOf(json, 'output_probability').data);
    // Without outputs, tritonclient sets binary_data_output; the request may come gzip-compressed.
    const all = binaryRequest({ inputs: [{ name: 'float_input', shape: [3, 4], datatype: 'FP32', parameters: { binary_data_size: rows.byteLength } }], parameters: { binary_data_output: true } }, [rows]);
    const gz = await oip(server, 'POST', '/v2/models/iris-svc/infer', { token: irisToken, body: gzipSync(all.body), headers: { ...all.headers, 'content-encoding': 'gzip' } });
    assert.equal(gz.status, 200, JSON.stringify(gz.body));
    assert.deepEqual(f32(gz.binary.get('output_probability')!), outputOf(json, 'output_probability').data);
    assert.deepEqual(i64(gz.binary.get('output_label')!), outputOf(json, 'output_label').data);
  });

  it('answers a deployment the same as /api/v1/svc, and counts the calls in its statistics', async () => {
    const svc = await server.client.predict('iris-svc', { X: IRIS_ROWS.map((row) => ({ float_input: [row] })) });
    const answer = await oip(server, 'POST', '/v2/models/iris-svc/infer', { token: irisToken, json: { inputs: [{ name: 'float_input', shape: [3, 4], datatype: 'FP32', data: IRIS_ROWS }] } });
    const records = svc.result as { output_label: number[]; output_probability: Record<string, number>[] }[];
    assert.deepEqual(outputOf(answer, 'output_label').data, records.map((r) => r.output_label[0]));
    assert.deepEqual(outputOf(answer, 'output_probability').data, records.flatMap((r) => Object.values(r.output_probability[0]!)));
    // Inference counts in inferbox_predictions_total with the deployment's other calls; metadata does not.
    const predictions = async () => {
      const text = await (await fetch(`${server.url}/metrics`)).text();
      return Number(/^inferbox_predictions_total\{deployment="iris-svc",status="200"\} (\d+)$/m.exec(text)?.[1] ?? 0);
    };
    const before = await predictions();
    await oip(server, 'GET', '/v2/models/iris-svc', { token: irisToken });
    assert.equal(await predictions(), before);
    await oip(server, 'POST', '/v2/models/iris-svc/infer', { token: irisToken, json: { inputs: [{ name: 'float_input', shape: [1, 4], datatype: 'FP32', data: IRIS_ROWS[0] }] } });
    assert.equal(await predictions(), before + 1);
    const stats = (await (await fetch(`${server.url}/api/v1/deployments/iris-svc/stats`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json()) as Record<string, unknown>;
    assert.match(JSON.stringify(stats), /v2\.infer/);
  });

  it("runs a deployment with a script without the script: the model's tensors", async () => {
    const answer = await oip(server, 'POST', '/v2/models/iris-scripted/infer', { token: scriptedToken, json: { inputs: [{ name: 'float_input', shape: [1, 4], datatype: 'FP32', data: IRIS_ROWS[0] }] } });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.deepEqual(outputOf(answer, 'output_label').data, [0]);
    const svc = await server.client.predict('iris-scripted', { X: [{ float_input: [IRIS_ROWS[0]] }] }, { token: scriptedToken });
    assert.deepEqual(svc.result, [{ scripted: true }]);
  });

  it('takes and answers FP16 as numbers in JSON and as raw halves in binary', async () => {
    const json = await oip(server, 'POST', '/v2/models/half/infer', { json: { inputs: [{ name: 'x', shape: [2, 3], datatype: 'FP16', data: [[0.5, 1, 1.5], [2, 2.5, -3]] }] } });
    assert.equal(json.status, 200, JSON.stringify(json.body));
    assert.deepEqual(outputOf(json, 'y'), { name: 'y', datatype: 'FP16', shape: [2, 3], data: [1, 2, 3, 4, 5, -6] });
    // 0.5, 1, 1.5 as IEEE half floats.
    const halves = new Uint16Array([0x3800, 0x3c00, 0x3e00]);
    const binary = await oip(server, 'POST', '/v2/models/half/infer', binaryRequest({ inputs: [{ name: 'x', shape: [1, 3], datatype: 'FP16', parameters: { binary_data_size: 6 } }], outputs: [{ name: 'y', parameters: { binary_data: true } }] }, [halves]));
    assert.equal(binary.status, 200, JSON.stringify(binary.body));
    const y = binary.binary.get('y')!;
    assert.deepEqual([y.readUInt16LE(0), y.readUInt16LE(2), y.readUInt16LE(4)], [0x3c00, 0x4000, 0x4200]);
  });

  it('answers BYTES outputs as strings in JSON and length-prefixed in binary', async () => {
    const input = { name: 'float_input', shape: [3, 1], datatype: 'FP32', data: [[0.5], [2.5], [9]] };
    const json = await oip(server, 'POST', '/v2/models/tree/infer', { json: { inputs: [input], outputs: [{ name: 'output_label' }] } });
    assert.equal(json.status, 200, JSON.stringify(json.body));
    const labels = outputOf(json, 'output_label');
    assert.equal(labels.datatype, 'BYTES');
    assert.ok((labels.data as unknown[]).every((v) => typeof v === 'string'));
    const binary = await oip(server, 'POST', '/v2/models/tree/infer', { json: { inputs: [input], outputs: [{ name: 'output_label', parameters: { binary_data: true } }] } });
    const bytes = binary.binary.get('output_label')!;
    const decoded: string[] = [];
    for (let at = 0; at < bytes.length; ) {
      const n = bytes.readUInt32LE(at);
      decoded.push(bytes.toString('utf8', at + 4, at + 4 + n));
      at += 4 + n;
    }
    assert.deepEqual(decoded, labels.data);
  });

  it('refuses bad inputs with 400 and a message naming the input and what it expects', async () => {
    const infer = (inputs: unknown, extra: Record<string, unknown> = {}) => oip(server, 'POST', '/v2/models/iris/infer', { json: { inputs, ...extra } });
    const good = { name: 'float_input', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] };
    const cases: [Promise<OipAnswer>, RegExp][] = [
      [infer([{ ...good, datatype: 'FP64' }]), /input 'float_input' has datatype "FP64", but the model expects FP32/],
      [infer([{ ...good, datatype: 'FLOAT' }]), /inputs\[0\]\.datatype "FLOAT" is not one of FP32, FP64, FP16/],
      [infer([{ ...good, shape: [4] }]), /input 'float_input' has shape \[4\], but the model expects \[1,4\]/],
      [infer([{ ...good, shape: [1, 5], data: [1, 2, 3, 4, 5] }]), /has shape \[1,5\], but the model expects \[1,4\]/],
      [infer([{ ...good, shape: [2, 4] }]), /input 'float_input' has 4 values, but its shape \[2,4\] holds 8/],
      [infer([{ ...good, data: [1, 2, 'x', 4] }]), /input 'float_input' expects float32 values, got "x" at flat index 2/],
      [infer([good, { ...good, name: 'extra' }]), /inputs\[1\]\.name is 'extra', but the model's inputs are 'float_input'/],
      [infer([good, good]), /input 'float_input' is given twice/],
      [infer([]), /inputs must list at least one input/],
      [infer([good], { outputs: [{ name: 'nope' }] }), /output 'nope' is not an output of model "iris" \(outputs: 'output_label', 'output_probability'\)/],
      [infer([{ name: 'float_input', shape: [1, 4], datatype: 'FP32' }]), /inputs\[0\] needs data/],
      [infer([{ ...good, shape: [-1, 4] }]), /inputs\.0\.shape/],
      [infer([good], { id: 42 }), /id: /],
      [oip(server, 'POST', '/v2/models/iris/infer', { body: Buffer.from('{"inputs": ['), headers: { 'content-type': 'application/json' } }), /not valid JSON/],
      [oip(server, 'POST', '/v2/models/iris/infer', binaryRequest({ inputs: [{ ...good, data: undefined, parameters: { binary_data_size: 16 } }] }, [new Float32Array(2)])), /binary_data_size is 16, but only 8 bytes/],
      [oip(server, 'POST', '/v2/models/iris/infer', { body: Buffer.from('{}'), headers: { 'Inference-Header-Content-Length': '99' } }), /Inference-Header-Content-Length must be the JSON part's length/],
      [oip(server, 'POST', '/v2/models/iris/infer', binaryRequest({ inputs: [{ ...good, data: undefined, parameters: { binary_data_size: 12 } }] }, [new Float32Array(3)])), /12 bytes of FP32 data, but the shape needs 16/],
      [oip(server, 'POST', '/v2/models/iris/infer', binaryRequest({ inputs: [good] }, [new Float32Array(3)])), /12 bytes of binary tensor data, but its inputs' binary_data_size add up to 0/],
      [oip(server, 'POST', '/v2/models/iris/infer', { body: Buffer.from('not gzip at all'), headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' } }), /the request body could not be read: incorrect header check/],
      [oip(server, 'POST', '/v2/models/iris/infer', { body: Buffer.from('{}'), headers: { 'content-type': 'application/json', 'content-encoding': 'br' } }), /unsupported Content-Encoding "br": gzip, deflate or none/],
      [oip(server, 'POST', '/v2/models/iris/infer', { body: Buffer.concat([Buffer.from(JSON.stringify({ inputs: [{ ...good, data: undefined, parameters: { binary_data_size: 16 } }] })), Buffer.alloc(16)]) }), /not valid JSON: .*\(binary tensors after the JSON need the Inference-Header-Content-Length header\)/],
    ];
    for (const [pending, message] of cases) {
      const answer = await pending;
      assert.equal(answer.status, 400, `${message}: ${JSON.stringify(answer.body)}`);
      assert.deepEqual(Object.keys(answer.body), ['error']);
      assert.match(answer.body.error!, message);
      assert.ok(answer.headers.get('x-inferbox-error-code'));
    }
  });

  it('takes a client deadline in Request-Timeout (seconds) and refuses one that is not a positive number', async () => {
    const request = { inputs: [{ name: 'float_input', shape: [1, 4], datatype: 'FP32', data: IRIS_ROWS[0] }] };
    const within = await oip(server, 'POST', '/v2/models/iris-svc/infer', { token: irisToken, json: request, headers: { 'request-timeout': '30.5' } });
    assert.equal(within.status, 200, JSON.stringify(within.body));
    for (const value of ['0', '-1', 'soon']) {
      const refused = await oip(server, 'POST', '/v2/models/iris-svc/infer', { token: irisToken, json: request, headers: { 'request-timeout': value } });
      assert.equal(refused.status, 400, value);
      assert.equal(refused.headers.get('x-inferbox-error-code'), 'REQUEST_INVALID');
      assert.match(refused.body.error!, /Request-Timeout must be a positive number of seconds/);
    }
  });

  it('refuses a body over limits.maxJsonBytes with 413', async () => {
    const answer = await oip(server, 'POST', '/v2/models/iris/infer', { body: Buffer.alloc(17 * 2 ** 20, 0x20), headers: { 'content-type': 'application/json' } });
    assert.equal(answer.status, 413);
    assert.match(answer.body.error!, /over the limit of 16777216 bytes \(limits\.maxJsonBytes\)/);
  });
});
