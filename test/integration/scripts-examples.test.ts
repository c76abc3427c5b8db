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
}

const examples: Example[] = readdirSync(EXAMPLES, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => {
    const read = (f: string) => readFileSync(`${EXAMPLES}${d.name}/${f}`, 'utf8');
    const meta = JSON.parse(read('example.json')) as { model: string; function?: string };
    return { name: d.name, model: meta.model, fn: meta.function ?? 'predict', script: read('script.js'), request: JSON.parse(read('request.json')), expected: JSON.parse(read('expected.json')) };
  });

describe('every scripts-examples/<name> answers its expected.json', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer();
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
      const res = await fetch(`${server.url}/api/v1/models/${modelName}/versions/1/script/test`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ script: example.script, function: example.fn, args: example.request.args }),
      });
      assert.deepEqual(await res.json(), example.expected);
      const dep = await server.client.createDeployment({ deployment_name: `${modelName}-svc`, model_name: modelName, script: example.script });
      const out = await server.client.withToken(dep.access_token).predict(`${modelName}-svc`, example.request.args, { fn: example.fn, debug: true });
      assert.deepEqual(out, example.expected);
    });
  }
});
