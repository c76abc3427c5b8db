import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { fixtureFile, fixturePath } from '../helpers/fixtures.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

/** test/fixtures/keras-preprocessing/expected.json: the PNG's pixels and each model's answer to them (float64, Keras's formulas). */
const expected = JSON.parse(readFileSync(fixturePath('keras-preprocessing/expected.json'), 'utf8')) as {
  'pixels.png': { shape: [number, number, number]; data: number[] };
  'rescale-norm.keras': { scores: number[] };
  'resize-nested.h5': { scores: number[] };
};
const [H, W, C] = expected['pixels.png'].shape;
const pixel = (y: number, x: number) => expected['pixels.png'].data.slice((y * W + x) * C, (y * W + x + 1) * C);
/** The image as one record's nested [H][W][C] array; `factor` repeats every pixel in a factor x factor block. */
const nested = (factor = 1) => Array.from({ length: H * factor }, (_, y) => Array.from({ length: W * factor }, (_, x) => pixel(Math.floor(y / factor), Math.floor(x / factor))));

function assertClose(answer: unknown, want: number[], what: string): void {
  // One record answers its output with the batch axis of one image: [[p0, p1, p2]].
  const actual = Array.isArray(answer) ? answer.flat() : answer;
  assert.ok(Array.isArray(actual) && actual.length === want.length, `${what}: ${JSON.stringify(actual)}`);
  (actual as number[]).forEach((v, i) => assert.ok(Math.abs(v - want[i]!) < 1e-5, `${what}[${i}]: ${v} vs ${want[i]} (all: ${JSON.stringify(actual)} vs ${JSON.stringify(want)})`));
}

