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

const ML = 'ai.onnx.ml';
const attr = {
  floats: (name: string, floats: number[]) => ({ name, type: onnx.AttributeProto.AttributeType.FLOATS, floats }),
  ints: (name: string, ints: number[]) => ({ name, type: onnx.AttributeProto.AttributeType.INTS, ints }),
  string: (name: string, s: string) => ({ name, type: onnx.AttributeProto.AttributeType.STRING, s: new TextEncoder().encode(s) }),
  strings: (name: string, strings: string[]) => ({ name, type: onnx.AttributeProto.AttributeType.STRINGS, strings: strings.map((v) => new TextEncoder().encode(v)) }),
};

/** skl2onnx's two classifier outputs: the label tensor, and the ZipMap's sequence of {label: probability}. */
function classifierOutputs(labels: 'string' | 'int64') {
  const keyType = labels === 'string' ? onnx.TensorProto.DataType.STRING : onnx.TensorProto.DataType.INT64;
  return [
    onnx.ValueInfoProto.create({ name: 'output_label', type: { tensorType: { elemType: keyType, shape: { dim: [{ dimParam: 'N' }] } } } }),
    onnx.ValueInfoProto.create({
      name: 'output_probability',
      type: { sequenceType: { elemType: { mapType: { keyType, valueType: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT } } } } } },
    }),
  ];
}

function classifierModel(name: string, nodes: onnxProto.onnx.INodeProto[], features: number, labels: 'string' | 'int64'): Buffer {
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'inferbox-tests',
    opsetImport: [{ domain: '', version: 15 }, { domain: ML, version: 1 }],
    graph: {
      name,
      node: nodes,
      input: [onnx.ValueInfoProto.create({ name: 'float_input', type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT, shape: { dim: [{ dimParam: 'N' }, { dimValue: features }] } } } })],
      output: classifierOutputs(labels),
    },
  });
  return Buffer.from(onnx.ModelProto.encode(model).finish());
}

/**
 * The shape of graph skl2onnx writes for `Pipeline([StandardScaler(), LogisticRegression()])` fitted
 * on string class labels (built here; no such file by others was at hand): Scaler -> LinearClassifier
 * (post_transform SOFTMAX, classlabels_strings) -> ZipMap(classlabels_strings). Two features,
 * classes "cat", "dog", "eel"; scores = ((x - offset) * scale) · coefficientsᵀ + intercepts.
 */
export const STRING_LABEL_PIPELINE = {
  classes: ['cat', 'dog', 'eel'],
  offset: [1, -1],
  scale: [0.5, 2],
  coefficients: [[1, -1], [0, 0.5], [-1, 1]],
  intercepts: [0.1, 0, -0.1],
};

export function stringLabelPipelineOnnx(): Buffer {
  const p = STRING_LABEL_PIPELINE;
  return classifierModel('pipeline_logreg', [
    { opType: 'Scaler', domain: ML, input: ['float_input'], output: ['variable'], name: 'Scaler', attribute: [attr.floats('offset', p.offset), attr.floats('scale', p.scale)] },
    {
      opType: 'LinearClassifier', domain: ML, input: ['variable'], output: ['label', 'probability_tensor'], name: 'LinearClassifier',
      attribute: [attr.strings('classlabels_strings', p.classes), attr.floats('coefficients', p.coefficients.flat()), attr.floats('intercepts', p.intercepts), { name: 'multi_class', type: onnx.AttributeProto.AttributeType.INT, i: 1 }, attr.string('post_transform', 'SOFTMAX')],
    },
    { opType: 'Identity', input: ['label'], output: ['output_label'], name: 'Identity' },
    { opType: 'ZipMap', domain: ML, input: ['probability_tensor'], output: ['output_probability'], name: 'ZipMap', attribute: [attr.strings('classlabels_strings', p.classes)] },
  ], 2, 'string');
}

/**
 * skl2onnx's DecisionTreeClassifier shape: one split on feature 0 at 0.5, three string labels
 * ("no", "maybe", "yes"; onnxruntime labels two-class trees by its own binary rule).
 */
