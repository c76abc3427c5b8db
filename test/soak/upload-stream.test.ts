import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { InferboxClient } from '../../src/client/index.js';
import { fixtureFile, fixturePath, MNIST_ONNX } from '../helpers/fixtures.js';
import { pngClaiming } from '../helpers/png.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

// Moved from test/integration/uploads.test.ts: a long run, for `npm run test:soak`.

const MAX_FILE_BYTES = 64 * 1024;
const digitPng = (d: number) => ({ name: `ps_${d}.png`, data: readFileSync(fixturePath(`mnist-png/ps_${d}.png`)), type: 'image/png' });

describe('multipart predictions over many uploads', () => {
  let server: TestServer;
  let svc: InferboxClient;
  before(async () => {
    server = await startTestServer({ env: { INFERBOX_LIMITS_MAX_FILE_BYTES: String(MAX_FILE_BYTES), INFERBOX_LIMITS_MAX_FILES: '2' } });
    await server.client.publishModel({ name: 'mnist', files: [fixtureFile(MNIST_ONNX)] });
    svc = server.client.withToken((await server.client.createDeployment({ deployment_name: 'mnist-svc', model_name: 'mnist' })).access_token);
  });
  after(() => server.close());

  it('keeps worker memory bounded through a stream of bad and good uploads', async () => {
    const rss = async () => {
      const text = await fetch(`${server.url}/metrics`).then((r) => r.text());
      return [...text.matchAll(/inferbox_worker_rss_bytes\{worker="\d+"\} (\d+)/g)].reduce((n, m) => n + Number(m[1]), 0);
    };
    const bomb = { Input3: { name: 'bomb.png', data: pngClaiming(20_000, 20_000) } };
    for (let i = 0; i < 20; i++) await svc.predictForm('mnist-svc', {}, bomb).catch(() => undefined);
    const before = await rss();
    for (let i = 0; i < 200; i++) {
      await svc.predictForm('mnist-svc', {}, i % 2 ? bomb : { Input3: digitPng(i % 10) }).catch(() => undefined);
    }
    const growth = (await rss()) - before;
    assert.ok(growth < 64 * 2 ** 20, `workers grew by ${Math.round(growth / 2 ** 20)} MiB over 200 uploads`);
  });
});
