import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

/**
 * A one-node ONNX model built here (no float16 model by others was at hand): y = x + x with x and y
 * float16 [batch, 3], so tests can show half-precision models take and return ordinary numbers.
 */
export function float16AddOnnx(): Buffer {
  const FLOAT16 = onnx.TensorProto.DataType.FLOAT16;
  const tensor = (name: string) =>
    onnx.ValueInfoProto.create({ name, type: { tensorType: { elemType: FLOAT16, shape: { dim: [{ dimParam: 'batch' }, { dimValue: 3 }] } } } });
  const model = onnx.ModelProto.create({
    irVersion: 7,
    producerName: 'inferbox-tests',
    opsetImport: [{ domain: '', version: 13 }],
    graph: {
      name: 'half_add',
      node: [{ opType: 'Add', input: ['x', 'x'], output: ['y'], name: 'add' }],
      input: [tensor('x')],
      output: [tensor('y')],
    },
  });
  return Buffer.from(onnx.ModelProto.encode(model).finish());
}
