import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { strToU8, unzipSync, zipSync } from 'fflate';
import h5wasm, { type Dataset, type File as H5WasmFile, type Group } from 'h5wasm';
import { detectModelUpload, unzipModelUpload } from '../../src/worker/publish/detect-upload.js';
import { convertKeras3, convertKeras3Files, convertKerasH5 } from '../../src/worker/publish/keras/index.js';
import { toSnakeCase } from '../../src/worker/publish/keras/convert-keras3.js';
import { readArray, withH5File, type Dataset as H5Dataset } from '../../src/worker/publish/keras/h5-file.js';
import type { LoadedModel, Tensor } from '../../src/worker/runtimes/types.js';
import { weightsH5, type Saveable } from '../fixtures/keras3-writer.js';
import { fixture, loadConverted, rejectsWith } from '../helpers/tfjs-fixtures.js';

const KERAS3_LAYERS = fixture('keras3-layers');
const KERAS2_NESTED = fixture('keras2-nested-h5');

interface Expected {
  keras_version: string;
  inputs: Record<string, { shape: number[]; data: number[] }>;
  outputs: Record<string, { shape: number[]; data: number[] }>;
}

const expectedFor = async (file: string, dir = KERAS3_LAYERS): Promise<Expected> =>
  (JSON.parse(await readFile(`${dir}/expected.json`, 'utf8')) as Record<string, Expected>)[file]!;

/** Runs the expected.json inputs through the model and returns each output's values. */
async function predict(model: LoadedModel, expected: Expected): Promise<Record<string, number[]>> {
  const feeds: Record<string, Tensor> = {};
  for (const spec of model.inputs) {
    const input = expected.inputs[spec.name];
    assert.ok(input !== undefined, `no expected input for ${spec.name}`);
    feeds[spec.name] = spec.dtype === 'int32'
      ? { dtype: 'int32', shape: input.shape, data: Int32Array.from(input.data) }
      : { dtype: 'float32', shape: input.shape, data: Float32Array.from(input.data) };
  }
  const out = await model.run(feeds);
  return Object.fromEntries(Object.entries(out).map(([name, t]) => [name, [...(t.data as Float32Array)]]));
}

function assertClose(got: Record<string, number[]>, expected: Expected, tolerance = 1e-5): void {
  for (const [name, want] of Object.entries(expected.outputs)) {
    const values = got[name];
    assert.ok(values !== undefined, `output ${name} missing: ${Object.keys(got).join(', ')}`);
    assert.equal(values.length, want.data.length, name);
    values.forEach((v, i) => assert.ok(Math.abs(v - want.data[i]!) <= tolerance, `${name}[${i}] = ${v}, Keras formula gives ${want.data[i]}`));
  }
}

/** model.weights.h5 read back into the writer's tree (vars by index, sub-objects by name). */
async function readTree(bytes: Uint8Array): Promise<Saveable> {
  const { FS } = await h5wasm.ready;
  const path = `/read-${process.pid}-${Date.now()}.h5`;
  FS.writeFile(path, Uint8Array.from(bytes));
  const file = new h5wasm.File(path, 'r');
  const read = (group: Group): Saveable => {
    const children: Record<string, Saveable> = {};
    let vars: Saveable['vars'];
    for (const key of group.keys()) {
      const child = group.get(key) as Group;
      if (key !== 'vars') {
        children[key] = read(child);
        continue;
      }
      vars = child.keys().sort((a, b) => Number(a) - Number(b)).map((k) => {
        const d = child.get(k) as Dataset;
        const value = d.value as Float32Array | BigInt64Array | number | bigint;
        if (typeof value === 'bigint') return { shape: d.shape!, data: [Number(value)], dtype: '<q' as const };
        if (typeof value === 'number') return { shape: d.shape!, data: [value] };
        return value instanceof BigInt64Array ? { shape: d.shape!, data: Array.from(value, Number), dtype: '<q' as const } : { shape: d.shape!, data: value };
      });
    }
    return { ...(vars === undefined ? {} : { vars }), children };
  };
  const tree = read(file as unknown as Group);
  file.close();
  FS.unlink(path);
  return tree;
}

