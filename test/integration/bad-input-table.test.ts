import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ErrorCode } from '../../src/errors.js';
import { assertSetosa, fixtureFile, fixturePath, IRIS_ONNX } from '../helpers/fixtures.js';
import { postHugeBody, rawRequest, type RawAnswer } from '../helpers/http.js';
import { ADMIN_TOKEN, startTestServer, type TestServer } from '../helpers/server.js';

/**
 * One table of bad inputs, each with the status, code and message it gets (#14). Malformed multipart
 * bodies and deep JSON are in bad-requests.test.ts; other error cases in errors.test.ts.
 */

const MAX_JSON_BYTES = 64 * 1024;
const MAX_FILE_BYTES = 64 * 1024;
const MAX_MODEL_BYTES = 8 * 2 ** 20;
const ONE_GB = 1e9;
/** A 1 GB body must be answered long before it is sent: at most this much may have left the client. */
const EARLY_BYTES = 64 * 2 ** 20;

const IRIS_RECORD = { float_input: [5.1, 3.5, 1.4, 0.2] };
const LONG_NAME = 'x'.repeat(300);

interface Ctx {
  readonly server: TestServer;
  /** iris-svc's token, and another deployment's. */
  readonly svcToken: string;
  readonly otherToken: string;
}

interface Row {
  /** What is sent, as a reader of the table would name it. */
  readonly input: string;
  readonly send: (c: Ctx) => Promise<RawAnswer>;
  readonly status: number;
  readonly code: ErrorCode;
  readonly message: RegExp;
  /** Anything else the answer must hold (headers, details). */
  readonly check?: (answer: RawAnswer) => void;
}

const predict = (body: unknown, token?: (c: Ctx) => string | null) => (c: Ctx) =>
  rawRequest(c.server.url, 'POST', '/api/v1/svc/iris-svc/predict', { token: token ? token(c) : c.svcToken, body, headers: { 'content-type': 'application/json' } });
const predictX = (X: unknown) => predict({ args: { X } });
const predictRaw = (text: string) => predict(text);
const predictForm = (fields: Record<string, string>) => (c: Ctx) => {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.set(k, v);
  return rawRequest(c.server.url, 'POST', '/api/v1/svc/iris-svc/predict', { token: c.svcToken, body: form });
};
const publish = (name: string, file?: { filename: string; bytes: Uint8Array }) => async (c: Ctx) => {
  const form = new FormData();
  form.set('name', name);
  form.set('file', new Blob([file?.bytes ?? (await readFile(fixturePath(IRIS_ONNX)))]), file?.filename ?? 'logreg_iris.onnx');
  return rawRequest(c.server.url, 'POST', '/api/v1/models', { body: form });
};
const createDeployment = (deployment_name: string) => (c: Ctx) => rawRequest(c.server.url, 'POST', '/api/v1/deployments', { body: { deployment_name, model_name: 'iris' } });
const svcCall = (deployment: string, token: (c: Ctx) => string | null) => (c: Ctx) =>
  rawRequest(c.server.url, 'POST', `/api/v1/svc/${deployment}/predict`, { token: token(c), body: { args: { X: [IRIS_RECORD] } } });
const withSvcToken = (method: string, path: string, body?: unknown) => (c: Ctx) => rawRequest(c.server.url, method, path, { token: c.svcToken, ...(body === undefined ? {} : { body }) });
const huge = (path: string, contentType: string, prefix: string, options: { chunked?: boolean; token?: (c: Ctx) => string } = {}) => async (c: Ctx) => {
  const answer = await postHugeBody(c.server.url, path, {
    headers: { authorization: `Bearer ${options.token ? options.token(c) : ADMIN_TOKEN}`, 'content-type': contentType },
    prefix,
    zeroBytes: ONE_GB,
    chunked: options.chunked,
  });
  assert.ok(answer.sentBytes < EARLY_BYTES, `answered only after ${answer.sentBytes} bytes of the 1 GB body`);
  return answer;
};
const partHead = (field: string, filename?: string) =>
  `--b\r\ncontent-disposition: form-data; name="${field}"${filename === undefined ? '' : `; filename="${filename}"`}\r\n\r\n`;

