import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { InferboxClient } from '../../src/client/index.js';
import { fixtureFile, IRIS_ONNX, assertSetosa } from '../helpers/fixtures.js';

const MAIN = fileURLToPath(new URL('../../src/main.ts', import.meta.url));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('the real process (src/main.ts)', () => {
  let dataDir = '';
  after(() => rm(dataDir, { recursive: true, force: true }));

  it('finishes in-flight requests on SIGTERM, stops its workers and exits 0', async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'inferbox-main-'));
    const child = spawn(process.execPath, ['--no-node-snapshot', '--import', 'tsx', MAIN, '--port', '0', '--grpc-port', '0', '--host', '127.0.0.1', '--data', dataDir, '--admin-token', 'main-token', '--workers-count', '1'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const lines = createInterface({ input: child.stdout! });
    let port = 0;
    for await (const line of lines) {
      const entry = JSON.parse(line) as { msg?: string; port?: number };
      if (entry.msg === 'inferbox listening') {
        port = entry.port!;
        break;
      }
    }
    assert.ok(port > 0);
    const client = new InferboxClient({ baseUrl: `http://127.0.0.1:${port}`, token: 'main-token' });
    const workerPids = ((await client.health()).workers as { pid: number }[]).map((w) => w.pid);
    await client.publishModel({ name: 'iris', files: [fixtureFile(IRIS_ONNX)] });
    const dep = await client.createDeployment({ deployment_name: 'iris-svc', model_name: 'iris' });
    const svc = client.withToken(dep.access_token);

    const statuses: (number | string)[] = [];
    let signalled = false;
    const load = Array.from({ length: 200 }, async () => {
      try {
        const out = await svc.predict('iris-svc', { X: [{ float_input: [5.1, 3.5, 1.4, 0.2] }] });
        assertSetosa(out.result);
        statuses.push(200);
      } catch (err) {
        statuses.push((err as { code?: string }).code ?? String(err));
      }
      if (!signalled && statuses.length >= 10) {
        signalled = true;
        child.kill('SIGTERM');
      }
    });
    const [code] = (await Promise.all([once(child, 'exit'), ...load]))[0] as [number];
    assert.equal(code, 0);
    assert.ok(statuses.filter((s) => s === 200).length >= 10);
    // A request either completed or never reached a closing server: none was cut off with a 5xx.
    assert.ok(statuses.every((s) => s === 200 || s === 'ECONNREFUSED' || /fetch failed|ECONNRESET|SHUTTING_DOWN/.test(String(s))), JSON.stringify([...new Set(statuses)]));
    assert.ok(workerPids.every((pid) => !alive(pid)), 'the runtime workers exited too');
  });
});