interface KerasEdit {
  config?: (config: Record<string, any>) => void;
  weights?: (tree: Saveable) => Saveable;
  kerasVersion?: string;
}

/** A copy of a .keras file with its config, weights tree or metadata changed. */
async function editKeras(bytes: Uint8Array, edit: KerasEdit): Promise<Uint8Array> {
  const entries = unzipSync(bytes);
  if (edit.config) {
    const config = JSON.parse(new TextDecoder().decode(entries['config.json'])) as Record<string, any>;
    edit.config(config);
    entries['config.json'] = strToU8(JSON.stringify(config));
  }
  if (edit.weights) entries['model.weights.h5'] = new Uint8Array(await weightsH5(edit.weights(await readTree(entries['model.weights.h5']!))));
  if (edit.kerasVersion) entries['metadata.json'] = strToU8(JSON.stringify({ keras_version: edit.kerasVersion, date_saved: '2023-11-01@00:00:00' }));
  return zipSync(entries, { level: 0 });
}

const layerEntry = (config: Record<string, any>, name: string): Record<string, any> => {
  const found = (config['config']['layers'] as Record<string, any>[]).find((l) => l['config']['name'] === name);
  assert.ok(found, `no layer ${name}`);
  return found;
};

const renameChildren = (tree: Saveable, rename: (key: string) => string): Saveable => ({
  ...tree, children: Object.fromEntries(Object.entries(tree.children ?? {}).map(([k, v]) => [rename(k), v])),
});

