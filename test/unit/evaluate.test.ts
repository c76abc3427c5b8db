import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { score } from '../../src/front/dispatch/evaluate.js';

describe('publish-time evaluation', () => {
  it('scores a classifier by its label output, or by the argmax of its scores', () => {
    const label = [{ name: 'label', dtype: 'int64' as const, shape: [1] }];
    assert.deepEqual(score([{ label: [0] }, { label: [2] }, { label: [1] }], [0, 2, 2], label, 'classification'), { metric: 'accuracy', value: 2 / 3, samples: 3, yTestKind: 'labels' });
    const probs = [{ name: 'p', dtype: 'float32' as const, shape: [-1, 3] }];
    assert.equal(score([{ p: [[0.1, 0.8, 0.1]] }, { p: [[0.7, 0.2, 0.1]] }], [1, 1], probs, null).value, 0.5);
  });

  it('scores a regressor with R² (non-integer targets, or mining_function "regression")', () => {
    const out = [{ name: 'y', dtype: 'float32' as const, shape: [-1, 1] }];
    const perfect = score([{ y: [[1.5]] }, { y: [[2.5]] }, { y: [[3.5]] }], [1.5, 2.5, 3.5], out, null);
    assert.deepEqual(perfect, { metric: 'r2', value: 1, samples: 3, yTestKind: 'values' });
    const mean = score([{ y: [[2]] }, { y: [[2]] }, { y: [[2]] }], [1, 2, 3], out, 'regression');
    assert.equal(mean.value, 0, 'predicting the mean scores 0');
  });

  it('reads y_test as one-hot rows or probabilities by their argmax, named by the class list where there is one', () => {
    const label = [{ name: 'label', dtype: 'int64' as const, shape: [1] }];
    const results = [{ label: [0] }, { label: [2] }, { label: [1] }];
    assert.deepEqual(score(results, [[1, 0, 0], [0, 0, 1], [0, 0, 1]], label, null), { metric: 'accuracy', value: 2 / 3, samples: 3, yTestKind: 'one_hot' });
    assert.deepEqual(score(results, [[0.9, 0.05, 0.05], [0.1, 0.2, 0.7], [0.2, 0.1, 0.7]], label, null), { metric: 'accuracy', value: 2 / 3, samples: 3, yTestKind: 'probabilities' });
    assert.deepEqual(score(results, [[0], [2], [2]], label, null).yTestKind, 'labels', 'a column of labels');
    const named = [
      { name: 'output_label', dtype: 'string' as const, shape: [-1] },
      { name: 'output_probability', dtype: 'float32' as const, shape: [-1, 2], classes: ['cat', 'dog'] },
    ];
    assert.equal(score([{ output_label: ['dog'] }, { output_label: ['cat'] }], [[0, 1], [0, 1]], named, null).value, 0.5);
  });

  it('refuses y_test rows of different lengths, or vectors that are not numbers', () => {
    const label = [{ name: 'label', dtype: 'int64' as const, shape: [1] }];
    assert.throws(() => score([{ label: [0] }, { label: [1] }], [[1, 0], [0, 0, 1]], label, null), /y_test rows must all have the same length: y_test\[0\] has 2 values, y_test\[1\] has 3$/);
    assert.throws(() => score([{ label: [0] }], [['a', 'b']], label, null), /y_test\[0\] must be a label, or a row of 2 numbers/);
  });
});
