// Writes the two MNIST request bodies used in README.md from the ONNX test fixture.
//
//   node docs/examples/make-mnist-requests.mjs
//
// test/fixtures/onnx-mnist8-cntk/mnist_input_1.pb is an ONNX TensorProto: dims [1, 1, 28, 28],
// float32 pixels (0-255) in rawData, little-endian. The model's input is named Input3.
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { onnx } = require('onnx-proto');

const root = new URL('../../', import.meta.url);
const here = new URL('./', import.meta.url);

const tensor = onnx.TensorProto.decode(readFileSync(new URL('test/fixtures/onnx-mnist8-cntk/mnist_input_1.pb', root)));
const dims = tensor.dims.map(Number);
if (dims.join('x') !== '1x1x28x28') throw new Error(`expected dims 1x1x28x28, got ${dims.join('x')}`);
const raw = Buffer.from(tensor.rawData);
const pixels = Array.from({ length: raw.length / 4 }, (_, i) => raw.readFloatLE(i * 4));

// [1][1][28][28], one image row per line so the digit shows in the file.
const rows = Array.from({ length: 28 }, (_, r) => JSON.stringify(pixels.slice(r * 28, r * 28 + 28)));
const image = `[[[\n${rows.map((row) => `        ${row}`).join(',\n')}\n      ]]]`;

const write = (file, args) => {
  writeFileSync(new URL(file, here), `{"args":{${args}"X":[{"Input3":\n      ${image}\n    }]}}\n`);
  console.log(`wrote docs/examples/${file}`);
};
write('mnist-test-request.json', '"model_name":"mnist","model_version":"1",');
write('mnist-predict-request.json', '');
