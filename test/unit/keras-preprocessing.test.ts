import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { kerasImpliedPreprocess, type TensorSpec } from '../../src/model/index.js';
import type { LayerEntry } from '../../src/worker/publish/keras/layer-classes.js';
import { leadingPreprocessing, rewriteForTfjs } from '../../src/worker/publish/keras/preprocessing-layers.js';
import { initTfjsBackend } from '../../src/worker/runtimes/tfjs-backend.js';

/** A converted one-layer model (after InputLayer and before Flatten) run on `x`. */
async function runLayer(layer: LayerEntry, inputShape: (number | null)[], x: number[], shape: number[]): Promise<{ input: unknown; output: unknown; values: number[] }> {
  const { tf } = await initTfjsBackend();
  const { config } = rewriteForTfjs(sequential(layer), () => null);
  const layers = [entry('InputLayer', { name: 'x', batch_input_shape: inputShape }), ...(config.config['layers'] as LayerEntry[]).slice(1), entry('Flatten', { name: 'f' })];
  const model = await tf.models.modelFromJSON({ modelTopology: { class_name: 'Sequential', config: { name: 's', layers } } } as never);
  const y = model.predict(tf.tensor(x, shape)) as import('@tensorflow/tfjs').Tensor;
  return { input: model.inputs[0]!.shape, output: model.outputs[0]!.shape, values: [...(await y.data())] };
}

const entry = (class_name: string, config: Record<string, unknown>): LayerEntry => ({ class_name, config });
const sequential = (...layers: LayerEntry[]) => entry('Sequential', { name: 'seq', layers: [entry('InputLayer', { name: 'x', batch_input_shape: [null, 8, 8, 3] }), ...layers] });
const noStats = () => null;
const image: TensorSpec = { name: 'x', dtype: 'float32', shape: [-1, 8, 8, 3] };

