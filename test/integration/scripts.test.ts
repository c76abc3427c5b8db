import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ApiError } from '../../src/client/index.js';
import { fixtureFile, IRIS_ONNX, MNIST_ONNX, nestValues, readTensorProto, assertSetosa } from '../helpers/fixtures.js';
import { rawRequest } from '../helpers/http.js';
import { ADMIN_TOKEN, startTestServer, type TestServer } from '../helpers/server.js';

const digit2 = readTensorProto('onnx-mnist8-cntk/mnist_input_0.pb');
const X2 = [{ Input3: nestValues(digit2.values, digit2.dims) }];

const ARGMAX_SCRIPT = `
function postprocess(outputs) {
  const digit = argmax(outputs[0]);
  console.log('the digit is', digit);
  console.warn('some warning');
  return [digit];
}`;

/** `keys` of `record`, for comparing what a test names and no more. */
function pick(record: Readonly<Record<string, unknown>> | undefined, keys: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(keys.filter((k) => record !== undefined && k in record).map((k) => [k, record![k]]));
}

async function post(server: TestServer, path: string, body: unknown, token = ADMIN_TOKEN) {
  const res = await fetch(`${server.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

describe('custom scripts: the DaaS contract', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ env: { INFERBOX_WORKERS_COUNT: '1' } });
    await server.client.publishModel({ name: 'mnist', files: [fixtureFile(MNIST_ONNX)] });
    await server.client.publishModel({ name: 'iris', files: [fixtureFile(IRIS_ONNX)] });
  });
  after(() => server.close());

  it('generates a template that names the inputs, outputs and shapes', async () => {
    const res = await fetch(`${server.url}/api/v1/models/mnist/versions/1/script-template`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    assert.equal(res.status, 200);
    const text = await res.text();
    assert.match(text, /Input3/);
    assert.match(text, /Plus214_Output_0/);
    assert.match(text, /1, ?1, ?28, ?28/);
    assert.match(text, /function postprocess/);
  });

  it('runs the seed flow: postprocess prints a line and answers the argmax, on /script/test and on a deployment', async () => {
    const test = await post(server, '/api/v1/models/mnist/versions/1/script/test', { script: ARGMAX_SCRIPT, args: { X: X2 } });
    assert.equal(test.status, 200, JSON.stringify(test.body));
    assert.deepEqual(test.body, { result: [{ Plus214_Output_0: 2 }], stdout: ['the digit is 2'], stderr: ['some warning'] });

    const dep = await server.client.createDeployment({ deployment_name: 'mnist-digit', model_name: 'mnist', script: ARGMAX_SCRIPT });
    assert.equal(dep.has_script, true);
    const svc = server.client.withToken(dep.access_token);
    assert.deepEqual(await svc.predict('mnist-digit', { X: X2 }), { result: [{ Plus214_Output_0: 2 }] });
    const debug = await svc.predict('mnist-digit', { X: X2 }, { debug: true });
    assert.deepEqual(debug.stdout, ['the digit is 2'], 'only this request’s lines');
    assert.deepEqual(debug.stderr, ['some warning']);
  });

  it('passes the JSON result of a quiet flow through as the body: the same answer as without a script, split tables too', async () => {
    const dep = await server.client.createDeployment({ deployment_name: 'iris-quiet', model_name: 'iris', script: 'function prepare(args) { return args }\nfunction postprocess(outputs) { return outputs }' });
    const plainDep = await server.client.createDeployment({ deployment_name: 'iris-bare', model_name: 'iris' });
    const X = [{ float_input: [5.1, 3.5, 1.4, 0.2] }];
    const call = async (name: string, token: string, body: unknown, query = '') => {
      const res = await fetch(`${server.url}/api/v1/svc/${name}/predict${query}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      return { type: res.headers.get('content-type'), body: (await res.json()) as Record<string, unknown> };
    };
    for (const body of [{ args: { X } }, { args: { X: { columns: ['float_input'], data: [[[5.1, 3.5, 1.4, 0.2]]] } } }]) {
      const scripted = await call('iris-quiet', dep.access_token, body);
      const bare = await call('iris-bare', plainDep.access_token, body);
      assert.equal(scripted.type, 'application/json; charset=utf-8');
      assert.deepEqual(scripted.body, bare.body);
    }
    const debug = await call('iris-quiet', dep.access_token, { args: { X } }, '?debug=true');
    assert.deepEqual(Object.keys(debug.body), ['result', 'stdout', 'stderr']);
    assert.deepEqual([debug.body['stdout'], debug.body['stderr']], [[], []]);
  });

  it('saves a version script, reads it back and deploys it with script: true', async () => {
    const put = await fetch(`${server.url}/api/v1/models/iris/versions/1/script`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'text/plain' },
      body: 'const NAMES = ["setosa","versicolor","virginica"];\nfunction postprocess([label]) { return { species: NAMES[label[0]] }; }\nfunction hello(args) { return "hi " + args.who; }',
    });
    assert.equal(put.status, 200);
    assert.deepEqual(((await put.json()) as { functions: string[] }).functions.sort(), ['hello', 'postprocess']);
    const get = await fetch(`${server.url}/api/v1/models/iris/versions/1/script`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    assert.match(await get.text(), /setosa/);

    const dep = await server.client.createDeployment({ deployment_name: 'iris-named', model_name: 'iris', script: true, replicas: 2 });
    const svc = server.client.withToken(dep.access_token);
    assert.deepEqual((await svc.predict('iris-named', { X: [{ float_input: [5.1, 3.5, 1.4, 0.2] }, { float_input: [6.7, 3.0, 5.2, 2.3] }] })).result, [{ species: 'setosa' }, { species: 'virginica' }]);
    assert.deepEqual((await svc.predict('iris-named', { who: 'there' }, { fn: 'hello' })).result, 'hi there');
    await assert.rejects(svc.predict('iris-named', {}, { fn: 'nope' }), (e: ApiError) => e.status === 404 && e.code === 'FUNCTION_NOT_FOUND' && /hello/.test(e.message));
    await assert.rejects(svc.predict('iris-named', {}, { fn: 'postprocess' }), (e: ApiError) => e.code === 'FUNCTION_NOT_FOUND', 'hooks are not callable by URL');
  });

  it('answers 404 SCRIPT_NOT_FOUND for a version without a saved script', async () => {
    const res = await fetch(`${server.url}/api/v1/models/mnist/versions/1/script`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    assert.equal(res.status, 404);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'SCRIPT_NOT_FOUND');
  });

  it('lets predict(args) take over the call with model.run, async, with typed arrays', async () => {
    const script = `
      async function predict(args) {
        const pixels = new Float32Array(784);
        pixels.set(args.X[0].Input3.flat(3));
        const out = await model.run({ Input3: tensor(pixels, [1, 1, 28, 28]) });
        console.log(model.name, model.version, model.inputs[0].name);
        return { digit: argmax(out.Plus214_Output_0) };
      }`;
    const res = await post(server, '/api/v1/models/mnist/versions/1/script/test', { script, args: { X: X2 } });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(res.body, { result: { digit: 2 }, stdout: ['mnist 1 Input3'], stderr: [] });
  });

  it('runs init(ctx) once per sandbox with the model signature', async () => {
    const script = `
      let calls = 0; let seen;
      function init(ctx) { seen = ctx.model.name + '@' + ctx.model.version + ':' + ctx.model.outputs.map(o => o.name).join(','); }
      function info() { calls++; return { seen, calls }; }`;
    const dep = await server.client.createDeployment({ deployment_name: 'init-check', model_name: 'iris', script });
    const svc = server.client.withToken(dep.access_token);
    await svc.predict('init-check', {}, { fn: 'info' });
    const second = await svc.predict('init-check', {}, { fn: 'info' });
    assert.deepEqual(second.result, { seen: 'iris@1:output_label,output_probability', calls: 2 });
  });

  it('turns fail(message) into 422 SCRIPT_REJECTED and a throw into 500 SCRIPT_FAILED with the script’s stack in stderr', async () => {
    const rejected = await post(server, '/api/v1/models/iris/versions/1/script/test', { script: 'function prepare(a) { console.log("checking"); fail("need four numbers"); }', args: { X: [] } });
    assert.equal(rejected.status, 422);
    assert.equal(rejected.body.error.code, 'SCRIPT_REJECTED');
    assert.equal(rejected.body.error.message, 'need four numbers');
    assert.deepEqual(rejected.body.error.details.stdout, ['checking']);

    const thrown = await post(server, '/api/v1/models/iris/versions/1/script/test', { script: 'function helper() { throw new TypeError("bad record"); }\nfunction prepare(a) { return helper(); }', args: { X: [] } });
    assert.equal(thrown.status, 500);
    assert.equal(thrown.body.error.code, 'SCRIPT_FAILED');
    assert.match(thrown.body.error.message, /bad record/);
    const stderr = (thrown.body.error.details.stderr as string[]).join('\n');
    assert.match(stderr, /script\.js:1/);
    assert.doesNotMatch(stderr, /node_modules|src\/worker|isolated-vm/);
  });

  it('refuses a deployment whose script does not compile, and stores nothing', async () => {
    await assert.rejects(
      server.client.createDeployment({ deployment_name: 'broken', model_name: 'iris', script: 'function postprocess( {' }),
      (e: ApiError) => e.status === 422 && e.code === 'SCRIPT_INVALID',
    );
    await assert.rejects(server.client.getDeployment('broken'), (e: ApiError) => e.code === 'DEPLOYMENT_NOT_FOUND');
  });

  it('keeps the old script serving when a PATCH brings one that fails init, and switches on a good one', async () => {
    const dep = await server.client.createDeployment({ deployment_name: 'switch', model_name: 'iris', script: 'function postprocess() { return { v: 1 }; }' });
    const svc = server.client.withToken(dep.access_token);
    const args = { X: [{ float_input: [5.1, 3.5, 1.4, 0.2] }] };
    await assert.rejects(server.client.patchDeployment('switch', { script: 'function init() { throw new Error("no config"); }' }), (e: ApiError) => e.code === 'SCRIPT_INVALID' && /no config/.test(e.message));
    assert.deepEqual((await svc.predict('switch', args)).result, [{ v: 1 }]);
    // Requests in flight during a switch all succeed, on the old or the new script.
    const during = Array.from({ length: 40 }, () => svc.predict('switch', args));
    await server.client.patchDeployment('switch', { script: 'function postprocess() { return { v: 2 }; }' });
    const answers = await Promise.all(during);
    assert.ok(answers.every((a) => [1, 2].includes((a.result as { v: number }[])[0]!.v)));
    assert.deepEqual((await svc.predict('switch', args)).result, [{ v: 2 }]);
    await server.client.patchDeployment('switch', { script: false });
    assertSetosa((await svc.predict('switch', args)).result);
  });

  it('shows what a failing script printed to svc callers only with ?debug=true', async () => {
    const dep = await server.client.createDeployment({ deployment_name: 'noisy-fail', model_name: 'iris', script: 'function prepare(a) { console.log("secret internals"); throw new Error("boom"); }' });
    const args = { X: [{ float_input: [1, 2, 3, 4] }] };
    const plain = await post(server, '/api/v1/svc/noisy-fail/predict', { args }, dep.access_token);
    assert.equal(plain.status, 500);
    assert.equal(plain.body.error.code, 'SCRIPT_FAILED');
    assert.equal(plain.body.error.details?.stdout, undefined);
    assert.doesNotMatch(JSON.stringify(plain.body), /secret internals/);
    const debug = await post(server, '/api/v1/svc/noisy-fail/predict?debug=true', { args }, dep.access_token);
    assert.deepEqual(debug.body.error.details.stdout, ['secret internals']);
  });

  it('accepts an application/javascript body, reads a deployment’s script back, and names hooks in FUNCTION_NOT_FOUND', async () => {
    const text = 'function postprocess(o) { return o; }\nfunction big() { return { n: 12n, arr: new Float32Array([1.5, 2]), set: new Set([1]), none: undefined }; }';
    const put = await fetch(`${server.url}/api/v1/models/iris/versions/1/script`, { method: 'PUT', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/javascript' }, body: text });
    assert.equal(put.status, 200);
    const dep = await server.client.createDeployment({ deployment_name: 'wire', model_name: 'iris', script: true });
    const back = await fetch(`${server.url}/api/v1/deployments/wire/script`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    assert.equal(await back.text(), text);
    const svc = server.client.withToken(dep.access_token);
    assert.deepEqual((await svc.predict('wire', {}, { fn: 'big' })).result, { n: 12, arr: [1.5, 2], set: [1] }, 'BigInt, typed arrays and Sets reach callers as JSON');
    await assert.rejects(svc.predict('wire', {}, { fn: 'postprocess' }), (e: ApiError) => e.code === 'FUNCTION_NOT_FOUND' && /'postprocess' is a hook/.test(e.message));
  });

  it("answers a script deployment's input errors with the details they have without a script, from the model step and from model.run (#14)", async () => {
    const bare = await server.client.createDeployment({ deployment_name: 'iris-plain', model_name: 'iris' });
    const flowDep = await server.client.createDeployment({ deployment_name: 'iris-flow', model_name: 'iris', script: 'function prepare(args) { return args }\nfunction postprocess(outputs) { return outputs }' });
    const runDep = await server.client.createDeployment({ deployment_name: 'iris-run', model_name: 'iris', script: 'async function predict(args) { return model.run(args.X[0]) }' });
    const call = (name: string, token: string, X: unknown, fn = '') =>
      rawRequest(server.url, 'POST', `/api/v1/svc/${name}/predict${fn}`, { token, body: { args: { X } } });
    const cases: [string, unknown, Record<string, unknown>][] = [
      ['INPUT_UNKNOWN', [{ sepal: [5.1, 3.5, 1.4, 0.2] }], { input: 'sepal' }],
      ['INPUT_SHAPE_MISMATCH', [{ float_input: [[5.1, 3.5, 1.4]] }], { input: 'float_input', expected: [1, 4], got: [1, 3] }],
      ['INPUT_DTYPE_MISMATCH', [{ float_input: [1, 2, 'x', 4] }], { input: 'float_input' }],
      ['INPUT_MISSING', [{}], { input: 'float_input' }],
    ];
    for (const [code, X, expected] of cases) {
      const without = await call('iris-plain', bare.access_token, X);
      assert.equal(without.json?.error.code, code);
      assert.deepEqual(pick(without.json?.error.details, Object.keys(expected)), expected, `${code} without a script`);
      for (const [name, token, fn] of [['iris-flow', flowDep.access_token, ''], ['iris-run', runDep.access_token, '?fn=predict']] as const) {
        const scripted = await call(name, token, X, fn);
        assert.equal(scripted.status, without.status, `${code} on ${name}`);
        assert.equal(scripted.json?.error.code, code, `${code} on ${name}`);
        assert.deepEqual(scripted.json?.error.details, without.json?.error.details, `${code} on ${name}: the same details`);
      }
    }
    // With ?debug=true the script's output joins the same details.
    const debug = await call('iris-flow', flowDep.access_token, cases[1]![1], '?debug=true');
    assert.deepEqual(debug.json?.error.details, { ...cases[1]![2], stdout: [], stderr: [] });
  });

  it("answers image() errors of a preprocess_files script with the field, as without a script (#14)", async () => {
    const script = `async function preprocess_files(args) {
      const { data } = await args.files.Input3.image({ grayscale: true, width: 28, height: 28 });
      return { X: [{ Input3: tensor(data, [1, 1, 28, 28]) }] };
    }`;
    const bare = await server.client.createDeployment({ deployment_name: 'mnist-plain', model_name: 'mnist' });
    const scripted = await server.client.createDeployment({ deployment_name: 'mnist-files', model_name: 'mnist', script });
    const send = (name: string, token: string) => {
      const form = new FormData();
      form.set('Input3', new Blob([Buffer.from('not an image at all')]), 'notes.txt');
      return rawRequest(server.url, 'POST', `/api/v1/svc/${name}/predict`, { token, body: form });
    };
    const without = await send('mnist-plain', bare.access_token);
    const withScript = await send('mnist-files', scripted.access_token);
    assert.equal(without.json?.error.code, 'INPUT_IMAGE_INVALID');
    assert.deepEqual(without.json?.error.details, { field: 'Input3' });
    assert.equal(withScript.status, 422);
    assert.equal(withScript.json?.error.code, 'INPUT_IMAGE_INVALID');
    assert.equal(withScript.json?.error.message, without.json?.error.message);
    assert.deepEqual(withScript.json?.error.details, { field: 'Input3' });
  });

  it('keeps what the script printed when the flow fails outside the sandbox', async () => {
    const res = await post(server, '/api/v1/models/iris/versions/1/script/test', { script: 'function prepare(a) { console.log("before"); return a; }\nfunction postprocess() { return [1, 2, 3]; }', args: { X: [{ float_input: [1, 2, 3, 4] }] } });
    assert.equal(res.status, 500);
    assert.match(res.body.error.message, /postprocess returned an array of 3 items for 2 output/);
    assert.deepEqual(res.body.error.details.stdout, ['before']);
  });
});
