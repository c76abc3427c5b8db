import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { fixtureFile, fixturePath, IRIS_ONNX } from '../helpers/fixtures.js';
import { ADMIN_TOKEN, startTestServer, type TestServer } from '../helpers/server.js';

const LIMIT = 4096;

/**
 * Every way a result leaves a script: JSON text from the sandbox (sync and async), data the worker
 * serializes (typed arrays, BigInt, Map), the predict flow and named functions.
 */
const SCRIPT = `
function text(args) { return 'x'.repeat(args.n) }
async function textLater(args) { await null; return 'x'.repeat(args.n) }
function zeros(args) { return new Uint8Array(args.n) }
async function zerosLater(args) { await null; return new Uint8Array(args.n) }
const VALUES = [0.1, 1 / 3, NaN, -0, 1e-8, 3.4e38, Infinity, -2.5];
function floats() { return { f32: new Float32Array(VALUES), f64: new Float64Array(VALUES), big: new BigInt64Array([1n, -(2n ** 63n)]), m: new Map([[1, undefined]]) } }
function ramp(args) { const a = new Float32Array(args.n); for (let i = 0; i < a.length; i++) a[i] = i / 7; return a }
function postprocess() { return { probs: new Float32Array(1200).fill(0.1) } }
`;

/** What the server answered before #14 for a Float32Array: each float widened to a double, printed by JSON. */
const asBefore = (values: number[], ctor: Float32ArrayConstructor | Float64ArrayConstructor) => JSON.parse(JSON.stringify(Array.from(ctor.from(values)))) as unknown;