const invalidToken = (a: RawAnswer) => assert.match(a.headers.get('www-authenticate') ?? '', /^Bearer realm="inferbox", error="invalid_token"$/);
const notFloat = (value: string) => new RegExp(`^input 'float_input' expects float32 values, got ${value} at flat index 0$`);
const nameRule = (field: string, got: string) => new RegExp(`^${field} must be 1-128 characters of letters, digits, '\\.', '_' or '-', starting with a letter or digit \\(got ${got}\\)$`);
const notForAdmin = /^the bearer token is not valid for the management API$/;

const TABLE: readonly Row[] = [
  // JSON
  { input: 'malformed JSON', send: predictRaw('{"args":'), status: 400, code: 'REQUEST_INVALID', message: /^the body is not valid JSON: / },
  { input: 'a JSON body that is a string', send: predictRaw('"X"'), status: 400, code: 'REQUEST_INVALID', message: /^the JSON body must be an object or an array$/ },
  { input: 'no args.X', send: predict({ args: {} }), status: 400, code: 'REQUEST_INVALID', message: /args\.X is required/ },
  { input: 'args.X with no records', send: predictX([]), status: 400, code: 'REQUEST_INVALID', message: /^args\.X holds no records$/ },
  // Inputs
  {
    input: 'a wrong input name',
    send: predictX([{ sepal: [5.1, 3.5, 1.4, 0.2] }]),
    status: 422,
    code: 'INPUT_UNKNOWN',
    message: /^record 0 names input 'sepal', but the model's inputs are 'float_input'$/,
  },
  { input: 'a missing input', send: predictX([{}]), status: 422, code: 'INPUT_MISSING', message: /^record 0 has no value for input 'float_input' \(expects float32 \[1,4\]\)$/ },
  { input: 'a wrong dtype (a string for a float)', send: predictX([{ float_input: [1, 2, 'x', 4] }]), status: 422, code: 'INPUT_DTYPE_MISMATCH', message: /expects float32 values, got "x" at flat index 2$/ },
  { input: 'a wrong dtype (true for a float)', send: predictX([{ float_input: [true, 2, 3, 4] }]), status: 422, code: 'INPUT_DTYPE_MISMATCH', message: notFloat('true') },
  { input: 'null for a float', send: predictX([{ float_input: [null, 2, 3, 4] }]), status: 422, code: 'INPUT_DTYPE_MISMATCH', message: notFloat('null') },
  {
    input: 'a wrong shape (3 values for [1,4])',
    send: predictX([{ float_input: [[5.1, 3.5, 1.4]] }]),
    status: 422,
    code: 'INPUT_SHAPE_MISMATCH',
    message: /^input 'float_input' expects \[1,4\], got \[1,3\]$/,
    check: (a) => assert.deepEqual(a.json?.error.details, { input: 'float_input', expected: [1, 4], got: [1, 3] }),
  },
  { input: 'a ragged array', send: predictX([{ float_input: [[1, 2, 3, 4], [1, 2]] }]), status: 422, code: 'INPUT_SHAPE_MISMATCH', message: /not rectangular at float_input\[1\]/ },
  // NaN and Infinity: JSON has neither. Bare tokens are not JSON, strings are not floats, and an
  // overflowing literal (1e999 reads as Infinity) is refused where it stands.
  { input: 'NaN as a bare token', send: predictRaw('{"args":{"X":[{"float_input":[NaN,1,2,3]}]}}'), status: 400, code: 'REQUEST_INVALID', message: /^the body is not valid JSON: Unexpected token 'N'/ },
  { input: 'Infinity as a bare token', send: predictRaw('{"args":{"X":[{"float_input":[Infinity,1,2,3]}]}}'), status: 400, code: 'REQUEST_INVALID', message: /^the body is not valid JSON: Unexpected token 'I'/ },
  { input: '"NaN" as a string', send: predictX([{ float_input: ['NaN', 1, 2, 3] }]), status: 422, code: 'INPUT_DTYPE_MISMATCH', message: notFloat('"NaN"') },
  { input: '"-Infinity" as a string', send: predictX([{ float_input: ['-Infinity', 1, 2, 3] }]), status: 422, code: 'INPUT_DTYPE_MISMATCH', message: notFloat('"-Infinity"') },
  {
    input: '1e999 (overflows to Infinity)',
    send: predictRaw('{"args":{"X":[{"float_input":[5.1,1e999,1.4,0.2]}]}}'),
    status: 400,
    code: 'REQUEST_INVALID',
    message: /^the JSON body holds a number beyond the range of a double at args\.X\[0\]\.float_input\[1\] \(it reads as Infinity\): JSON numbers must be finite/,
    check: (a) => assert.deepEqual(a.json?.error.details, { path: 'args.X[0].float_input[1]' }),
  },
  { input: '1e308 for a float32 input (finite, but Infinity as a float32)', send: predictX([{ float_input: [1e308, 1, 2, 3] }]), status: 422, code: 'INPUT_DTYPE_MISMATCH', message: /^input 'float_input' expects float32 values, got 1e\+308 at flat index 0 \(beyond its range: it would become Infinity\)$/ },
  {
    input: '-1e999 in a multipart X field',
    send: predictForm({ X: '[{"float_input":[5.1,3.5,-1e999,0.2]}]' }),
    status: 400,
    code: 'REQUEST_INVALID',
    message: /^multipart field X holds a number beyond the range of a double at X\[0\]\.float_input\[2\]/,
  },
  // 1 GB bodies, streamed: answered early, and the server keeps serving (checked after the table).
  {
    input: '1 GB JSON body (Content-Length)',
    send: huge('/api/v1/svc/iris-svc/predict', 'application/json', '{"args":', { token: (c) => c.svcToken }),
    status: 413,
    code: 'REQUEST_TOO_LARGE',
    message: new RegExp(`^the request body is over the limit of ${MAX_JSON_BYTES} bytes \\(limits\\.maxJsonBytes\\)$`),
  },
  {
    input: '1 GB JSON body (chunked)',
    send: huge('/api/v1/test', 'application/json', '{"args":', { chunked: true }),
    status: 413,
    code: 'REQUEST_TOO_LARGE',
    message: /limits\.maxJsonBytes/,
  },
  {
    input: '1 GB file in a multipart call',
    send: huge('/api/v1/svc/iris-svc/predict', 'multipart/form-data; boundary=b', partHead('float_input', 'big.png'), { chunked: true, token: (c) => c.svcToken }),
    status: 413,
    code: 'REQUEST_TOO_LARGE',
    message: new RegExp(`^a file is over ${MAX_FILE_BYTES} bytes \\(field 'float_input'\\); the limit is limits\\.maxFileBytes$`),
  },
  {
    input: '1 GB text field in a multipart call',
    send: huge('/api/v1/svc/iris-svc/predict', 'multipart/form-data; boundary=b', partHead('X'), { token: (c) => c.svcToken }),
    status: 413,
    code: 'REQUEST_TOO_LARGE',
    message: /^a text field is over 16777216 bytes$/,
  },
  {
    input: '1 GB model file on publish',
    send: huge('/api/v1/models', 'multipart/form-data; boundary=b', `${partHead('name')}big\r\n${partHead('file', 'big.onnx')}`),
    status: 413,
    code: 'REQUEST_TOO_LARGE',
    message: new RegExp(`^a file is over ${MAX_MODEL_BYTES} bytes \\(field 'file'\\); the limit is limits\\.maxModelBytes$`),
  },
  // Model files
  {
    input: 'a corrupt model file (.onnx)',
    send: publish('corrupt', { filename: 'corrupt.onnx', bytes: new Uint8Array([8, 1, 18, 4, 116, 101, 115, 116, 0, 0, 255]) }),
    status: 400,
    code: 'MODEL_INVALID',
    message: /^not a loadable ONNX model: /,
    check: (a) => assert.doesNotMatch(a.json!.error.message, /\/tmp\/|onnxruntime_src/, 'no server paths in the message'),
  },
  { input: 'a truncated Keras .h5', send: async (c) => publish('cut', { filename: 'network.h5', bytes: (await readFile(fixturePath('keras2-regression-mlp-h5/network.h5'))).subarray(0, 3000) })(c), status: 400, code: 'MODEL_INVALID', message: /^the Keras \.h5 file is not a readable HDF5 file: / },
  { input: 'an empty .onnx file', send: publish('empty', { filename: 'empty.onnx', bytes: new Uint8Array() }), status: 400, code: 'MODEL_INVALID', message: /^the uploaded file "empty\.onnx" is empty \(0 bytes\)$/ },
  { input: 'an empty .h5 file', send: publish('empty', { filename: 'empty.h5', bytes: new Uint8Array() }), status: 400, code: 'MODEL_INVALID', message: /^the uploaded file "empty\.h5" is empty \(0 bytes\)$/ },
  // Names: used as folder and file names, so refused before anything is stored.
  { input: 'model name ../evil', send: publish('../evil'), status: 400, code: 'REQUEST_INVALID', message: nameRule('name', '"\\.\\./evil"') },
  { input: 'model name a/b', send: publish('a/b'), status: 400, code: 'REQUEST_INVALID', message: nameRule('name', '"a/b"') },
  { input: 'model name .hidden', send: publish('.hidden'), status: 400, code: 'REQUEST_INVALID', message: nameRule('name', '"\\.hidden"') },
  { input: 'model name of 300 characters', send: publish(LONG_NAME), status: 400, code: 'REQUEST_INVALID', message: nameRule('name', '"x{32}…", 300 characters') },
  { input: 'model name in unicode (modèle)', send: publish('modèle'), status: 400, code: 'REQUEST_INVALID', message: nameRule('name', '"modèle"') },
  { input: 'an empty model name', send: publish(''), status: 400, code: 'REQUEST_INVALID', message: nameRule('name', '""') },
  { input: 'deployment name ../../etc', send: createDeployment('../../etc'), status: 400, code: 'REQUEST_INVALID', message: nameRule('deployment_name', '"\\.\\./\\.\\./etc"') },
  { input: 'deployment name a/b', send: createDeployment('a/b'), status: 400, code: 'REQUEST_INVALID', message: nameRule('deployment_name', '"a/b"') },
  { input: 'deployment name of 300 characters', send: createDeployment(LONG_NAME), status: 400, code: 'REQUEST_INVALID', message: nameRule('deployment_name', '"x{32}…", 300 characters') },
  { input: 'deployment name in unicode (日本)', send: createDeployment('日本'), status: 400, code: 'REQUEST_INVALID', message: nameRule('deployment_name', '"日本"') },
  { input: 'svc path with ..%2F..%2Fetc (admin token)', send: svcCall('..%2F..%2Fetc', () => ADMIN_TOKEN), status: 404, code: 'DEPLOYMENT_NOT_FOUND', message: /^deployment "\.\.\/\.\.\/etc" does not exist$/ },
  { input: 'model path ..%2Fdeployments', send: (c) => rawRequest(c.server.url, 'GET', '/api/v1/models/..%2Fdeployments'), status: 404, code: 'MODEL_NOT_FOUND', message: /^model "\.\.\/deployments" does not exist$/ },
  // Unknown deployments: with a deployment's token, 401 before 404, so names cannot be probed.
  { input: 'an unknown deployment (admin token)', send: svcCall('nope', () => ADMIN_TOKEN), status: 404, code: 'DEPLOYMENT_NOT_FOUND', message: /^deployment "nope" does not exist$/ },
  { input: 'an unknown deployment (a deployment token)', send: svcCall('nope', (c) => c.svcToken), status: 401, code: 'AUTH_INVALID_TOKEN', message: /^the bearer token is not valid for deployment "nope"$/, check: invalidToken },
  { input: 'PATCH an unknown deployment', send: (c) => rawRequest(c.server.url, 'PATCH', '/api/v1/deployments/nope', { body: { replicas: 2 } }), status: 404, code: 'DEPLOYMENT_NOT_FOUND', message: /^deployment "nope" does not exist$/ },
  { input: 'an unknown deployment in unicode (admin token)', send: svcCall(encodeURIComponent('日本'), () => ADMIN_TOKEN), status: 404, code: 'DEPLOYMENT_NOT_FOUND', message: /^deployment "日本" does not exist$/ },
  // Tokens
  {
    input: 'no token',
    send: svcCall('iris-svc', () => null),
    status: 401,
    code: 'AUTH_MISSING_TOKEN',
    message: /^this endpoint needs an Authorization: Bearer <token> header$/,
    check: (a) => {
      assert.equal(a.headers.get('www-authenticate'), 'Bearer realm="inferbox"');
      assert.ok(a.json?.requestId, 'the body names the request');
    },
  },
  { input: 'a wrong deployment token', send: svcCall('iris-svc', () => 'ibx_svc_wrong'), status: 401, code: 'AUTH_INVALID_TOKEN', message: /^the bearer token is not valid for deployment "iris-svc"$/, check: invalidToken },
  { input: "another deployment's token", send: svcCall('iris-svc', (c) => c.otherToken), status: 401, code: 'AUTH_INVALID_TOKEN', message: /^the bearer token is not valid for deployment "iris-svc"$/, check: invalidToken },
  { input: 'a wrong admin token', send: (c) => rawRequest(c.server.url, 'GET', '/api/v1/models', { token: 'wrong' }), status: 401, code: 'AUTH_INVALID_TOKEN', message: notForAdmin, check: invalidToken },
  {
    input: 'Authorization: Basic (not a bearer token)',
    send: (c) => rawRequest(c.server.url, 'GET', '/api/v1/models', { token: null, headers: { authorization: 'Basic abc' } }),
    status: 400,
    code: 'REQUEST_INVALID',
    message: /^the Authorization header must be "Bearer <token>"$/,
    check: (a) => assert.match(a.headers.get('www-authenticate') ?? '', /error="invalid_request"/),
  },
  // Admin calls with a deployment token, its own deployment included.
  { input: 'list models (deployment token)', send: withSvcToken('GET', '/api/v1/models'), status: 401, code: 'AUTH_INVALID_TOKEN', message: notForAdmin, check: invalidToken },
  { input: 'publish (deployment token)', send: withSvcToken('POST', '/api/v1/models', new FormData()), status: 401, code: 'AUTH_INVALID_TOKEN', message: notForAdmin },
  { input: 'delete a model (deployment token)', send: withSvcToken('DELETE', '/api/v1/models/iris'), status: 401, code: 'AUTH_INVALID_TOKEN', message: notForAdmin },
  { input: 'test a model (deployment token)', send: withSvcToken('POST', '/api/v1/test', { args: { model_name: 'iris', X: [IRIS_RECORD] } }), status: 401, code: 'AUTH_INVALID_TOKEN', message: notForAdmin },
  { input: 'create a deployment (deployment token)', send: withSvcToken('POST', '/api/v1/deployments', { deployment_name: 'mine', model_name: 'iris' }), status: 401, code: 'AUTH_INVALID_TOKEN', message: notForAdmin },
  { input: 'PATCH its own deployment (deployment token)', send: withSvcToken('PATCH', '/api/v1/deployments/iris-svc', { replicas: 2 }), status: 401, code: 'AUTH_INVALID_TOKEN', message: notForAdmin },
  { input: 'new token for its own deployment (deployment token)', send: withSvcToken('POST', '/api/v1/deployments/iris-svc/token'), status: 401, code: 'AUTH_INVALID_TOKEN', message: notForAdmin },
  { input: 'stats of its own deployment (deployment token)', send: withSvcToken('GET', '/api/v1/deployments/iris-svc/stats'), status: 401, code: 'AUTH_INVALID_TOKEN', message: notForAdmin },
  { input: 'delete its own deployment (deployment token)', send: withSvcToken('DELETE', '/api/v1/deployments/iris-svc'), status: 401, code: 'AUTH_INVALID_TOKEN', message: notForAdmin },
];

