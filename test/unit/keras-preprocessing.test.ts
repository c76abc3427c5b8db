import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { kerasImpliedPreprocess, type TensorSpec } from '../../src/model/index.js';
import type { LayerEntry } from '../../src/worker/publish/keras/layer-classes.js';
import { leadingPreprocessing, rewriteForTfjs } from '../../src/worker/publish/keras/preprocessing-layers.js';

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