describe('Keras 3 .keras files in the layout saving_lib writes', () => {
  it('names containers as keras.utils.naming.to_snake_case does', () => {
    assert.deepEqual(['Conv2D', 'BatchNormalization', 'LeakyReLU', 'GlobalAveragePooling2D', 'LSTM', 'InputLayer', 'Functional', 'Conv2DTranspose'].map(toSnakeCase),
      ['conv2d', 'batch_normalization', 'leaky_re_lu', 'global_average_pooling2d', 'lstm', 'input_layer', 'functional', 'conv2d_transpose']);
  });

  it('serves a Sequential CNN (Conv2D, BatchNormalization, pooling, Dropout, silu) within 1e-5 of Keras\'s formulas', async (t) => {
    const expected = await expectedFor('cnn.keras');
    const converted = await convertKeras3(await readFile(`${KERAS3_LAYERS}/cnn.keras`));
    assert.equal(converted.kerasVersion, '3.4.1');
    // Layers are stored by class (layers/conv2d, layers/conv2d_1, ...), found by the layers' own names.
    assert.deepEqual(converted.weightSpecs.map((w) => w.name), [
      'conv_a/kernel', 'conv_a/bias', 'bn/gamma', 'bn/beta', 'bn/moving_mean', 'bn/moving_variance', 'conv_b/kernel', 'conv_b/bias', 'head/kernel', 'head/bias',
    ]);
    const model = await loadConverted(t, converted);
    assert.deepEqual(model.inputs, [{ name: 'input_layer', dtype: 'float32', shape: [-1, 8, 8, 2] }]);
    assertClose(await predict(model, expected), expected);
  });

  it('serves a Functional text model: int32 tokens, Embedding(mask_zero) with its NotEqual mask op, LSTM, Bidirectional, LeakyReLU(0.1)', async (t) => {
    const expected = await expectedFor('text.keras');
    const model = await loadConverted(t, await convertKeras3(await readFile(`${KERAS3_LAYERS}/text.keras`)));
    assert.deepEqual(model.inputs, [{ name: 'tokens', dtype: 'int32', shape: [-1, 6] }]);
    assert.deepEqual(model.outputs.map((o) => o.name), ['leaky']);
    // The second row is padded with zeros: right only if the mask reaches both LSTMs.
    assertClose(await predict(model, expected), expected);
  });

  it('serves nested models (a Sequential called at node 0, a Functional at node 1) with two inputs and two outputs', async (t) => {
    const expected = await expectedFor('towers.keras');
    const model = await loadConverted(t, await convertKeras3(await readFile(`${KERAS3_LAYERS}/towers.keras`)));
    assert.deepEqual(model.inputs.map((i) => i.name), ['a', 'b']);
    assert.deepEqual(model.outputs.map((o) => o.name), ['y_class', 'y_reg']);
    assertClose(await predict(model, expected), expected);
  });

  it('reads weights stored under _layer_checkpoint_dependencies (Keras 2.13-2.15 .keras files)', async (t) => {
    const expected = await expectedFor('towers.keras');
    const bytes = await editKeras(await readFile(`${KERAS3_LAYERS}/towers.keras`), {
      weights: (tree) => renameChildren(tree, (k) => (k === 'layers' ? '_layer_checkpoint_dependencies' : k)),
    });
    assertClose(await predict(await loadConverted(t, await convertKeras3(bytes)), expected), expected);
  });

  it('reads files from Keras versions that create no group for a layer without variables', async (t) => {
    // saving_lib's H5IOStore.make defers creating `<path>/vars` until a variable is stored.
    const prune = (tree: Saveable): Saveable | null => {
      const children = Object.fromEntries(Object.entries(tree.children ?? {}).flatMap(([k, v]) => {
        const kept = prune(v);
        return kept === null ? [] : [[k, kept]];
      }));
      const vars = tree.vars !== undefined && tree.vars.length > 0 ? tree.vars : undefined;
      if (vars === undefined && Object.keys(children).length === 0) return null;
      return { ...(vars === undefined ? {} : { vars }), children };
    };
    for (const file of ['text.keras', 'towers.keras']) {
      const expected = await expectedFor(file);
      const bytes = await editKeras(await readFile(`${KERAS3_LAYERS}/${file}`), { weights: (tree) => prune(tree)! });
      assertClose(await predict(await loadConverted(t, await convertKeras3(bytes)), expected), expected);
    }
  });

  it('matches layers of a class by rank when the counters skip numbers', async (t) => {
    const expected = await expectedFor('cnn.keras');
    const bytes = await editKeras(await readFile(`${KERAS3_LAYERS}/cnn.keras`), {
      weights: (tree) => ({ ...tree, children: { ...tree.children, layers: renameChildren(tree.children!['layers']!, (k) => (k === 'conv2d_1' ? 'conv2d_3' : k)) } }),
    });
    assertClose(await predict(await loadConverted(t, await convertKeras3(bytes)), expected), expected);
  });

  it('reads Keras 3.0-3.1 configs (module paths, registered names, dtype strings) and a Sequential without its InputLayer', async (t) => {
    const expected = await expectedFor('cnn.keras');
    const bytes = await editKeras(await readFile(`${KERAS3_LAYERS}/cnn.keras`), {
      kerasVersion: '3.0.5',
      config: (c) => {
        const layers = c['config']['layers'] as Record<string, any>[];
        for (const l of layers) Object.assign(l, { module: `keras.src.layers.${l['class_name'].toLowerCase()}`, registered_name: l['class_name'] });
        for (const l of layers) if (typeof l['config']['dtype'] === 'object') l['config']['dtype'] = 'float32';
        layers.shift();
        c['config']['dtype'] = 'float32';
      },
    });
    const model = await loadConverted(t, await convertKeras3(bytes));
    assert.deepEqual(model.inputs, [{ name: 'sequential_input', dtype: 'float32', shape: [-1, 8, 8, 2] }]);
    assertClose(await predict(model, { ...expected, inputs: { sequential_input: expected.inputs['input_layer']! } }), expected);
  });

  it('takes a model saved unzipped (zipped=False, or a Hugging Face Hub folder) from a zip of its folder', async (t) => {
    const expected = await expectedFor('towers.keras');
    const entries = unzipSync(await readFile(`${KERAS3_LAYERS}/towers.keras`));
    const folder = zipSync({ 'towers/config.json': entries['config.json']!, 'towers/model.weights.h5': entries['model.weights.h5']!, 'towers/metadata.json': entries['metadata.json']!, 'towers/README.md': strToU8('# towers') });
    const upload = detectModelUpload(unzipModelUpload({ filename: 'towers.zip', bytes: folder }));
    assert.equal(upload.kind, 'keras3-dir');
    assert.ok(upload.kind === 'keras3-dir' && upload.config.filename === 'towers/config.json' && upload.metadata !== null);
    const converted = await convertKeras3Files({ config: upload.config.bytes, weights: upload.weights.bytes, metadata: upload.metadata!.bytes });
    assert.equal(converted.kerasVersion, '3.10.0');
    assertClose(await predict(await loadConverted(t, converted), expected), expected);
    const npz = zipSync({ 'config.json': entries['config.json']!, 'model.weights.npz': strToU8('PK'), 'metadata.json': entries['metadata.json']! });
    assert.throws(() => detectModelUpload([{ filename: 'm.keras', bytes: npz }]), /saved with weights_format="npz"/);
  });

  it('names the layer and the path when model.weights.h5 lacks a layer', async () => {
    const bytes = await editKeras(await readFile(`${KERAS3_LAYERS}/cnn.keras`), {
      weights: (tree) => ({ ...tree, children: { ...tree.children, layers: { children: Object.fromEntries(Object.entries(tree.children!['layers']!.children!).filter(([k]) => k !== 'dense')) } } }),
    });
    await rejectsWith(convertKeras3(bytes), 'MODEL_INVALID', /no weights for layer "head" \(looked for layers\/dense\)/);
  });
});

