import assert from 'node:assert/strict';
import { request } from 'node:http';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { isAtomicTempName } from '../../src/store/atomic.js';
import { fixtureFile, IRIS_ONNX } from './fixtures.js';
import { isAlive, spawnServer, type ServerProcess } from './server-process.js';

const ADMIN_TOKEN = 'kill-restart-admin';

/** What a restart must find: model versions, and each deployment's model, version and script text. */
export interface StoreSnapshot {
  readonly models: Readonly<Record<string, readonly number[]>>;
  readonly deployments: Readonly<Record<string, { model: string; version: string; script: string | null }>>;
}

/** One record per model the rig publishes, fit for every version of it. */
const INPUTS: Record<string, unknown[]> = {
  iris: [{ float_input: [5.1, 3.5, 1.4, 0.2] }],
  mnistk: [{ flatten_3_input: Array.from({ length: 28 }, () => new Array<number>(28).fill(0.5)) }],
};

/** A script whose answers say which text served them. */
export const scriptText = (tag: string) => `function postprocess([label]) { return { script: '${tag}', label: label[0] }; }`;

/** The state the store shows through the API, in a stable order. */
async function snapshot(server: ServerProcess): Promise<StoreSnapshot> {
  const admin = server.client;
  const models: Record<string, number[]> = {};
  for (const m of await admin.listModels()) models[m.model_name] = m.versions.map(Number);
  const deployments: Record<string, StoreSnapshot['deployments'][string]> = {};
  for (const d of await admin.listDeployments()) {
    const script = d.has_script ? await admin.request<string>('GET', `/api/v1/deployments/${d.deployment_name}/script`) : null;
    deployments[d.deployment_name] = { model: d.model_name, version: d.model_version, script };
  }
  return { models, deployments };
}

/** Every file or folder of the data directory a crash may have left: atomic-write temp files, and anything in tmp/ but an empty uploads/. */
async function leftovers(dataDir: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      const rel = relative(dataDir, path);
      if (isAtomicTempName(entry.name) || entry.name.endsWith('.tmp') || (rel.startsWith('tmp/') && rel !== 'tmp/uploads')) found.push(rel);
      if (entry.isDirectory()) await walk(path);
    }
  };
  await walk(dataDir);
  return found;
}

/**
 * After a restart: every listed version loads and predicts (POST /api/v1/test), every deployment
 * answers (with the admin token), a script deployment with the script the store lists; once the
 * killed front's workers are gone, no temp file is left anywhere in the data directory.
 */
async function assertServesEverything(server: ServerProcess, dataDir: string, state: StoreSnapshot, oldWorkerPids: readonly number[]): Promise<void> {
  const admin = server.client;
  for (const [name, versions] of Object.entries(state.models)) {
    for (const version of versions) {
      const out = await admin.test({ model_name: name, model_version: version, X: INPUTS[name] });
      assert.equal((out.result as unknown[]).length, 1, `${name} v${version} answers one record`);
    }
  }
  for (const [name, d] of Object.entries(state.deployments)) {
    const out = await admin.predict(name, { X: INPUTS[d.model] });
    const [record] = out.result as Record<string, unknown>[];
    const tag = d.script === null ? undefined : /script: '(\w+)'/.exec(d.script)?.[1];
    assert.equal(record?.script, tag, `deployment ${name} answers with the script the store lists`);
  }
  // The killed front's workers leave when their pipe closes; one still converting could write into tmp/.
  for (let i = 0; i < 600 && oldWorkerPids.some(isAlive); i++) await sleep(50);
  assert.deepEqual(oldWorkerPids.filter(isAlive), [], 'the killed front left runtime workers running');
  assert.deepEqual(await leftovers(dataDir), [], 'temp files left in the data directory');
}

export interface PublishUpload {
  /** Resolves once the body (or its first `stopAt` bytes of the file) is written to the socket. */
  readonly sent: Promise<void>;
  /** Resolves with the answer's status, or with 0 when the connection died first. */
  readonly answered: Promise<number>;
}

/**
 * A multipart publish written by hand, so that a test chooses where the front dies: with `stopAt`
 * the body stops after that many bytes of the file and the request stays open.
 */
export function startPublishUpload(url: string, name: string, filename: string, bytes: Buffer, options: { stopAt?: number } = {}): PublishUpload {
  const boundary = 'kill-restart-boundary';
  const head = Buffer.from(
    `--${boundary}\r\ncontent-disposition: form-data; name="name"\r\n\r\n${name}\r\n` +
      `--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="${filename}"\r\ncontent-type: application/octet-stream\r\n\r\n`,
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const req = request(`${url}/api/v1/models`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': String(head.length + bytes.length + tail.length) },
  });
  const answered = new Promise<number>((resolve) => {
    req.on('error', () => resolve(0)); // the front is killed under it
    req.on('response', (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
  });
  const sent = new Promise<void>((resolve) => {
    if (options.stopAt === undefined) req.end(Buffer.concat([head, bytes, tail]), resolve);
    else req.write(Buffer.concat([head, bytes.subarray(0, options.stopAt)]), () => resolve());
  });
  return { sent, answered };
}

/** The files under `dir` (recursive), relative to `root`; none when `dir` is missing. */
export async function listFiles(root: string, dir: string): Promise<{ path: string; size: number }[]> {
  const out: { path: string; size: number }[] = [];
  for (const entry of await readdir(join(root, dir), { withFileTypes: true }).catch(() => [])) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await listFiles(root, path)));
    else out.push({ path, size: (await stat(join(root, path)).catch(() => ({ size: 0 }))).size });
  }
  return out;
}

