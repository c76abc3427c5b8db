import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ADMIN_TOKEN, startTestServer, type TestServer } from '../helpers/server.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const EXAMPLES = `${ROOT}scripts-examples/`;

interface Example {
  readonly name: string;
  readonly model: string;
  readonly fn: string;
  readonly script: string;
  readonly request: { args: Record<string, unknown> };
  readonly expected: unknown;
  /** Multipart uploads: field -> file path from the repository root. */
  readonly files?: Record<string, string>;
}

const examples: Example[] = readdirSync(EXAMPLES, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => {
    const read = (f: string) => readFileSync(`${EXAMPLES}${d.name}/${f}`, 'utf8');
    const meta = JSON.parse(read('example.json')) as { model: string; function?: string; files?: Record<string, string> };
    return { name: d.name, model: meta.model, fn: meta.function ?? 'predict', script: read('script.js'), request: JSON.parse(read('request.json')), expected: JSON.parse(read('expected.json')), ...(meta.files ? { files: meta.files } : {}) };
  });

describe('every scripts-examples/<name> answers its expected.json', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ env: { INFERBOX_WORKERS_COUNT: '1' } });
  });
  after(() => server.close());

  it('has examples, each with a README', () => {
    assert.ok(examples.length >= 3);
    for (const e of examples) assert.ok(readFileSync(`${EXAMPLES}${e.name}/README.md`, 'utf8').length > 100, e.name);
  });

  for (const example of examples) {
    it(`${example.name}: /script/test and a deployment both answer expected.json`, async () => {
      const modelName = example.name;
      await server.client.publishModel({ name: modelName, files: [{ name: example.model.split('/').at(-1)!, data: readFileSync(`${ROOT}${example.model}`) }] });
      const files = Object.fromEntries(Object.entries(example.files ?? {}).map(([field, path]) => [field, { name: path.split('/').at(-1)!, data: readFileSync(`${ROOT}${path}`) }]));
      let body: string | FormData = JSON.stringify({ script: example.script, function: example.fn, args: example.request.args });
      if (example.files) {
        body = new FormData();
        body.set('script', example.script);
        body.set('function', example.fn);
        for (const [field, file] of Object.entries(files)) body.set(field, new Blob([file.data]), file.name);
      }
      const res = await fetch(`${server.url}/api/v1/models/${modelName}/versions/1/script/test`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(example.files ? {} : { 'content-type': 'application/json' }) },
        body,
      });
      assert.deepEqual(await res.json(), example.expected);
      const dep = await server.client.createDeployment({ deployment_name: `${modelName}-svc`, model_name: modelName, script: example.script });
      const svc = server.client.withToken(dep.access_token);
      const out = example.files
        ? await svc.predictForm(`${modelName}-svc`, {}, files, { fn: example.fn, debug: true })
        : await svc.predict(`${modelName}-svc`, example.request.args, { fn: example.fn, debug: true });
      assert.deepEqual(out, example.expected);
    });
  }

  it('mnist-png answers the ten handwritten digits 0..9 from PNG uploads (curl -F Input3=@N.png)', async () => {
    const script = readFileSync(`${EXAMPLES}mnist-png/script.js`, 'utf8');
    await server.client.publishModel({ name: 'digits', files: [{ name: 'mnist-8.onnx', data: readFileSync(`${ROOT}test/fixtures/onnx-mnist8-cntk/mnist-8.onnx`) }] });
    const dep = await server.client.createDeployment({ deployment_name: 'digits-svc', model_name: 'digits', script });
    const svc = server.client.withToken(dep.access_token);
    for (let d = 0; d <= 9; d++) {
      const out = await svc.predictForm('digits-svc', {}, { Input3: { name: `${d}.png`, data: readFileSync(`${ROOT}test/fixtures/mnist-png/ps_${d}.png`) } });
      assert.deepEqual(out, { result: [{ Plus214_Output_0: d }] });
    }
  });
});
