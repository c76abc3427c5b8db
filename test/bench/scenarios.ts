import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { InferboxClient } from '../../src/client/index.js';
import { PACKAGE_ROOT } from '../../src/package-info.js';
import type { LoadResult } from './load.js';

export interface Scenario {
  readonly name: string;
  readonly connections: readonly number[];
  setup(client: InferboxClient): Promise<{ path: string; token: string; body: string | Buffer; contentType: string; headers?: Record<string, string> }>;
  notes?(results: readonly LoadResult[]): string[];
}

export const fixture = (p: string) => ({ name: p.split('/').at(-1)!, data: readFileSync(join(PACKAGE_ROOT, 'test/fixtures', p)) });
/** One file part as a raw multipart body, built once and sent as it is. */
function multipart(field: string, file: { name: string; data: Buffer }): { body: Buffer; contentType: string } {
  const boundary = '----inferbox-bench-boundary';
  const head = `--${boundary}\r\nContent-Disposition: form-data; name="${field}"; filename="${file.name}"\r\nContent-Type: image/png\r\n\r\n`;
  return { body: Buffer.concat([Buffer.from(head), file.data, Buffer.from(`\r\n--${boundary}--\r\n`)]), contentType: `multipart/form-data; boundary=${boundary}` };
}

let mnistPublished = false;
async function publishMnist(client: InferboxClient) {
  if (mnistPublished) return;
  await client.publishModel({ name: 'mnist', files: [fixture('onnx-mnist8-cntk/mnist-8.onnx')] });
  mnistPublished = true;
}

/**
 * The mnist-argmax request's digit (784 raw pixels) as the same request for the CNN in both formats:
 * ONNX's Input3 NCHW [1,1,28,28] as it is, and the Keras copy's conv2d_input NHWC [1,28,28,1]
 * (test/fixtures/keras2-mnist-cnn-h5: mnist-8.onnx's CNN and weights as a Keras 2 .h5).
 */
function mnistCnnBodies(): { onnx: string; keras: string } {
  const onnx = readFileSync(join(PACKAGE_ROOT, 'scripts-examples/mnist-argmax/request.json'), 'utf8');
  const [image] = (JSON.parse(onnx) as { args: { X: [{ Input3: number[][][][] }] } }).args.X[0].Input3[0]!;
  const nhwc = [image!.map((row) => row.map((pixel) => [pixel]))];
  return { onnx, keras: JSON.stringify({ args: { X: [{ conv2d_input: nhwc }] } }) };
}

let kerasCnnPublished = false;
async function publishKerasCnn(client: InferboxClient) {
  if (kerasCnnPublished) return;
  await client.publishModel({ name: 'mnist-keras', files: [fixture('keras2-mnist-cnn-h5/mnist-cnn.h5')] });
  kerasCnnPublished = true;
}

export const IRIS_BODY = JSON.stringify({ args: { X: [{ float_input: [5.1, 3.5, 1.4, 0.2] }] } });

let irisPublished = false;
export const IRIS_FILE = 'onnx-skl-logreg-iris-zipmap/logreg_iris.onnx';

/** Publishes the iris fixture as model "iris" on the main bench server (once). */
export async function publishIris(client: InferboxClient) {
  if (irisPublished) return;
  await client.publishModel({ name: 'iris', files: [fixture(IRIS_FILE)] });
  irisPublished = true;
}

/**
 * Two replicas: every serving worker of the bench's two serves each scenario, as every worker served
 * every deployment before replicas meant workers (#14), so the rows stay comparable with older runs.
 */
async function deploy(client: InferboxClient, name: string, model: string, script?: string) {
  const dep = await client.createDeployment({ deployment_name: name, model_name: model, replicas: 2, ...(script ? { script } : {}) });
  return dep.access_token;
}

/** The same CNN served from Keras (TF.js) and from ONNX (onnxruntime); run.ts quotes their ratio. */
export const IRIS_PLAIN = 'iris JSON, no script';
export const IRIS_HOOKS = 'iris JSON, prepare + postprocess';
export const MNIST_CNN_KERAS = 'mnist-cnn JSON [1,28,28,1], no script, Keras .h5 on TF.js';
export const MNIST_CNN_ONNX = 'mnist-cnn JSON [1,1,28,28], no script, same CNN as ONNX';

/**
 * The mnist-argmax request's digit as Open Inference Protocol requests (docs/api/oip.md): JSON with
 * the 784 values flat, and the binary tensor extension (the JSON header, then 3,136 bytes of float32).
 */