export function stringLabelTreeOnnx(): Buffer {
  return classifierModel('tree', [
    {
      opType: 'TreeEnsembleClassifier', domain: ML, input: ['float_input'], output: ['label', 'probabilities'], name: 'TreeEnsembleClassifier',
      attribute: [
        attr.strings('classlabels_strings', ['no', 'maybe', 'yes']),
        attr.ints('nodes_treeids', [0, 0, 0]), attr.ints('nodes_nodeids', [0, 1, 2]), attr.ints('nodes_featureids', [0, 0, 0]),
        attr.floats('nodes_values', [0.5, 0, 0]), attr.strings('nodes_modes', ['BRANCH_LEQ', 'LEAF', 'LEAF']),
        attr.ints('nodes_truenodeids', [1, 0, 0]), attr.ints('nodes_falsenodeids', [2, 0, 0]),
        attr.ints('class_treeids', [0, 0, 0, 0, 0, 0]), attr.ints('class_nodeids', [1, 1, 1, 2, 2, 2]), attr.ints('class_ids', [0, 1, 2, 0, 1, 2]),
        attr.floats('class_weights', [0.75, 0.25, 0, 0, 0.25, 0.75]), attr.string('post_transform', 'NONE'),
      ],
    },
    { opType: 'Identity', input: ['label'], output: ['output_label'], name: 'Identity' },
    { opType: 'ZipMap', domain: ML, input: ['probabilities'], output: ['output_probability'], name: 'ZipMap', attribute: [attr.strings('classlabels_strings', ['no', 'maybe', 'yes'])] },
  ], 1, 'string');
}

/**
 * An image model that shows what it was fed (built here): y = Identity(x) for an image input `x` of
 * `dtype` with free height and width, [1,3,h,w] or [1,h,w,3], so a test reads back the exact tensor
 * the preprocessing made from an upload. `metadata` goes into metadata_props (WinML's Image.* keys).
 */
export function identityImageOnnx(dtype: 'float32' | 'float16' | 'float64', layout: 'nchw' | 'nhwc', metadata: Record<string, string> = {}): Buffer {
  const elemType = { float32: onnx.TensorProto.DataType.FLOAT, float16: onnx.TensorProto.DataType.FLOAT16, float64: onnx.TensorProto.DataType.DOUBLE }[dtype];
  const dims = layout === 'nchw' ? [{ dimValue: 1 }, { dimValue: 3 }, { dimParam: 'h' }, { dimParam: 'w' }] : [{ dimValue: 1 }, { dimParam: 'h' }, { dimParam: 'w' }, { dimValue: 3 }];
  const tensor = (name: string) => onnx.ValueInfoProto.create({ name, type: { tensorType: { elemType, shape: { dim: dims } } } });
  const model = onnx.ModelProto.create({
    irVersion: 7,
    producerName: 'inferbox-tests',
    opsetImport: [{ domain: '', version: 13 }],
    metadataProps: Object.entries(metadata).map(([key, value]) => ({ key, value })),
    graph: { name: 'image_identity', node: [{ opType: 'Identity', input: ['x'], output: ['y'], name: 'identity' }], input: [tensor('x')], output: [tensor('y')] },
  });
  return Buffer.from(onnx.ModelProto.encode(model).finish());
}

/**
 * The Open Inference Protocol specification's example model (inference_rest.md, "Inference Request
 * Examples"), which the specification describes only by its tensors: input0 UINT32 [2,2], input1
 * BOOL [3], output0 FP32 [3,2]. Built here: output0[i][j] = input1[i] + the sum of input0's column j.
 */
export function oipSpecExampleOnnx(): Buffer {
  const T = onnx.TensorProto.DataType;
  const value = (name: string, elemType: number, dims: number[]) =>
    onnx.ValueInfoProto.create({ name, type: { tensorType: { elemType, shape: { dim: dims.map((dimValue) => ({ dimValue })) } } } });
  const ints = (name: string, values: number[]) => ({ name, type: onnx.AttributeProto.AttributeType.INTS, ints: values });
  const int = (name: string, i: number) => ({ name, type: onnx.AttributeProto.AttributeType.INT, i });
  const model = onnx.ModelProto.create({
    irVersion: 7,
    producerName: 'inferbox-tests',
    opsetImport: [{ domain: '', version: 11 }],
    graph: {
      name: 'oip_spec_example',
      node: [
        { opType: 'Cast', input: ['input0'], output: ['f0'], name: 'cast0', attribute: [int('to', T.FLOAT)] },
        { opType: 'ReduceSum', input: ['f0'], output: ['colsum'], name: 'colsum', attribute: [ints('axes', [0]), int('keepdims', 1)] },
        { opType: 'Cast', input: ['input1'], output: ['f1'], name: 'cast1', attribute: [int('to', T.FLOAT)] },
        { opType: 'Unsqueeze', input: ['f1'], output: ['column'], name: 'column', attribute: [ints('axes', [1])] },
        { opType: 'Add', input: ['column', 'colsum'], output: ['output0'], name: 'add' },
      ],
      input: [value('input0', T.UINT32, [2, 2]), value('input1', T.BOOL, [3])],
      output: [value('output0', T.FLOAT, [3, 2])],
    },
  });
  return Buffer.from(onnx.ModelProto.encode(model).finish());
}
