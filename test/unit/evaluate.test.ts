import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { score } from '../../src/front/dispatch/evaluate.js';

describe('publish-time evaluation', () => {
  it('scores a classifier by its label output, or by the argmax of its scores', () => {
    const label = [{ name: 'label', dtype: 'int64' as const, shape: [1] }];
    assert.deepEqual(score([{ label: [0] }, { label: [2] }, { label: [1] }], [0, 2, 2], label, 'classification'), { metric: 'accuracy', value: 2 / 3, samples: 3 });
    const probs = [{ name: 'p', dtype: 'float32' as const, shape: [-1, 3] }];
    assert.equal(score([{ p: [[0.1, 0.8, 0.1]] }, { p: [[0.7, 0.2, 0.1]] }], [1, 1], probs, null).value, 0.5);
  });

  it('scores a regressor with R² (non-integer targets, or mining_function "regression")', () => {
    const out = [{ name: 'y', dtype: 'float32' as const, shape: [-1, 1] }];
    const perfect = score([{ y: [[1.5]] }, { y: [[2.5]] }, { y: [[3.5]] }], [1.5, 2.5, 3.5], out, null);
    assert.deepEqual(perfect, { metric: 'r2', value: 1, samples: 3 });
    const mean = score([{ y: [[2]] }, { y: [[2]] }, { y: [[2]] }], [1, 2, 3], out, 'regression');
    assert.equal(mean.value, 0, 'predicting the mean scores 0');
  });
});
