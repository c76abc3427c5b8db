import assert from 'node:assert/strict';
import { request } from 'node:http';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { MAX_JSON_DEPTH } from '../../src/front/body.js';
import { assertSetosa, fixtureFile, fixturePath, IRIS_ONNX } from '../helpers/fixtures.js';
import { ADMIN_TOKEN, startTestServer, type TestServer } from '../helpers/server.js';

const BOUNDARY = 'inferbox-test-boundary';
const FORM = `multipart/form-data; boundary=${BOUNDARY}`;
const field = (name: string, value: string) => `--${BOUNDARY}\r\ncontent-disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
const filePart = (name: string, filename: string) =>
  `--${BOUNDARY}\r\ncontent-disposition: form-data; name="${name}"; filename="${filename}"\r\ncontent-type: application/octet-stream\r\n\r\n`;
const close = `--${BOUNDARY}--\r\n`;

/** A JSON text nested `depth` arrays deep: [[[...]]]. */
const deepArray = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);

interface Answer {
  status: number;
  code?: string;
  message?: string;
}

describe('malformed bodies are 400 REQUEST_INVALID naming what is wrong, never 500 (#14)', () => {
  let server: TestServer;
  let svcToken: string;
  let paths: { name: string; path: string; auth: string; fields: string }[];

  before(async () => {
    server = await startTestServer({ env: { INFERBOX_WORKERS_COUNT: '1' } });
    await server.client.publishModel({ name: 'iris', files: [fixtureFile(IRIS_ONNX)] });
    svcToken = (await server.client.createDeployment({ deployment_name: 'iris-svc', model_name: 'iris' })).access_token;
    paths = [
      { name: 'predict', path: '/api/v1/svc/iris-svc/predict', auth: `Bearer ${svcToken}`, fields: '' },
      { name: 'test', path: '/api/v1/test', auth: `Bearer ${ADMIN_TOKEN}`, fields: field('model_name', 'iris') },
      { name: 'publish', path: '/api/v1/models', auth: `Bearer ${ADMIN_TOKEN}`, fields: field('name', 'iris2') },
    ];
  });
  after(() => server.close());

  async function post(path: string, auth: string, contentType: string, body: string | Buffer): Promise<Answer> {
    const res = await fetch(`${server.url}${path}`, { method: 'POST', headers: { authorization: auth, 'content-type': contentType }, body });
    const text = await res.text();
    const parsed = JSON.parse(text) as { error?: { code?: string; message?: string } };
    return { status: res.status, code: parsed.error?.code, message: parsed.error?.message };
  }

  function assertInvalid(answer: Answer, message: RegExp, what: string): void {
    assert.equal(answer.status, 400, `${what}: ${JSON.stringify(answer)}`);
    assert.equal(answer.code, 'REQUEST_INVALID', what);
    assert.match(answer.message ?? '', message, what);
  }

  async function uploads(): Promise<string[]> {
    return readdir(server.store.layout.uploadsDir);
  }

  /** The front still answers and still predicts after each bad request. */
  async function assertServing(): Promise<void> {
    assertSetosa((await server.client.withToken(svcToken).predict('iris-svc', { X: [{ float_input: [5.1, 3.5, 1.4, 0.2] }] })).result);
  }

  it('a multipart body without its closing boundary', async () => {
    for (const p of paths) {
      const answer = await post(p.path, p.auth, FORM, p.fields + field('a', 'hello'));
      assertInvalid(answer, /the multipart body ended before its closing boundary/, p.name);
    }
  });

  it('a body that is not multipart although its content type says multipart/form-data', async () => {
    for (const p of paths) {
      const answer = await post(p.path, p.auth, FORM, JSON.stringify({ X: [{ float_input: [5.1, 3.5, 1.4, 0.2] }] }));
      assertInvalid(answer, /the multipart body ended before its closing boundary \(truncated, or not a multipart\/form-data body at all\)/, p.name);
    }
  });

  it('an empty body that says multipart/form-data', async () => {
    for (const p of paths) {
      assertInvalid(await post(p.path, p.auth, FORM, ''), /the multipart body ended before its closing boundary/, p.name);
    }
  });

  it('multipart/form-data without a boundary parameter', async () => {
    for (const p of paths) {
      const answer = await post(p.path, p.auth, 'multipart/form-data', p.fields + field('a', 'hello') + close);
      assertInvalid(answer, /multipart\/form-data has no boundary parameter/, p.name);
    }
  });

  it('a part without a name, as a field and as a file', async () => {
    const unnamedField = `--${BOUNDARY}\r\ncontent-disposition: form-data\r\n\r\nhello\r\n`;
    const unnamedFile = `--${BOUNDARY}\r\ncontent-disposition: form-data; filename="model.onnx"\r\n\r\nbytes\r\n`;
    for (const p of paths) {
      for (const part of [unnamedField, unnamedFile]) {
        const answer = await post(p.path, p.auth, FORM, p.fields + part + close);
        assertInvalid(answer, /a multipart part has no name \(its Content-Disposition needs name="\.\.\."\)/, p.name);
      }
    }
    assert.deepEqual(await uploads(), []);
  });

  it('a part whose header is not a header', async () => {
    for (const p of paths) {
      const answer = await post(p.path, p.auth, FORM, `${p.fields}--${BOUNDARY}\r\nthis is not a header line\r\n\r\nhello\r\n${close}`);
      assertInvalid(answer, /a multipart part has a malformed header/, p.name);
    }
  });

  it('a publish whose body ends inside the model file: 400, and no temp file is left in the uploads folder', async () => {
    const model = await readFile(fixturePath(IRIS_ONNX));
    const body = Buffer.concat([Buffer.from(field('name', 'iris2') + filePart('file', 'model.onnx')), model.subarray(0, model.length >> 1)]);
    assertInvalid(await post('/api/v1/models', `Bearer ${ADMIN_TOKEN}`, FORM, body), /the multipart body ended (before its closing boundary|inside a file part)/, 'publish');
    assert.deepEqual(await uploads(), []);
    assert.deepEqual((await server.client.listModels()).map((m) => m.model_name), ['iris']);
    await assertServing();
  });

  it('a publish whose client goes away mid-upload leaves no temp file, and the front keeps serving', async () => {
    const chunk = Buffer.alloc(256 * 1024, 7);
    await new Promise<void>((resolve, reject) => {
      const req = request(`${server.url}/api/v1/models`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': FORM, 'content-length': String(64 * 2 ** 20) },
      });
      req.on('error', () => resolve()); // the socket we destroy
      req.on('response', (res) => reject(new Error(`the server answered ${res.statusCode} before the body ended`)));
      req.write(field('name', 'iris3') + filePart('file', 'model.onnx'));
      req.write(chunk);
      // Wait until the upload is on disk, so the abort hits a file being streamed.
      void (async () => {
        for (let i = 0; i < 500 && (await uploads()).length === 0; i++) {
          req.write(chunk);
          await sleep(10);
        }
        assert.notDeepEqual(await uploads(), [], 'the upload never reached the uploads folder');
        req.destroy();
      })().catch(reject);
    });
    for (let i = 0; i < 500 && (await uploads()).length > 0; i++) await sleep(10);
    assert.deepEqual(await uploads(), []);
    assert.deepEqual((await server.client.listModels()).map((m) => m.model_name), ['iris']);
    await assertServing();
  });

  it(`a JSON body nested 100,000 levels deep: 400 naming the ${MAX_JSON_DEPTH}-level limit, and the front keeps serving`, async () => {
    const deep = deepArray(100_000);
    const bodies: [string, string, string][] = [
      ['/api/v1/svc/iris-svc/predict', `Bearer ${svcToken}`, `{"args":{"X":${deep}}}`],
      ['/api/v1/svc/iris-svc/predict', `Bearer ${svcToken}`, deep],
      ['/api/v1/test', `Bearer ${ADMIN_TOKEN}`, `{"args":{"model_name":"iris","X":${deep}}}`],
      ['/api/v1/deployments', `Bearer ${ADMIN_TOKEN}`, `{"deployment_name":"x","model_name":"iris","description":${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}}`],
    ];
    for (const [path, auth, body] of bodies) {
      assertInvalid(await post(path, auth, 'application/json', body), new RegExp(`^the JSON body is nested deeper than ${MAX_JSON_DEPTH} levels$`), path);
    }
    assert.deepEqual((await server.client.listDeployments()).map((d) => d.deployment_name), ['iris-svc']);
    await assertServing();
  });

  it('JSON inside multipart fields nested too deep: X on predict and test, x_test on publish', async () => {
    const deep = deepArray(100_000);
    for (const p of paths.slice(0, 2)) {
      const answer = await post(p.path, p.auth, FORM, p.fields + field('X', deep) + close);
      assertInvalid(answer, new RegExp(`^multipart field X is nested deeper than ${MAX_JSON_DEPTH} levels$`), p.name);
    }
    const model = await readFile(fixturePath(IRIS_ONNX));
    const publish = Buffer.concat([Buffer.from(field('name', 'iris4') + field('x_test', deep) + filePart('file', 'model.onnx')), model, Buffer.from(`\r\n${close}`)]);
    assertInvalid(await post('/api/v1/models', `Bearer ${ADMIN_TOKEN}`, FORM, publish), new RegExp(`^x_test is nested deeper than ${MAX_JSON_DEPTH} levels$`), 'publish');
    assert.deepEqual((await server.client.listModels()).map((m) => m.model_name), ['iris']);
    await assertServing();
  });

  it(`JSON nested exactly ${MAX_JSON_DEPTH} levels is still taken (the limit is not off by one)`, async () => {
    // body { args { X [ record { float_input [ ...numbers ] } ] } } is 5 levels; pad the record with a deep extra key.
    const pad = (levels: number) => '['.repeat(levels) + ']'.repeat(levels);
    const body = (extra: number) => `{"args":{"X":[{"float_input":[5.1,3.5,1.4,0.2],"extra":${pad(extra)}}]}}`;
    const ok = await fetch(`${server.url}/api/v1/test`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: body(MAX_JSON_DEPTH - 4).replace('{"args":{', '{"args":{"model_name":"iris",'),
    });
    assert.notEqual(ok.status, 500);
    const answer = (await ok.json()) as { error?: { message?: string } };
    assert.doesNotMatch(answer.error?.message ?? '', /nested deeper/);
    assertInvalid(await post('/api/v1/test', `Bearer ${ADMIN_TOKEN}`, 'application/json', body(MAX_JSON_DEPTH - 3)), /nested deeper than/, 'one level over');
  });
});

describe('a restart removes the temp files of atomic writes a crash left behind (#14)', () => {
  it('deployments/.<name>.json.<hex>.tmp is gone after a restart, and the deployment still serves', async () => {
    let server = await startTestServer({ env: { INFERBOX_WORKERS_COUNT: '1' }, keepData: true });
    const dataDir = server.dataDir;
    try {
      await server.client.publishModel({ name: 'iris', files: [fixtureFile(IRIS_ONNX)] });
      const token = (await server.client.createDeployment({ deployment_name: 'iris-svc', model_name: 'iris' })).access_token;
      await server.close();
      const deployments = join(dataDir, 'deployments');
      // What a kill between the temp write and its rename leaves: a half-written update beside the real file.
      const leftover = '.iris-svc.json.0123456789ab.tmp';
      await writeFile(join(deployments, leftover), '{"name":"iris-svc","modelVer');
      server = await startTestServer({ env: { INFERBOX_WORKERS_COUNT: '1' }, dataDir });
      assert.deepEqual(await readdir(deployments), ['iris-svc.json']);
      assert.deepEqual((await server.client.listDeployments()).map((d) => d.deployment_name), ['iris-svc']);
      assertSetosa((await server.client.withToken(token).predict('iris-svc', { X: [{ float_input: [5.1, 3.5, 1.4, 0.2] }] })).result);
    } finally {
      await server.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