describe('script results: the size limit and the JSON path (#14)', () => {
  let server: TestServer;
  let token: string;

  async function call(fn: string, args: unknown, query = '') {
    const res = await fetch(`${server.url}/api/v1/svc/results/${fn}${query}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ args }) });
    const text = await res.text();
    return { status: res.status, type: res.headers.get('content-type'), bytes: Buffer.byteLength(text), body: JSON.parse(text) as Record<string, any> };
  }

  before(async () => {
    // One worker: the call after a refused one is served by the worker that refused it.
    server = await startTestServer({ env: { INFERBOX_WORKERS_COUNT: '1' } });
    await server.client.publishModel({ name: 'iris', files: [fixtureFile(IRIS_ONNX)] });
    const dep = await server.client.createDeployment({ deployment_name: 'results', model_name: 'iris', script: SCRIPT, max_result_bytes: LIMIT });
    assert.equal(dep.max_result_bytes, LIMIT);
    token = dep.access_token;
  });
  after(() => server.close());

  it('answers 413 SCRIPT_RESULT_TOO_LARGE naming the limit, its value and the size, and keeps serving', async () => {
    const refused = await call('zeros', { n: 100_000 });
    assert.equal(refused.status, 413);
    assert.equal(refused.body.error.code, 'SCRIPT_RESULT_TOO_LARGE');
    assert.match(refused.body.error.message, /^zeros\(\) returned a result of at least 200001 bytes as JSON, over the limit of 4096 bytes \(max_result_bytes: the deployment's own, or sandbox\.maxResultBytes\)/);
    assert.deepEqual(refused.body.error.details, { limit: 'max_result_bytes', maxResultBytes: LIMIT, resultBytes: 200_001 });
    const next = await call('zeros', { n: 3 });
    assert.deepEqual([next.status, next.body], [200, { result: [0, 0, 0] }]);
  });

  it('takes a result of exactly the limit and refuses one byte more, as text from the sandbox and as data', async () => {
    // "x…x" is n + 2 bytes; [0,0,…] is 2n + 1.
    for (const fn of ['text', 'textLater']) {
      const fits = await call(fn, { n: LIMIT - 2 });
      assert.deepEqual([fits.status, fits.bytes], [200, LIMIT + '{"result":}'.length], fn);
      const over = await call(fn, { n: LIMIT - 1 });
      assert.equal(over.status, 413, fn);
      assert.equal(over.body.error.details.resultBytes, LIMIT + 1, fn);
      assert.match(over.body.error.message, new RegExp(`^${fn}\\(\\) returned a result of 4097 bytes as JSON`));
    }
    for (const fn of ['zeros', 'zerosLater']) {
      const fits = await call(fn, { n: (LIMIT - 2) / 2 });
      assert.equal(fits.status, 200, fn);
      assert.equal((fits.body.result as number[]).length, (LIMIT - 2) / 2);
      const over = await call(fn, { n: LIMIT / 2 });
      assert.equal(over.status, 413, fn);
      assert.equal(over.body.error.details.resultBytes, LIMIT + 1, fn);
    }
  });

  it('counts a result in UTF-8 bytes', async () => {
    const small = await server.client.createDeployment({ deployment_name: 'wide', model_name: 'iris', script: 'function wide(a) { return "€".repeat(a.n) }', max_result_bytes: 8192 });
    const wide = async (n: number) => fetch(`${server.url}/api/v1/svc/wide/wide`, { method: 'POST', headers: { authorization: `Bearer ${small.access_token}`, 'content-type': 'application/json' }, body: JSON.stringify({ args: { n } }) });
    assert.equal((await wide(2730)).status, 200, '8192 bytes');
    const over = await wide(2731);
    assert.equal(over.status, 413);
    assert.equal(((await over.json()) as { error: { details: { resultBytes: number } } }).error.details.resultBytes, 8195);
  });

  it('answers typed arrays, BigInt and Map with the same numbers as before', async () => {
    const values = [0.1, 1 / 3, Number.NaN, -0, 1e-8, 3.4e38, Number.POSITIVE_INFINITY, -2.5];
    const { status, body, type } = await call('floats', {});
    assert.equal(status, 200);
    assert.equal(type, 'application/json; charset=utf-8');
    assert.deepEqual(body, { result: { f32: asBefore(values, Float32Array), f64: asBefore(values, Float64Array), big: [1, '-9223372036854775808'], m: { 1: null } } });
  });

  it('answers a typed array larger than a frame header takes the same, with ?debug=true too', async () => {
    const big = await server.client.createDeployment({ deployment_name: 'ramp', model_name: 'iris', script: SCRIPT, max_result_bytes: 2 ** 20 });
    const n = 20_000; // about 380 KB of JSON: it crosses the pipe as bytes
    const expected = asBefore(Array.from({ length: n }, (_, i) => i / 7), Float32Array);
    for (const query of ['', '?debug=true']) {
      const res = await fetch(`${server.url}/api/v1/svc/ramp/ramp${query}`, { method: 'POST', headers: { authorization: `Bearer ${big.access_token}`, 'content-type': 'application/json' }, body: JSON.stringify({ args: { n } }) });
      assert.equal(res.status, 200);
      const text = await res.text();
      assert.equal(res.headers.get('content-length'), String(Buffer.byteLength(text)));
      assert.deepEqual(JSON.parse(text), query === '' ? { result: expected } : { result: expected, stdout: [], stderr: [] });
    }
  });

  it('sizes the predict flow’s result too, and names the flow', async () => {
    const X = [{ float_input: [5.1, 3.5, 1.4, 0.2] }];
    const refused = await call('predict', { X });
    assert.equal(refused.status, 413);
    assert.match(refused.body.error.message, /^postprocess\(\) returned a result of at least \d+ bytes as JSON/);
    const roomy = await server.client.createDeployment({ deployment_name: 'roomy', model_name: 'iris', script: SCRIPT, max_result_bytes: 2 ** 20 });
    const out = await server.client.withToken(roomy.access_token).predict('roomy', { X });
    assert.deepEqual(out.result, [{ probs: asBefore(Array.from({ length: 1200 }, () => 0.1), Float32Array) }]);
  });

  it('takes max_result_bytes up to sandbox.maxResultBytesCap and shows it in the view', async () => {
    const res = await fetch(`${server.url}/api/v1/deployments/results`, { method: 'PATCH', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ max_result_bytes: 2 ** 30 }) });
    assert.equal(res.status, 400);
    const body = (await res.json()) as { error: { code: string; message: string; details: unknown } };
    assert.equal(body.error.code, 'REQUEST_INVALID');
    assert.equal(body.error.message, `max_result_bytes must be at most ${256 * 2 ** 20} (sandbox.maxResultBytesCap), got ${2 ** 30}`);
    assert.deepEqual(body.error.details, { field: 'max_result_bytes' });
    const patched = await server.client.patchDeployment('results', { max_result_bytes: 2 * LIMIT });
    assert.equal(patched.max_result_bytes, 2 * LIMIT);
    assert.equal((await call('zeros', { n: LIMIT - 1 })).status, 200, 'the new limit serves');
    const plain = await server.client.createDeployment({ deployment_name: 'plain', model_name: 'iris' });
    assert.equal(plain.max_result_bytes, 8 * 2 ** 20, 'the default: sandbox.maxResultBytes');
  });
});

describe('image() sized before decoding (#14)', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ env: { INFERBOX_WORKERS_COUNT: '1' } });
    await server.client.publishModel({ name: 'iris', files: [fixtureFile(IRIS_ONNX)] });
  });
  after(() => server.close());

  it('refuses image({ width: 16384, height: 16384 }) of a tiny PNG with INPUT_IMAGE_TOO_LARGE naming the requested size', async () => {
    const script = `async function huge(args) { return (await args.files.img.image({ width: 16384, height: 16384 })).shape }
async function fine(args) { return (await args.files.img.image({ width: 8, height: 8 })).shape }`;
    const dep = await server.client.createDeployment({ deployment_name: 'images', model_name: 'iris', script });
    const png = readFileSync(fixturePath('tiny-images/image_png_test.png'));
    const send = async (fn: string) => {
      const form = new FormData();
      form.append('img', new Blob([png], { type: 'image/png' }), 'tiny.png');
      const res = await fetch(`${server.url}/api/v1/svc/images/${fn}`, { method: 'POST', headers: { authorization: `Bearer ${dep.access_token}` }, body: form });
      return { status: res.status, body: (await res.json()) as Record<string, any> };
    };
    const refused = await send('huge');
    assert.equal(refused.status, 422);
    assert.equal(refused.body.error.code, 'INPUT_IMAGE_TOO_LARGE');
    assert.match(refused.body.error.message, /^file 'img' \(tiny\.png\) is \d+x\d+; resized to 16384x16384 it would be 268435456 pixels; the limit is 40000000 \(limits\.maxImagePixels\)$/);
    assert.deepEqual(await send('fine'), { status: 200, body: { result: [8, 8, 3] } }, 'the worker keeps serving');
  });
});