describe('Keras 3 .keras refusals: what TF.js would compute differently', () => {
  const text = () => readFile(`${KERAS3_LAYERS}/text.keras`);
  const cnn = () => readFile(`${KERAS3_LAYERS}/cnn.keras`);
  const towers = () => readFile(`${KERAS3_LAYERS}/towers.keras`);

  it('refuses a GRU with reset_after=True, the Keras 3 default', async () => {
    const bytes = await editKeras(await text(), {
      config: (c) => {
        const encoder = layerEntry(c, 'encoder');
        encoder['class_name'] = 'GRU';
        Object.assign(encoder['config'], { reset_after: true });
        delete encoder['config']['unit_forget_bias'];
      },
    });
    await rejectsWith(convertKeras3(bytes), 'MODEL_UNSUPPORTED', /layer "encoder" is a GRU with reset_after=True .*ONNX/);
  });

  it('refuses Keras 3\'s hard_sigmoid, but not a Keras 2.15 .keras file\'s', async () => {
    const hard = (c: Record<string, any>) => (layerEntry(c, 'head')['config']['activation'] = 'hard_sigmoid');
    await rejectsWith(convertKeras3(await editKeras(await cnn(), { config: hard })), 'MODEL_UNSUPPORTED', /layer "head" uses the hard_sigmoid activation, which Keras 3 computes/);
    const keras2 = await convertKeras3(await editKeras(await cnn(), { config: hard, kerasVersion: '2.15.0' }));
    assert.equal(keras2.kerasVersion, '2.15.0');
  });

  it('refuses a raw Keras op whose output feeds a layer, naming it', async () => {
    const bytes = await editKeras(await towers(), {
      config: (c) => {
        const layers = c['config']['layers'] as Record<string, any>[];
        const join = { class_name: '__keras_tensor__', config: { shape: [null, 8], dtype: 'float32', keras_history: ['join', 0, 0] } };
        layers.splice(4, 0, { module: 'keras.src.ops.numpy', class_name: 'Add', config: { name: 'add' }, registered_name: 'Add', name: 'add', inbound_nodes: [{ args: [join, 1.0], kwargs: {} }] });
        layerEntry(c, 'y_reg')['inbound_nodes'][0]['args'][0]['config']['keras_history'] = ['add', 0, 0];
      },
    });
    await rejectsWith(convertKeras3(bytes), 'MODEL_UNSUPPORTED', /takes the output of "add", a raw Keras operation \(Add\)/);
  });

  it('refuses a layer called with training=True in the saved graph', async () => {
    const bytes = await editKeras(await towers(), { config: (c) => (layerEntry(c, 'encoder')['inbound_nodes'][0]['kwargs'] = { training: true }) });
    await rejectsWith(convertKeras3(bytes), 'MODEL_UNSUPPORTED', /layer "encoder" is called with training=True/);
  });

  it('refuses a tensor passed as a keyword argument other than a mask', async () => {
    const bytes = await editKeras(await text(), {
      config: (c) => (layerEntry(c, 'bi')['inbound_nodes'][0]['kwargs'] = { initial_state: { class_name: '__keras_tensor__', config: { shape: [null, 3], dtype: 'float32', keras_history: ['score', 0, 0] } } }),
    });
    await rejectsWith(convertKeras3(bytes), 'MODEL_UNSUPPORTED', /"bi" is called with a tensor as its "initial_state" argument/);
  });

  it('refuses a Bidirectional whose backward layer differs from its forward layer', async () => {
    const bytes = await editKeras(await text(), { config: (c) => (layerEntry(c, 'bi')['config']['backward_layer']['config']['activation'] = 'relu') });
    await rejectsWith(convertKeras3(bytes), 'MODEL_UNSUPPORTED', /layer "bi" is a Bidirectional layer whose backward layer is configured differently/);
  });

  it('refuses a registered custom layer that borrows a built-in class name', async () => {
    const bytes = await editKeras(await cnn(), { config: (c) => Object.assign(layerEntry(c, 'head'), { module: 'my_models.layers', registered_name: 'my_models>Dense' }) });
    await rejectsWith(convertKeras3(bytes), 'MODEL_UNSUPPORTED', /layer "head" is a Dense layer, a custom or unknown layer class .*registered as "my_models>Dense"/);
  });

  it('refuses keepdims=True pooling and quantized layers', async () => {
    const keepdims = await editKeras(await cnn(), { config: (c) => (layerEntry(c, 'gap')['config']['keepdims'] = true) });
    await rejectsWith(convertKeras3(keepdims), 'MODEL_UNSUPPORTED', /layer "gap" is a global pooling layer with keepdims=True/);
    const int8 = await editKeras(await cnn(), {
      config: (c) => (layerEntry(c, 'head')['config']['dtype'] = { module: 'keras', class_name: 'QuantizedDTypePolicy', config: { name: 'int8_from_float32' }, registered_name: null }),
    });
    await rejectsWith(convertKeras3(int8), 'MODEL_UNSUPPORTED', /layer "head" is quantized/);
  });
});

