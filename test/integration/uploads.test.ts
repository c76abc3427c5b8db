import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { ApiError, type InferboxClient } from '../../src/client/index.js';
import { argmax, fixtureFile, fixturePath, flattenDeep, MNIST_ONNX } from '../helpers/fixtures.js';
import { pngClaiming } from '../helpers/png.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const MAX_FILE_BYTES = 64 * 1024;
const digitPng = (d: number) => ({ name: `ps_${d}.png`, data: readFileSync(fixturePath(`mnist-png/ps_${d}.png`)), type: 'image/png' });

describe('multipart predictions: image uploads without a script', () => {
  let server: TestServer;
  let svc: InferboxClient;
  before(async () => {
    server = await startTestServer({ env: { INFERBOX_WORKERS_COUNT: '1', INFERBOX_LIMITS_MAX_FILE_BYTES: String(MAX_FILE_BYTES), INFERBOX_LIMITS_MAX_FILES: '2' } });
    await server.client.publishModel({ name: 'mnist', files: [fixtureFile(MNIST_ONNX)] });
    svc = server.client.withToken((await server.client.createDeployment({ deployment_name: 'mnist-svc', model_name: 'mnist' })).access_token);
  });
  after(() => server.close());

  it('decodes a PNG under the input’s name to [1,1,28,28] and the ten real digits come out 0..9', async () => {
    for (let d = 0; d <= 9; d++) {
      const out = await svc.predictForm('mnist-svc', {}, { Input3: digitPng(d) });
      assert.equal(argmax(flattenDeep((out.result as Record<string, unknown>[])[0]!.Plus214_Output_0)), d, `digit ${d}`);
    }
  });

  it('takes multipart on /api/v1/test too, with model_name as a field', async () => {
    const form = new FormData();
    form.set('model_name', 'mnist');
    form.set('Input3', new Blob([digitPng(4).data]), 'ps_4.png');
    const res = await fetch(`${server.url}/api/v1/test`, { method: 'POST', headers: { authorization: 'Bearer test-admin-token' }, body: form });
    const body = (await res.json()) as { result: Record<string, unknown>[]; stdout: string[] };
    assert.equal(argmax(flattenDeep(body.result[0]!.Plus214_Output_0)), 4);
    assert.deepEqual(body.stdout, []);
  });

  const refuse = async (files: Record<string, { name: string; data: Uint8Array }>, status: number, code: string, message: RegExp) => {
    await assert.rejects(svc.predictForm('mnist-svc', {}, files), (e: unknown) => {
      assert.ok(e instanceof ApiError);
      assert.equal(e.status, status, e.message);
      assert.equal(e.code, code);
      assert.match(e.message, message);
      return true;
    });
  };

  it('answers 422 for a corrupt PNG and for a text file, naming the field', async () => {
    await refuse({ Input3: { name: 'broken.png', data: digitPng(1).data.subarray(0, 50) } }, 422, 'INPUT_IMAGE_INVALID', /file 'Input3' \(broken\.png\)/);
    await refuse({ Input3: { name: 'notes.txt', data: Buffer.from('not an image at all') } }, 422, 'INPUT_IMAGE_INVALID', /file 'Input3' \(notes\.txt\) is not an image/);
  });

  it('answers 422 INPUT_IMAGE_TOO_LARGE for a 20,000 x 20,000 PNG without decoding it', async () => {
    await refuse({ Input3: { name: 'bomb.png', data: pngClaiming(20_000, 20_000) } }, 422, 'INPUT_IMAGE_TOO_LARGE', /20000x20000 = 400000000 pixels; the limit is 40000000/);
  });

  it('answers 413 with the limit for an oversized file and for too many files', async () => {
    await refuse({ Input3: { name: 'big.png', data: new Uint8Array(MAX_FILE_BYTES + 1) } }, 413, 'REQUEST_TOO_LARGE', new RegExp(`over ${MAX_FILE_BYTES} bytes \\(field 'Input3'\\); the limit is limits.maxFileBytes`));
    const three = { a: digitPng(1), b: digitPng(2), c: digitPng(3) };
    await refuse(three, 413, 'REQUEST_TOO_LARGE', /more than 2 files in one request; the limit is limits.maxFiles/);
  });

  it('answers 422 INPUT_FILE_UNEXPECTED for a file under another name', async () => {
    await refuse({ image: digitPng(1) }, 422, 'INPUT_FILE_UNEXPECTED', /the model has no input 'image'; its image input is 'Input3': send the file under that name/);
  });
});
