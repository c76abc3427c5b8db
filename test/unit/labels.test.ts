import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ServeError } from '../../src/errors.js';
import { isProbabilityRow, labelsFromFile } from '../../src/front/deployment-labels.js';
import { applyLabels } from '../../src/worker/models/output-labels.js';
import type { Tensor } from '../../src/model/index.js';

const f32 = (shape: number[], values: number[]): Tensor => ({ dtype: 'float32', shape, data: Float32Array.from(values) });
const refused = (re: RegExp) => (e: unknown) => e instanceof ServeError && e.code === 'REQUEST_INVALID' && re.test(e.message);

describe('labels: top k of a record, softmax of logits, label files', () => {
  const names = ['a', 'b', 'c'];

  it('answers the top k best first, probabilities as they are, ties in class order', () => {
    const out = applyLabels({ p: 'raw' }, { p: f32([1, 3], [0.25, 0.5, 0.25]) }, { topK: 3, outputs: [{ output: 'p', names, scores: 'probabilities' }] });
    assert.deepEqual(out, { p: [{ label: 'b', score: 0.5 }, { label: 'a', score: 0.25 }, { label: 'c', score: 0.25 }] });
  });

  it('scores each class on its own with sigmoid (multi-label heads), best first', () => {
    const out = applyLabels({}, { h: f32([1, 3], [0, 2, -2]) }, { topK: 2, outputs: [{ output: 'h', names, scores: 'sigmoid' }] });
    assert.deepEqual(out.h, [
      { label: names[1], score: 1 / (1 + Math.exp(-2)) },
      { label: names[0], score: 0.5 },
    ]);
  });

  it('softmaxes logits (large ones without overflow), leaves unlabelled outputs alone, one list per row of a multi-row record', () => {
    const out = applyLabels({ logits: null, other: [1] }, { logits: f32([2, 3], [1000, 1001, 999, 0, 0, Math.log(2)]) }, { topK: 2, outputs: [{ output: 'logits', names, scores: 'softmax' }] });
    const rows = out.logits as { label: string; score: number }[][];
    assert.deepEqual(out.other, [1]);
    assert.deepEqual(rows.map((r) => r.map((s) => s.label)), [['b', 'a'], ['c', 'a']]);
    const e = Math.E;
    assert.ok(Math.abs(rows[0]![0]!.score - e / (1 + e + 1 / e)) < 1e-9);
    assert.ok(Math.abs(rows[1]![0]!.score - 0.5) < 1e-6 && Math.abs(rows[1]![1]!.score - 0.25) < 1e-6);
  });

  it('refuses at run time an output that does not split into rows of its labels', () => {
    assert.throws(() => applyLabels({}, { p: f32([1, 4], [1, 2, 3, 4]) }, { topK: 1, outputs: [{ output: 'p', names, scores: 'softmax' }] }), (e: unknown) => e instanceof ServeError && e.code === 'INFERENCE_FAILED' && /output "p" has shape \[1,4\]/.test(e.message));
  });

  it('tells probabilities from logits within 1e-3', () => {
    assert.equal(isProbabilityRow([0.2, 0.3, 0.5]), true);
    assert.equal(isProbabilityRow([0.2, 0.3, 0.4995]), true);
    assert.equal(isProbabilityRow([0.2, 0.3, 0.49]), false);
    assert.equal(isProbabilityRow([1.5, -0.5]), false);
    assert.equal(isProbabilityRow([NaN, 1]), false);
  });

  it('reads text label files, JSON lists and index_to_name.json, and says what is wrong with a bad one', () => {
    assert.deepEqual(labelsFromFile('\uFEFFcat\r\ndog  \nred fox\n\n\n'), ['cat', 'dog', 'red fox']);
    assert.deepEqual(labelsFromFile(['x', 'y']), ['x', 'y']);
    assert.deepEqual(labelsFromFile({ 1: ['n02', 'dog'], 0: 'cat' }), ['cat', 'dog']);
    assert.throws(() => labelsFromFile('a\n\nb'), refused(/line 2 is empty/));
    assert.throws(() => labelsFromFile('\n\n'), refused(/no labels/));
    assert.throws(() => labelsFromFile({ 0: 'a', x: 'b' }), refused(/class indexes 0\.\.1, got "x"/));
    assert.throws(() => labelsFromFile({ 1: 'a', '01': 'b' }), refused(/index_to_name has no class 0/));
    assert.throws(() => labelsFromFile({ 0: 3 }), refused(/"0" must map to a label/));
    assert.throws(() => labelsFromFile(42), refused(/text\/plain/));
  });
});