describe('Keras 2 .h5 files in the layout hdf5_format.py writes', () => {
  it('serves nested models stored as one weights group each (trainable weights first), with chunked weight_names and BatchNormalization axis [1]', async (t) => {
    const expected = await expectedFor('towers.h5', KERAS2_NESTED);
    const converted = await convertKerasH5(await readFile(`${KERAS2_NESTED}/towers.h5`));
    assert.equal(converted.kerasVersion, '2.13.1');
    assert.deepEqual(converted.weightSpecs.slice(0, 6).map((w) => w.name), ['enc_dense/kernel', 'enc_dense/bias', 'enc_bn/gamma', 'enc_bn/beta', 'enc_bn/moving_mean', 'enc_bn/moving_variance']);
    const model = await loadConverted(t, converted);
    assert.deepEqual(model.outputs.map((o) => o.name), ['y_class', 'y_reg']);
    assertClose(await predict(model, expected), expected);
  });

  it('serves LSTM and Bidirectional weights named with their cells (lstm/lstm_cell/kernel:0)', async (t) => {
    const expected = await expectedFor('rnn.h5', KERAS2_NESTED);
    const model = await loadConverted(t, await convertKerasH5(await readFile(`${KERAS2_NESTED}/rnn.h5`)));
    assert.deepEqual(model.inputs, [{ name: 'lstm_input', dtype: 'float32', shape: [-1, 5, 3] }]);
    assertClose(await predict(model, expected), expected);
  });
});