export function mnistOipBodies(): { json: string; binary: { body: Buffer; contentType: string; headers: Record<string, string> } } {
  const onnx = JSON.parse(mnistCnnBodies().onnx) as { args: { X: [{ Input3: number[][][][] }] } };
  const pixels = onnx.args.X[0].Input3.flat(3);
  const shape = [1, 1, 28, 28];
  const json = JSON.stringify({ inputs: [{ name: 'Input3', shape, datatype: 'FP32', data: pixels }] });
  const header = Buffer.from(JSON.stringify({ inputs: [{ name: 'Input3', shape, datatype: 'FP32', parameters: { binary_data_size: pixels.length * 4 } }], parameters: { binary_data_output: true } }));
  const body = Buffer.concat([header, Buffer.from(new Float32Array(pixels).buffer)]);
  return { json, binary: { body, contentType: 'application/octet-stream', headers: { 'Inference-Header-Content-Length': String(header.length) } } };
}

export const SCENARIOS: readonly Scenario[] = [
  {
    name: IRIS_PLAIN,
    connections: [1, 8],
    async setup(client) {
      await publishIris(client);
      return { path: '/api/v1/svc/iris-plain/predict', token: await deploy(client, 'iris-plain', 'iris'), body: IRIS_BODY, contentType: 'application/json' };
    },
  },
  {
    name: IRIS_HOOKS,
    connections: [1, 8],
    async setup(client) {
      await publishIris(client);
      const script = 'function prepare(args) { return args; }\nfunction postprocess(outputs) { return outputs; }';
      return { path: '/api/v1/svc/iris-hooks/predict', token: await deploy(client, 'iris-hooks', 'iris', script), body: IRIS_BODY, contentType: 'application/json' };
    },
  },
  {
    name: 'mnist JSON [1,1,28,28], argmax script',
    connections: [1, 8],
    async setup(client) {
      await publishMnist(client);
      const body = readFileSync(join(PACKAGE_ROOT, 'scripts-examples/mnist-argmax/request.json'), 'utf8');
      const script = readFileSync(join(PACKAGE_ROOT, 'scripts-examples/mnist-argmax/script.js'), 'utf8').replace(/console\.log\([^;]*\);/, '');
      return { path: '/api/v1/svc/mnist-argmax/predict', token: await deploy(client, 'mnist-argmax', 'mnist', script), body, contentType: 'application/json' };
    },
  },
  {
    name: 'mnist PNG upload -> logits, no script',
    connections: [1, 8],
    async setup(client) {
      await publishMnist(client);
      return { path: '/api/v1/svc/mnist-png-plain/predict', token: await deploy(client, 'mnist-png-plain', 'mnist'), ...multipart('Input3', fixture('mnist-png/ps_2.png')) };
    },
  },
  {
    name: 'mnist PNG upload -> digit, mnist-png script',
    connections: [1, 8],
    async setup(client) {
      await publishMnist(client);
      const script = readFileSync(join(PACKAGE_ROOT, 'scripts-examples/mnist-png/script.js'), 'utf8');
      return { path: '/api/v1/svc/mnist-png/predict', token: await deploy(client, 'mnist-png', 'mnist', script), ...multipart('Input3', fixture('mnist-png/ps_2.png')) };
    },
  },
  {
    name: MNIST_CNN_KERAS,
    connections: [1, 8],
    async setup(client) {
      await publishKerasCnn(client);
      return { path: '/api/v1/svc/mnist-cnn-keras/predict', token: await deploy(client, 'mnist-cnn-keras', 'mnist-keras'), body: mnistCnnBodies().keras, contentType: 'application/json' };
    },
  },
  {
    name: MNIST_CNN_ONNX,
    connections: [1, 8],
    async setup(client) {
      await publishMnist(client);
      return { path: '/api/v1/svc/mnist-cnn-onnx/predict', token: await deploy(client, 'mnist-cnn-onnx', 'mnist'), body: mnistCnnBodies().onnx, contentType: 'application/json' };
    },
  },
  {
    name: 'iris OIP REST JSON, no script',
    connections: [1, 8],
    async setup(client) {
      await publishIris(client);
      const body = JSON.stringify({ inputs: [{ name: 'float_input', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] }] });
      return { path: '/v2/models/iris-oip/infer', token: await deploy(client, 'iris-oip', 'iris'), body, contentType: 'application/json' };
    },
  },
  {
    name: 'mnist OIP REST JSON [1,1,28,28], no script',
    connections: [1, 8],
    async setup(client) {
      await publishMnist(client);
      return { path: '/v2/models/mnist-oip-json/infer', token: await deploy(client, 'mnist-oip-json', 'mnist'), body: mnistOipBodies().json, contentType: 'application/json' };
    },
  },
  {
    name: 'mnist OIP REST binary tensors [1,1,28,28], no script',
    connections: [1, 8],
    async setup(client) {
      await publishMnist(client);
      return { path: '/v2/models/mnist-oip-binary/infer', token: await deploy(client, 'mnist-oip-binary', 'mnist'), ...mnistOipBodies().binary };
    },
  },
];