describe('Keras preprocessing layers: what TF.js serves and what block they imply', () => {
  it('turns a Normalization with mean and variance in its config into the Rescaling that computes (x - mean) / sqrt(variance)', () => {
    const { config, normalizations } = rewriteForTfjs(sequential(entry('Normalization', { name: 'norm', axis: -1, mean: [1, 2, 3], variance: [4, 16, 0.25] })), noStats);
    const layers = config.config['layers'] as LayerEntry[];
    assert.deepEqual(layers[1], { class_name: 'Rescaling', config: { name: 'norm', trainable: false, scale: [0.5, 0.25, 2], offset: [-0.5, -0.5, -6] } });
    assert.deepEqual(normalizations.get('norm'), { mean: [1, 2, 3], sd: [2, 4, 0.5] });
  });

  it('keeps one number when every channel has the same statistics, and divides by epsilon for a zero variance as Keras does', () => {
    const { config } = rewriteForTfjs(sequential(entry('Normalization', { name: 'n', axis: null, mean: 4, variance: 0 })), noStats);
    const rescaling = (config.config['layers'] as LayerEntry[])[1]!;
    assert.equal(rescaling.config['scale'], 1e7);
    assert.equal(rescaling.config['offset'], -4e7);
  });

  it('reads adapted statistics from the file by the chain of layer names, into nested models', () => {
    const asked: string[][] = [];
    const read = (path: readonly string[]) => {
      asked.push([...path]);
      return { mean: { path: 'm', shape: [1], data: Float32Array.of(10) }, variance: { path: 'v', shape: [1], data: Float32Array.of(25) } };
    };
    const nested = entry('Sequential', { name: 'prep', layers: [entry('Normalization', { name: 'norm', axis: -1, mean: null, variance: null })] });
    const { config } = rewriteForTfjs(sequential(nested), read);
    assert.deepEqual(asked, [['prep', 'norm']]);
    const inner = ((config.config['layers'] as LayerEntry[])[1]!.config['layers'] as LayerEntry[])[0]!;
    assert.deepEqual(inner.config, { name: 'norm', trainable: false, scale: 0.2, offset: -2 });
  });

  it('refuses, naming the layer, what it cannot convert', () => {
    const refused = (layer: LayerEntry, message: RegExp) =>
      assert.throws(() => rewriteForTfjs(sequential(layer), noStats), (e: Error & { code?: string }) => e.code === 'MODEL_UNSUPPORTED' && message.test(e.message));
    refused(entry('Normalization', { name: 'inv', mean: [1], variance: [1], invert: true }), /^layer "inv" is a Normalization layer with invert=True/);
    refused(entry('Normalization', { name: 'ax', axis: 1, mean: [1], variance: [1] }), /^layer "ax" is a Normalization layer over axis 1; only the last axis/);
    refused(entry('Normalization', { name: 'bare', axis: -1, mean: null, variance: null }), /^layer "bare" is a Normalization layer without mean and variance in its config nor adapted statistics in the file$/);
    refused(entry('Resizing', { name: 'r', height: 4, width: 4, interpolation: 'bicubic' }), /^layer "r" is a Resizing layer with interpolation "bicubic"; inferbox serves "bilinear" and "nearest"$/);
  });

  it('resizes as Keras does (half-pixel centres) on batched images, and crops to the aspect ratio first when asked', async () => {
    const row = await runLayer(entry('Resizing', { name: 'r', height: 1, width: 4, interpolation: 'bilinear' }), [null, 1, 2, 1], [0, 1], [1, 1, 2, 1]);
    assert.deepEqual([row.input, row.output, row.values], [[null, 1, 2, 1], [null, 4], [0, 0.25, 0.75, 1]]);
    // 2x4 to 1x1 with crop_to_aspect_ratio: the centred 2x2 box (columns 1 and 2), averaged.
    const cropped = await runLayer(entry('Resizing', { name: 'r', height: 1, width: 1, crop_to_aspect_ratio: true }), [null, 2, 4, 1], [0, 1, 2, 3, 4, 5, 6, 7], [1, 2, 4, 1]);
    assert.deepEqual(cropped.values, [3.5]);
  });

  it('center-crops as Keras does: the centred box sliced, the input keeping its own shape', async () => {
    const x = Array.from({ length: 72 }, (_, i) => i);
    const crop = await runLayer(entry('CenterCrop', { name: 'c', height: 2, width: 3 }), [null, 6, 6, 1], x, [2, 6, 6, 1]);
    assert.deepEqual([crop.input, crop.output, crop.values], [[null, 6, 6, 1], [null, 6], [13, 14, 15, 19, 20, 21, 49, 50, 51, 55, 56, 57]]);
  });

  it('finds the leading preprocessing layers of a Functional input, stopping at the first other layer', () => {
    const node = (e: LayerEntry, from: string | null) => ({ ...e, name: e.config['name'], inbound_nodes: from === null ? [] : [[[from, 0, 0, {}]]] });
    const root = entry('Functional', {
      name: 'f',
      layers: [
        node(entry('InputLayer', { name: 'img' }), null),
        node(entry('Rescaling', { name: 'r', scale: 0.5, offset: 0 }), 'img'),
        node(entry('Conv2D', { name: 'c' }), 'r'),
        node(entry('Rescaling', { name: 'late', scale: 2 }), 'c'),
      ],
    });
    assert.deepEqual(leadingPreprocessing(root, new Map(), ''), [{ input: 'img', layers: [{ class: 'Rescaling', name: 'r', does: 'x * 0.5 + 0' }] }]);
    assert.deepEqual(leadingPreprocessing(sequential(entry('Dense', { name: 'd' }), entry('Rescaling', { name: 'r', scale: 2 })), new Map(), 'x'), []);
  });

  it('implies raw pixels for image inputs only, with the Resizing size for a free-size input', () => {
    const steps = [{ class: 'Resizing', name: 'r', does: 'resize to 4x6', size: { height: 4, width: 6, crop: true } }];
    assert.deepEqual(kerasImpliedPreprocess([{ input: 'x', layers: steps }], [image])?.block, { x: { scale: 1 } });
    assert.deepEqual(kerasImpliedPreprocess([{ input: 'x', layers: steps }], [{ ...image, shape: [-1, -1, -1, 3] }])?.block, { x: { width: 6, height: 4, fit: 'cover', scale: 1 } });
    assert.equal(kerasImpliedPreprocess([{ input: 'x', layers: steps }], [{ name: 'x', dtype: 'float32', shape: [-1, 4] }]), null);
    assert.equal(kerasImpliedPreprocess([], [image]), null);
  });
});
