import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { PROTO_OPTIONS, PROTO_PATH } from '../../src/front/oip/grpc.js';
import { fixtureFile, fixturePath, flattenDeep, IRIS_ONNX, maxRelativeDiff, MNIST_ONNX, nestValues, readTensorProto } from '../helpers/fixtures.js';
import { float16AddOnnx, oipSpecExampleOnnx, stringLabelTreeOnnx } from '../helpers/onnx-models.js';
import { ADMIN_TOKEN, startTestServer, type TestServer } from '../helpers/server.js';

/**
 * The Open Inference Protocol over gRPC (docs/api/oip.md), with a client built from the same
 * grpc_predict_v2.proto by @grpc/grpc-js, as any generated client would be: metadata, readiness,
 * ModelInfer with typed `contents` and with `raw_input_contents`, answers in `raw_output_contents`
 * equal to /api/v1's, and the gRPC status codes of errors.
 */

type Callback = (err: grpc.ServiceError | null, res: unknown) => void;
type Call = (request: unknown, metadata: grpc.Metadata, callback: Callback) => void;
type CallWithOptions = (request: unknown, metadata: grpc.Metadata, options: grpc.CallOptions, callback: Callback) => void;
type Client = grpc.Client & Record<string, Call>;

const IRIS_ROW = [5.1, 3.5, 1.4, 0.2];
const MNIST = { input: readTensorProto('onnx-mnist8-cntk/mnist_input_1.pb'), output: readTensorProto('onnx-mnist8-cntk/mnist_output_1.pb') };

function rawOf(values: ArrayBufferView): Buffer {
  return Buffer.from(values.buffer, values.byteOffset, values.byteLength);
}
const f32 = (b: Buffer) => [...new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length))];
const i64 = (b: Buffer) => [...new BigInt64Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length))].map(Number);

interface InferResponse {
  model_name: string;
  model_version: string;
  id: string;
  outputs: { name: string; datatype: string; shape: string[] }[];
  raw_output_contents: Buffer[];
}