/**
 * Resolves once a file under `dir` of the data directory passes `test` (polled), or once `done`
 * settles: a state too short-lived for polling to catch then becomes a kill after the change.
 */
export async function whenFile(dataDir: string, dir: string, test: (file: { path: string; size: number }) => boolean, done: Promise<unknown>): Promise<void> {
  let settled = false;
  void done.finally(() => (settled = true));
  while (!settled && !(await listFiles(dataDir, dir)).some(test)) await sleep(2);
}

/** When `KillRig.cycle` kills the front: it gets the server and the change's promise. */
export type KillPoint = (server: ServerProcess, change: Promise<unknown>) => Promise<unknown>;

/** What a change may leave: `before` itself, or the one state `after` the change. */
export type Outcome = (before: StoreSnapshot, after: StoreSnapshot) => boolean;

/** The outcome of a publish of `name`: one more version, numbered above every earlier one. */
export function oneMoreVersion(name: string): Outcome {
  return (before, after) => {
    const was = before.models[name] ?? [];
    const now = after.models[name] ?? [];
    const added = now.slice(was.length);
    const rest = (s: StoreSnapshot) => JSON.stringify(sorted({ ...s, models: { ...s.models, [name]: was } }));
    return added.length === 1 && added[0]! > Math.max(0, ...was) && rest(before) === rest(after);
  };
}

/** The outcome of a deployment change: only `name` differs, and it is `value` (undefined: deleted). */
export function deploymentBecomes(name: string, value: (before: StoreSnapshot) => StoreSnapshot['deployments'][string] | undefined): Outcome {
  return (before, after) => {
    const deployments = { ...before.deployments };
    const next = value(before);
    if (next === undefined) delete deployments[name];
    else deployments[name] = next;
    return JSON.stringify(sorted({ ...before, deployments })) === JSON.stringify(sorted(after));
  };
}

function sorted(s: StoreSnapshot): StoreSnapshot {
  const order = <T>(o: Readonly<Record<string, T>>) => Object.fromEntries(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)));
  return { models: order(s.models), deployments: order(s.deployments) };
}

/**
 * A data directory and the server process on it, killed and restarted by `cycle`. It starts with
 * iris v1 and v2, `iris-svc` (no script) and `scripted` (script A) on v1.
 */
export class KillRig {
  server!: ServerProcess;
  /** Which side of the commit each kind of kill landed on, for the test's diagnostics. */
  readonly landed: Record<string, { old: number; new: number }> = {};
  /** The store as the last cycle saw it: before its change while it runs, after its restart once done. */
  private state: StoreSnapshot = { models: {}, deployments: {} };
  private constructor(readonly dataDir: string) {}

  static async create(): Promise<KillRig> {
    const rig = new KillRig(await mkdtemp(join(tmpdir(), 'inferbox-kill-')));
    await rig.start();
    const admin = rig.server.client;
    await admin.publishModel({ name: 'iris', files: [fixtureFile(IRIS_ONNX)] });
    await admin.publishModel({ name: 'iris', files: [fixtureFile(IRIS_ONNX)] });
    await admin.createDeployment({ deployment_name: 'iris-svc', model_name: 'iris', model_version: 1 });
    await admin.createDeployment({ deployment_name: 'scripted', model_name: 'iris', model_version: 1, script: scriptText('A') });
    return rig;
  }

  private async start(): Promise<void> {
    this.server = await spawnServer({ dataDir: this.dataDir, adminToken: ADMIN_TOKEN, args: ['--workers-count', '1'] });
  }

  /**
   * Starts `change`, kills the front with SIGKILL once `killPoint` resolves (it gets the change's
   * promise), restarts it on the same directory, then checks that the store is the old state or
   * `outcome`'s new one, and that all serves.
   */
  async cycle(
    kind: string,
    change: (server: ServerProcess) => Promise<unknown>,
    killPoint: KillPoint,
    outcome: Outcome,
  ): Promise<void> {
    const before = (this.state = await snapshot(this.server));
    const workerPids = await this.server.workerPids();
    const changing = change(this.server).catch(() => undefined); // it fails when the front dies under it
    await killPoint(this.server, changing);
    await this.server.kill9();
    await this.start();
    const after = (this.state = await snapshot(this.server));
    const unchanged = JSON.stringify(sorted(after)) === JSON.stringify(sorted(before));
    assert.ok(unchanged || outcome(before, after), `${kind}: the store holds neither the old state nor the new one\nbefore ${JSON.stringify(before)}\nafter  ${JSON.stringify(after)}`);
    const tally = (this.landed[kind] ??= { old: 0, new: 0 });
    tally[unchanged ? 'old' : 'new']++;
    await assertServesEverything(this.server, this.dataDir, after, workerPids);
  }

  /** A deployment as the last snapshot listed it. */
  current(name: string): StoreSnapshot['deployments'][string] | undefined {
    return this.state.deployments[name];
  }

  async close(): Promise<void> {
    await this.server?.stop();
    await rm(this.dataDir, { recursive: true, force: true });
  }
}