describe('Keras 2 .h5 files saved with the Theano backend', () => {
  it('flips convolution kernels as Keras does when loading them (conv_utils.convert_kernel)', async (t) => {
    const original = await readFile(fixture('keras2-mnist-cnn-h5/mnist-cnn.h5'));
    const { FS } = await h5wasm.ready;
    const path = `/theano-${process.pid}.h5`;
    FS.writeFile(path, Uint8Array.from(original));
    const file = new h5wasm.File(path, 'a');
    // The same network as Theano would have stored it: kernels mirrored in both spatial axes.
    for (const name of ['conv2d', 'conv2d_1']) {
      const kernel = file.get(`model_weights/${name}/${name}/kernel:0`) as Dataset;
      const [h, w, cin, cout] = kernel.shape as [number, number, number, number];
      const data = kernel.value as Float32Array;
      const mirrored = new Float32Array(data.length);
      const block = cin * cout;
      for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) mirrored.set(data.subarray(((h - 1 - y) * w + (w - 1 - x)) * block, ((h - 1 - y) * w + (w - 1 - x) + 1) * block), (y * w + x) * block);
      kernel.write_slice([[0, h], [0, w], [0, cin], [0, cout]], mirrored);
    }
    file.delete_attribute('backend');
    file.create_attribute('backend', 'theano', null, 'S');
    file.close();
    const theano = FS.readFile(path);
    FS.unlink(path);

    const digit = { dtype: 'float32' as const, shape: [1, 28, 28, 1], data: Float32Array.from({ length: 784 }, (_, i) => ((i * 37) % 255)) };
    const run = async (bytes: Uint8Array) => {
      const model = await loadConverted(t, await convertKerasH5(bytes));
      return [...((await model.run({ conv2d_input: digit })).dense!.data as Float32Array)];
    };
    const [expected, got] = [await run(original), await run(theano)];
    got.forEach((v, i) => assert.ok(Math.abs(v - expected[i]!) <= 1e-3 * Math.max(1, Math.abs(expected[i]!)), `logit ${i}: ${v} vs ${expected[i]}`));
  });
});

describe('weight datasets', () => {
  /** One dataset written with h5wasm, read back through readArray. */
  async function readOne(write: (file: H5WasmFile) => void): Promise<ReturnType<typeof readArray>> {
    const { FS } = await h5wasm.ready;
    const path = `/one-${process.pid}-${Date.now()}.h5`;
    const file = new h5wasm.File(path, 'w');
    write(file);
    file.close();
    const bytes = FS.readFile(path);
    FS.unlink(path);
    return withH5File(bytes, 'test file', (f) => readArray(f.get('w') as H5Dataset));
  }

  it('reads bfloat16 variables (16-bit patterns marked dtype=bfloat16, as Keras 3 stores them)', async () => {
    // 1.0, -2.5 and 0.15625 as bfloat16: the high 16 bits of their float32 patterns.
    const bits = Uint16Array.from([1, -2.5, 0.15625], (v) => new Uint32Array(Float32Array.of(v).buffer)[0]! >>> 16);
    const array = await readOne((file) => file.create_dataset({ name: 'w', data: bits, shape: [3], dtype: '<H' }).create_attribute('dtype', 'bfloat16', null, 'S'));
    assert.deepEqual([...array.data], [1, -2.5, 0.15625]);
  });

  it('refuses a dataset that is not numbers', async () => {
    await rejectsWith(readOne((file) => file.create_dataset({ name: 'w', data: ['a', 'b'], shape: [2], dtype: 'S1' })), 'MODEL_UNSUPPORTED', /weight "\/w" is stored as HDF5 type class 3/);
  });
});