describe('bad inputs, each with its status and error code (#14)', () => {
  const ctx = {} as { -readonly [K in keyof Ctx]: Ctx[K] };

  before(async () => {
    ctx.server = await startTestServer({
      env: {
        INFERBOX_WORKERS_COUNT: '1',
        INFERBOX_LIMITS_MAX_JSON_BYTES: String(MAX_JSON_BYTES),
        INFERBOX_LIMITS_MAX_FILE_BYTES: String(MAX_FILE_BYTES),
        INFERBOX_LIMITS_MAX_MODEL_BYTES: String(MAX_MODEL_BYTES),
      },
    });
    await ctx.server.client.publishModel({ name: 'iris', files: [fixtureFile(IRIS_ONNX)] });
    ctx.svcToken = (await ctx.server.client.createDeployment({ deployment_name: 'iris-svc', model_name: 'iris' })).access_token;
    ctx.otherToken = (await ctx.server.client.createDeployment({ deployment_name: 'other-svc', model_name: 'iris' })).access_token;
  });
  after(() => ctx.server.close());

  for (const row of TABLE) {
    it(`${row.input} -> ${row.status} ${row.code}`, async () => {
      const answer = await row.send(ctx);
      assert.equal(answer.status, row.status, JSON.stringify(answer.json));
      assert.equal(answer.json?.error.code, row.code);
      assert.match(answer.json.error.message, row.message);
      row.check?.(answer);
    });
  }

  it('stored nothing, left no upload behind, and still serves both deployments with their tokens', async () => {
    const { server } = ctx;
    assert.deepEqual((await server.client.listModels()).map((m) => m.model_name), ['iris']);
    assert.deepEqual((await server.client.listDeployments()).map((d) => d.deployment_name), ['iris-svc', 'other-svc']);
    assert.deepEqual(await readdir(join(server.dataDir, 'models')), ['iris']);
    // A refused upload's temp file is removed as its request ends; the 1 GB ones end when the client hangs up.
    for (let i = 0; i < 500 && (await readdir(server.store.layout.uploadsDir)).length > 0; i++) await sleep(10);
    assert.deepEqual(await readdir(server.store.layout.uploadsDir), []);
    assert.deepEqual(await readdir(server.store.layout.tmpDir), ['uploads']);
    for (const [name, token] of [['iris-svc', ctx.svcToken], ['other-svc', ctx.otherToken]] as const) {
      assertSetosa((await server.client.withToken(token).predict(name, { X: [IRIS_RECORD] })).result);
    }
    const refusals = server.logs.filter((l) => l.code === 'INPUT_SHAPE_MISMATCH' || l.code === 'AUTH_INVALID_TOKEN');
    assert.ok(refusals.length > 0 && refusals.every((l) => l.level === 30), '4xx are logged at info');
    const logged = JSON.stringify(server.logs);
    assert.ok(!logged.includes(ctx.svcToken) && !logged.includes(ctx.otherToken), 'tokens never reach the log');
  });
});