describe('Keras preprocessing layers imply a preprocess block (#15)', () => {
  let server: TestServer;
  const tokens = new Map<string, string>();

  async function upload(deployment: string, field: string): Promise<{ status: number; body: Record<string, any> }> {
    const form = new FormData();
    form.set(field, new Blob([readFileSync(fixturePath('keras-preprocessing/pixels.png'))]), 'pixels.png');
    const res = await fetch(`${server.url}/api/v1/svc/${deployment}/predict`, { method: 'POST', headers: { authorization: `Bearer ${tokens.get(deployment)}` }, body: form });
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  }
  async function predict(deployment: string, record: Record<string, unknown>): Promise<Record<string, any>> {
    const res = await fetch(`${server.url}/api/v1/svc/${deployment}/predict`, {
      method: 'POST', headers: { authorization: `Bearer ${tokens.get(deployment)}`, 'content-type': 'application/json' }, body: JSON.stringify({ args: { X: [record] } }),
    });
    const body = (await res.json()) as Record<string, any>;
    assert.equal(res.status, 200, JSON.stringify(body));
    return body;
  }

  before(async () => {
    server = await startTestServer({ env: { INFERBOX_WORKERS_COUNT: '1' } });
    await server.client.publishModel({ name: 'kp-keras3', files: [fixtureFile('keras-preprocessing/rescale-norm.keras')] });
    await server.client.publishModel({ name: 'kp-h5', files: [fixtureFile('keras-preprocessing/resize-nested.h5')] });
    await server.client.publishModel({ name: 'kp-plain', files: [fixtureFile('keras3-layers/cnn.keras')] });
  });
  after(() => server.close());

  it('shows the block a model that rescales and normalises itself implies, and why, in the version', async () => {
    const v = await server.client.getVersion('kp-keras3');
    assert.deepEqual(v.inputs.map((i) => [i.name, i.shape]), [['image', [-1, 8, 8, 3]]]);
    assert.deepEqual(v.preprocess, { image: { scale: 1 } });
    assert.equal(v.preprocess_source?.from, 'keras_layers');
    assert.match(v.preprocess_source!.reason, /^input 'image' goes through Rescaling "to_unit" \(x \* 0\.00392157 \+ 0\), then Normalization "standardize" \(\(x - \[0\.\d+,0\.\d+,-0\.\d+\]\) \/ \[0\.\d+,0\.\d+,0\.\d+\]\) inside the model, so it takes raw 0\.\.255 pixels$/);
  });

  it('for an input of free size, the implied block resizes on the host to the size of the model\'s first Resizing', async () => {
    const v = await server.client.getVersion('kp-h5');
    assert.deepEqual(v.inputs.map((i) => [i.name, i.shape]), [['photo', [-1, -1, -1, 3]]]);
    assert.deepEqual(v.preprocess, { photo: { width: 8, height: 8, fit: 'fill', scale: 1 } });
    assert.match(v.preprocess_source!.reason, /^input 'photo' goes through Resizing "resize" \(resize to 8x8\), then Rescaling "to_signed" \(x \* 0\.00784314 \+ -1\), then Normalization "norm" .* inside the model, so it takes raw 0\.\.255 pixels \(resized on the host to 8x8\)$/);
  });

  it('implies nothing for a Keras model without preprocessing layers', async () => {
    const v = await server.client.getVersion('kp-plain');
    assert.equal(v.preprocess, undefined);
    assert.equal(v.preprocess_source, undefined);
    const d = await server.client.createDeployment({ deployment_name: 'kp-plain-svc', model_name: 'kp-plain' });
    assert.equal(d.preprocess, null);
    assert.equal(d.preprocess_inferred, false);
  });

  it('a PNG upload to a deployment without a block of its own answers what the model computes on the raw pixels (Keras 3, Rescaling + adapted Normalization)', async () => {
    const d = await server.client.createDeployment({ deployment_name: 'kp-keras3-svc', model_name: 'kp-keras3' });
    tokens.set('kp-keras3-svc', d.access_token);
    assert.deepEqual(d.preprocess, { image: { scale: 1 } });
    assert.equal(d.preprocess_inferred, true);
    const { status, body } = await upload('kp-keras3-svc', 'image');
    assert.equal(status, 200, JSON.stringify(body));
    assertClose(body.result[0].classes, expected['rescale-norm.keras'].scores, 'PNG upload');
    // The same pixels as JSON: the model does its own scaling, so both paths agree.
    assertClose((await predict('kp-keras3-svc', { image: nested() })).result[0].classes, expected['rescale-norm.keras'].scores, 'JSON X');
  });

  it('a PNG upload answers what the model computes (Keras 2 .h5, Resizing, then a nested Sequential of Rescaling + adapted Normalization)', async () => {
    const d = await server.client.createDeployment({ deployment_name: 'kp-h5-svc', model_name: 'kp-h5' });
    tokens.set('kp-h5-svc', d.access_token);
    assert.equal(d.preprocess_inferred, true);
    const { status, body } = await upload('kp-h5-svc', 'photo');
    assert.equal(status, 200, JSON.stringify(body));
    assertClose(body.result[0].classes, expected['resize-nested.h5'].scores, 'PNG upload');
  });

  it("the model's own Resizing resizes as Keras does (half-pixel centres): the image at twice the size answers the same", async () => {
    // Each pixel repeated 2x2: Keras's bilinear resize back to 8x8 samples between two equal pixels,
    // so it gives the original exactly; align_corners (tfjs-layers' Resizing) would not.
    assertClose((await predict('kp-h5-svc', { photo: nested(2) })).result[0].classes, expected['resize-nested.h5'].scores, 'JSON X at 16x16');
  });

  it('a deployment given its own block keeps it; PATCH null drops the inferred one', async () => {
    const own = await server.client.createDeployment({ deployment_name: 'kp-own', model_name: 'kp-keras3', preprocess: { image: { scale: 2 } } });
    assert.deepEqual(own.preprocess, { image: { scale: 2 } });
    assert.equal(own.preprocess_inferred, false);
    const dropped = await server.client.patchDeployment('kp-keras3-svc', { preprocess: null });
    assert.equal(dropped.preprocess, null);
    assert.equal(dropped.preprocess_inferred, false);
  });

  it('an inferred block follows the deployment to another model version: that version\'s implied block, or none', async () => {
    const d = await server.client.createDeployment({ deployment_name: 'kp-follow', model_name: 'kp-keras3', model_version: '1' });
    assert.equal(d.preprocess_inferred, true);
    await server.client.publishModel({ name: 'kp-keras3', files: [fixtureFile('keras3-layers/cnn.keras')] });
    const moved = await server.client.patchDeployment('kp-follow', { model_version: '2' });
    assert.deepEqual([moved.model_version, moved.preprocess, moved.preprocess_inferred], ['2', null, false]);
    const back = await server.client.patchDeployment('kp-follow', { model_version: '1' });
    assert.deepEqual([back.preprocess, back.preprocess_inferred], [null, false], 'a version without a block leaves none to follow');
  });
});