describe('Open Inference Protocol V2 over gRPC', () => {
  let server: TestServer;
  let client: Client;
  let irisToken: string;

  const auth = (token: string | null = ADMIN_TOKEN) => {
    const md = new grpc.Metadata();
    if (token !== null) md.set('authorization', `Bearer ${token}`);
    return md;
  };
  const call = <T,>(method: string, request: unknown, token: string | null = ADMIN_TOKEN) =>
    new Promise<T>((resolve, reject) => client[method]!.call(client, request, auth(token), (err, res) => (err ? reject(err) : resolve(res as T))));
  const refused = async (pending: Promise<unknown>, code: grpc.status, message: RegExp) => {
    await assert.rejects(pending, (err: grpc.ServiceError) => {
      assert.equal(err.code, code, `${grpc.status[err.code]}: ${err.details}`);
      assert.match(err.details, message);
      assert.ok(err.metadata.get('inferbox-error-code').length === 1);
      return true;
    });
  };

  before(async () => {
    server = await startTestServer({ env: { INFERBOX_WORKERS_COUNT: '1' } });
    assert.ok(server.grpcPort !== null && server.grpcPort > 0);
    const definition = protoLoader.loadSync(PROTO_PATH, PROTO_OPTIONS);
    const proto = grpc.loadPackageDefinition(definition) as unknown as { inference: { GRPCInferenceService: grpc.ServiceClientConstructor } };
    client = new proto.inference.GRPCInferenceService(`127.0.0.1:${server.grpcPort}`, grpc.credentials.createInsecure()) as unknown as Client;
    const admin = server.client;
    await admin.publishModel({ name: 'iris', files: [fixtureFile(IRIS_ONNX)] });
    await admin.publishModel({ name: 'mnist', files: [fixtureFile(MNIST_ONNX)] });
    await admin.publishModel({ name: 'keras-mlp', files: [{ name: 'mnist.h5', data: await readFile(fixturePath('keras2-mnist-mlp-h5/mnist.h5')) }] });
    await admin.publishModel({ name: 'half', files: [{ name: 'half.onnx', data: float16AddOnnx() }] });
    await admin.publishModel({ name: 'tree', files: [{ name: 'tree.onnx', data: stringLabelTreeOnnx() }] });
    await admin.publishModel({ name: 'mymodel', files: [{ name: 'mymodel.onnx', data: oipSpecExampleOnnx() }] });
    irisToken = (await admin.createDeployment({ deployment_name: 'iris-svc', model_name: 'iris' })).access_token;
  });
  after(async () => {
    client?.close();
    await server.close();
  });

  it('starts no gRPC server with grpc.port -1', async () => {
    const without = await startTestServer({ env: { INFERBOX_WORKERS_COUNT: '1', INFERBOX_GRPC_PORT: '-1' } });
    try {
      assert.equal(without.grpcPort, null);
      assert.equal((await fetch(`${without.url}/v2/health/live`)).status, 200);
    } finally {
      await without.close();
    }
  });

  it('answers ServerLive, ServerReady and ServerMetadata', async () => {
    assert.deepEqual(await call('ServerLive', {}, null), { live: true });
    assert.deepEqual(await call('ServerReady', {}, null), { ready: true });
    const meta = await call<{ name: string; extensions: string[] }>('ServerMetadata', {}, null);
    assert.equal(meta.name, 'inferbox');
    assert.deepEqual(meta.extensions, ['binary_tensor_data']);
  });

  it('answers ModelMetadata and ModelReady for a model (admin) and a deployment (its token)', async () => {
    const iris = await call<Record<string, unknown>>('ModelMetadata', { name: 'iris', version: '' });
    assert.deepEqual(iris, {
      name: 'iris',
      versions: ['1'],
      platform: 'onnxruntime_onnx',
      inputs: [{ name: 'float_input', datatype: 'FP32', shape: ['1', '4'] }],
      outputs: [
        { name: 'output_label', datatype: 'INT64', shape: ['1'] },
        { name: 'output_probability', datatype: 'FP32', shape: ['-1', '3'] },
      ],
    });
    const svc = await call<Record<string, unknown>>('ModelMetadata', { name: 'iris-svc', version: '1' }, irisToken);
    assert.equal(svc.name, 'iris-svc');
    assert.deepEqual(svc.versions, ['1']);
    assert.equal((await call<{ platform: string }>('ModelMetadata', { name: 'keras-mlp' })).platform, 'keras_h5');
    assert.deepEqual(await call('ModelReady', { name: 'iris-svc', version: '' }, irisToken), { ready: true });
    assert.deepEqual(await call('ModelReady', { name: 'mnist', version: '1' }), { ready: true });
  });

  it('runs ModelInfer with raw_input_contents and answers raw_output_contents equal to /api/v1 (ONNX)', async () => {
    const res = await call<InferResponse>('ModelInfer', {
      model_name: 'mnist',
      id: 'digit-1',
      inputs: [{ name: 'Input3', datatype: 'FP32', shape: MNIST.input.dims }],
      raw_input_contents: [rawOf(new Float32Array(MNIST.input.values))],
    });
    assert.equal(res.model_name, 'mnist');
    assert.equal(res.model_version, '1');
    assert.equal(res.id, 'digit-1');
    assert.deepEqual(res.outputs, [{ name: 'Plus214_Output_0', datatype: 'FP32', shape: ['1', '10'], parameters: {}, contents: null }]);
    const got = f32(res.raw_output_contents[0]!);
    assert.ok(maxRelativeDiff(got, MNIST.output.values) < 1e-4);
    const v1 = await server.client.test({ model_name: 'mnist', model_version: '1', X: [{ Input3: nestValues(MNIST.input.values, MNIST.input.dims) }] });
    assert.deepEqual(got, flattenDeep((v1.result as Record<string, unknown>[])[0]!.Plus214_Output_0));
  });

  it('runs ModelInfer with typed contents on a deployment (its token) and the Keras model, equal to /api/v1', async () => {
    const res = await call<InferResponse>(
      'ModelInfer',
      { model_name: 'iris-svc', inputs: [{ name: 'float_input', datatype: 'FP32', shape: [1, 4], contents: { fp32_contents: IRIS_ROW } }], outputs: [{ name: 'output_probability' }, { name: 'output_label' }] },
      irisToken,
    );
    assert.deepEqual(
      res.outputs.map((o) => [o.name, o.datatype, o.shape]),
      [
        ['output_probability', 'FP32', ['1', '3']],
        ['output_label', 'INT64', ['1']],
      ],
    );
    const svc = await server.client.predict('iris-svc', { X: [{ float_input: [IRIS_ROW] }] }, { token: irisToken });
    const [record] = svc.result as { output_label: number[]; output_probability: Record<string, number>[] }[];
    assert.deepEqual(f32(res.raw_output_contents[0]!), Object.values(record!.output_probability[0]!));
    assert.deepEqual(i64(res.raw_output_contents[1]!), record!.output_label);

    const meta = await server.client.getVersion('keras-mlp', 'latest');
    const input = meta.inputs[0]!;
    const perRecord = input.shape!.slice(1).reduce((n, d) => n * d, 1);
    const pixels = MNIST.input.values.slice(0, perRecord).map((v) => Math.fround(v / 255));
    const shape = [1, ...input.shape!.slice(1)];
    const keras = await call<InferResponse>('ModelInfer', { model_name: 'keras-mlp', inputs: [{ name: input.name, datatype: 'FP32', shape, contents: { fp32_contents: pixels } }] });
    const v1 = await server.client.test({ model_name: 'keras-mlp', X: [{ [input.name]: nestValues(pixels, shape) }] });
    assert.deepEqual(f32(keras.raw_output_contents[0]!), flattenDeep((v1.result as Record<string, unknown>[])[0]![meta.outputs[0]!.name]));
  });

  it("runs the specification's example (UINT32 and BOOL) in contents and in raw_input_contents", async () => {
    const inputs = [
      { name: 'input0', datatype: 'UINT32', shape: [2, 2] },
      { name: 'input1', datatype: 'BOOL', shape: [3] },
    ];
    const typed = await call<InferResponse>('ModelInfer', {
      model_name: 'mymodel',
      id: '42',
      inputs: [
        { ...inputs[0], contents: { uint_contents: [1, 2, 3, 4] } },
        { ...inputs[1], contents: { bool_contents: [true, false, true] } },
      ],
      outputs: [{ name: 'output0' }],
    });
    assert.equal(typed.id, '42');
    assert.deepEqual(typed.outputs.map((o) => [o.name, o.datatype, o.shape]), [['output0', 'FP32', ['3', '2']]]);
    assert.deepEqual(f32(typed.raw_output_contents[0]!), [5, 7, 4, 6, 5, 7]);
    const raw = await call<InferResponse>('ModelInfer', { model_name: 'mymodel', inputs, raw_input_contents: [rawOf(new Uint32Array([1, 2, 3, 4])), Buffer.from([1, 0, 1])] });
    assert.deepEqual(f32(raw.raw_output_contents[0]!), [5, 7, 4, 6, 5, 7]);
  });

  it('takes FP16 raw and BYTES out raw, and refuses FP16 in contents', async () => {
    const res = await call<InferResponse>('ModelInfer', { model_name: 'half', inputs: [{ name: 'x', datatype: 'FP16', shape: [1, 3] }], raw_input_contents: [rawOf(new Uint16Array([0x3800, 0x3c00, 0x3e00]))] });
    const y = res.raw_output_contents[0]!;
    assert.deepEqual([y.readUInt16LE(0), y.readUInt16LE(2), y.readUInt16LE(4)], [0x3c00, 0x4000, 0x4200]);
    await refused(call('ModelInfer', { model_name: 'half', inputs: [{ name: 'x', datatype: 'FP16', shape: [1, 3], contents: { fp32_contents: [1, 2, 3] } }] }), grpc.status.INVALID_ARGUMENT, /FP16 values travel only in raw_input_contents/);
    const tree = await call<InferResponse>('ModelInfer', { model_name: 'tree', inputs: [{ name: 'float_input', datatype: 'FP32', shape: [2, 1], contents: { fp32_contents: [0.5, 9] } }], outputs: [{ name: 'output_label' }] });
    assert.equal(tree.outputs[0]!.datatype, 'BYTES');
    const bytes = tree.raw_output_contents[0]!;
    const first = bytes.readUInt32LE(0);
    assert.ok(first > 0 && 4 + first < bytes.length);
  });

  it("takes the call's deadline as the client's timeout: a call within it is answered", async () => {
    const request = { model_name: 'iris-svc', inputs: [{ name: 'float_input', datatype: 'FP32', shape: [1, 4], contents: { fp32_contents: IRIS_ROW } }] };
    // grpc-js sends it as the grpc-timeout header; the server reads it back with call.getDeadline().
    const res = await new Promise<InferResponse>((resolve, reject) =>
      (client.ModelInfer as unknown as CallWithOptions).call(client, request, auth(irisToken), { deadline: Date.now() + 30_000 }, (err, out) => (err ? reject(err) : resolve(out as InferResponse))),
    );
    const label = res.outputs.findIndex((o) => o.name === 'output_label');
    assert.deepEqual(i64(res.raw_output_contents[label]!), [0]);
  });

  it('answers UNAUTHENTICATED, NOT_FOUND and INVALID_ARGUMENT with clear messages', async () => {
    await refused(call('ModelMetadata', { name: 'iris-svc' }, null), grpc.status.UNAUTHENTICATED, /Authorization: Bearer/);
    await refused(call('ModelMetadata', { name: 'iris-svc' }, 'ibx_svc_wrong'), grpc.status.UNAUTHENTICATED, /not valid for model "iris-svc"/);
    await refused(call('ModelInfer', { model_name: 'iris', inputs: [] }, irisToken), grpc.status.UNAUTHENTICATED, /not valid for model "iris"/);
    await refused(call('ModelMetadata', { name: 'nothing' }), grpc.status.NOT_FOUND, /no model or deployment is named "nothing"/);
    await refused(call('ModelReady', { name: 'iris', version: '7' }), grpc.status.NOT_FOUND, /has no version "7"/);
    const input = { name: 'float_input', datatype: 'FP32', shape: [1, 4] };
    const cases: [unknown, RegExp][] = [
      [{ model_name: 'iris', inputs: [{ ...input, datatype: 'FP64', contents: { fp64_contents: IRIS_ROW } }] }, /has datatype "FP64", but the model expects FP32/],
      [{ model_name: 'iris', inputs: [{ ...input, shape: [4], contents: { fp32_contents: IRIS_ROW } }] }, /has shape \[4\], but the model expects \[1,4\]/],
      [{ model_name: 'iris', inputs: [{ ...input, contents: { fp32_contents: [1, 2, 3] } }] }, /has 3 values, but its shape \[1,4\] holds 4/],
      [{ model_name: 'iris', inputs: [input], raw_input_contents: [rawOf(new Float32Array(3))] }, /12 bytes of FP32 data, but the shape needs 16/],
      [{ model_name: 'iris', inputs: [input, { ...input, name: 'b' }], raw_input_contents: [rawOf(new Float32Array(4))] }, /raw_input_contents has 1 entries for 2 inputs/],
      [{ model_name: 'iris', inputs: [{ ...input, contents: { fp32_contents: IRIS_ROW } }], raw_input_contents: [rawOf(new Float32Array(4))] }, /has contents while the request has raw_input_contents/],
      [{ model_name: 'iris', inputs: [{ ...input, contents: { fp32_contents: IRIS_ROW } }], outputs: [{ name: 'nope' }] }, /output 'nope' is not an output/],
    ];
    for (const [request, message] of cases) await refused(call('ModelInfer', request), grpc.status.INVALID_ARGUMENT, message);
  });
});
