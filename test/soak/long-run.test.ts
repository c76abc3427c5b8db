import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fixtureFile, IRIS_ONNX } from '../helpers/fixtures.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

// Moved from test/integration/hostile-scripts.test.ts: a long run, for `npm run test:soak`.

const IRIS_ARGS = { X: [{ float_input: [5.1, 3.5, 1.4, 0.2] }] };

describe('a long run through one deployment', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ env: { INFERBOX_WORKERS_COUNT: '1' } });
    await server.client.publishModel({ name: 'iris', files: [fixtureFile(IRIS_ONNX)] });
  });
  after(() => server.close());

  it('serves 3,000 requests with typed arrays through one sandbox without exhausting it', async () => {
    const script = `
      function prepare(args) {
        const scratch = new Float32Array(4096); // garbage per call
        scratch.fill(1);
        args.X = args.X.map((r) => ({ float_input: tensor(Float32Array.from(r.float_input), [1, 4]) }));
        return args;
      }
      function postprocess([label]) { return { label: label[0], bytes: new Float64Array(512).length }; }`;
    const dep = await server.client.createDeployment({ deployment_name: 'long', model_name: 'iris', script, memory_limit_mb: 32 });
    const svc = server.client.withToken(dep.access_token);
    for (let batch = 0; batch < 100; batch++) {
      const answers = await Promise.all(Array.from({ length: 30 }, () => svc.predict('long', IRIS_ARGS)));
      for (const a of answers) assert.deepEqual(a.result, [{ label: 0, bytes: 512 }]);
    }
    const stats = await fetch(`${server.url}/metrics`).then((r) => r.text());
    assert.match(stats, /inferbox_worker_restarts 0/);
    assert.match(stats, /inferbox_sandboxes 1\n/, 'one isolate served every request');
    assert.match(stats, /inferbox_sandbox_rebuilds 0\n/, 'it never hit a limit');
  });
});
