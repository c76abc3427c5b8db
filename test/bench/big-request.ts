import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import type { InferboxClient } from '../../src/client/index.js';
import { PACKAGE_ROOT } from '../../src/package-info.js';

/** What one big-request run measured. Times in milliseconds. */
export interface BigRequestResult {
  /** Records in each big request, and its JSON body's size in bytes. */
  readonly records: number;
  readonly bodyBytes: number;
  /** Big requests sent at once, their HTTP statuses, and the slowest one's time (send to last byte). */
  readonly concurrent: number;
  readonly bigStatuses: readonly number[];
  readonly bigMs: number;
  /** The healthy deployment on its own, just before (`aloneSeconds` of load). */
  readonly alone: LatencySummary;
  /** The healthy deployment while the big requests ran (from the first sent to the last answered). */
  readonly during: LatencySummary;
}

export interface LatencySummary {
  readonly requests: number;
  readonly errors: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

export interface BigRequestOptions {
  /** Base URL of a running server, e.g. `http://127.0.0.1:8080`. */
  readonly url: string;
  /** An admin client of that server (publishes the iris model and makes the two deployments). */
  readonly client: InferboxClient;
  /** Records in the big request. @defaultValue 10000 (the server's default `limits.maxRecords`) */
  readonly records?: number;
  /** `records` (`[{ float_input: [...] }]`) or `split` (`{ columns, data }`). @defaultValue "records" */
  readonly orientation?: 'records' | 'split';
  /** Big requests sent at the same time. @defaultValue 1 */
  readonly concurrent?: number;
  /** Keep-alive connections of the healthy deployment's closed-loop load. @defaultValue 4 */
  readonly connections?: number;
  /** Seconds the healthy deployment is measured alone first. @defaultValue 2 */
  readonly aloneSeconds?: number;
  /** A script for the big request's deployment (e.g. prepare + postprocess); none by default. */
  readonly script?: string;
}

const MODEL = 'iris-big-request';
const BIG = 'big-request';
const HEALTHY = 'big-request-healthy';
const HEALTHY_BODY = Buffer.from(JSON.stringify({ args: { X: [{ float_input: [5.1, 3.5, 1.4, 0.2] }] } }));

/**
 * The big-request scenario of issue #14: one deployment gets a request of `records` iris records
 * (default: exactly the default record limit) while another deployment of the same model serves
 * single-record requests at `connections` concurrency; before #14 one such request (16 MB, 493,446
 * records) took 35.6 s and held others up to 4.6 s.
 *
 * Call it against a running server with an admin client; it publishes the iris fixture as
 * `iris-big-request` and creates the deployments `big-request` and `big-request-healthy` (all
 * reused when they exist, so it can run twice on one server, e.g. with `concurrent: 2`):
 *
 * @example
 *   const r = await bigRequestScenario({ url, client, records: 10_000 });
 *   // r.bigMs: the big request's time; r.during.{p50Ms,p99Ms,maxMs}: the healthy deployment during it;
 *   // r.alone: the same deployment just before, alone; r.bigStatuses: [200] when the big one was served.
 */
export async function bigRequestScenario(options: BigRequestOptions): Promise<BigRequestResult> {
  const { url, client } = options;
  const records = options.records ?? 10_000;
  const concurrent = options.concurrent ?? 1;
  const connections = options.connections ?? 4;
  const bigToken = await ensureDeployment(client, BIG, options.script ?? false);
  const healthyToken = await ensureDeployment(client, HEALTHY, false);
  const bigBody = Buffer.from(JSON.stringify({ args: { X: irisX(records, options.orientation ?? 'records') } }));
  const agent = new Agent({ keepAlive: true, maxSockets: connections + concurrent });
  try {
    const healthy = (stop: () => boolean) => driveUntil(agent, `${url}/api/v1/svc/${HEALTHY}/predict`, healthyToken, HEALTHY_BODY, connections, stop);
    const aloneUntil = Date.now() + (options.aloneSeconds ?? 2) * 1000;
    await healthy(() => Date.now() >= aloneUntil); // also the warm-up of both deployments' model
    await post(agent, `${url}/api/v1/svc/${BIG}/predict`, bigToken, HEALTHY_BODY);
    const alone = await healthy(() => Date.now() >= aloneUntil + (options.aloneSeconds ?? 2) * 1000);
    let pending = concurrent;
    const during = healthy(() => pending === 0);
    const started = performance.now();
    const bigStatuses = await Promise.all(
      Array.from({ length: concurrent }, () =>
        post(agent, `${url}/api/v1/svc/${BIG}/predict`, bigToken, bigBody).finally(() => {
          pending--;
        }),
      ),
    );
    const bigMs = performance.now() - started;
    return { records, bodyBytes: bigBody.length, concurrent, bigStatuses, bigMs, alone, during: await during };
  } finally {
    agent.destroy();
  }
}

/** One line for docs/benchmarks.md, e.g. from run.ts's notes. */
export function describeBigRequest(r: BigRequestResult): string {
  const ms = (v: number) => (v < 10 ? v.toFixed(1) : v.toFixed(0));
  const one = (s: LatencySummary) => `p50 ${ms(s.p50Ms)} ms, p99 ${ms(s.p99Ms)} ms, max ${ms(s.maxMs)} ms (${s.requests} requests, ${s.errors} errors)`;
  return (
    `big request: ${r.concurrent} x ${r.records} iris records (${(r.bodyBytes / 2 ** 20).toFixed(1)} MiB JSON) answered ${r.bigStatuses.join(', ')} in ${ms(r.bigMs)} ms; ` +
    `another deployment meanwhile: ${one(r.during)}; alone: ${one(r.alone)}`
  );
}

/** `records` iris records, values varied so the answer is not one repeated row. */
function irisX(records: number, orientation: 'records' | 'split'): unknown {
  const rows = Array.from({ length: records }, (_, i) => [4.3 + (i % 37) / 10, 2 + (i % 23) / 10, 1 + (i % 59) / 10, 0.1 + (i % 25) / 10]);
  return orientation === 'split' ? { columns: ['float_input'], data: rows.map((r) => [r]) } : rows.map((r) => ({ float_input: r }));
}

async function ensureDeployment(client: InferboxClient, name: string, script: string | false): Promise<string> {
  const models = await client.listModels();
  if (!models.some((m) => m.model_name === MODEL)) {
    const file = 'onnx-skl-logreg-iris-zipmap/logreg_iris.onnx';
    await client.publishModel({ name: MODEL, files: [{ name: 'logreg_iris.onnx', data: readFileSync(join(PACKAGE_ROOT, 'test/fixtures', file)) }] });
  }
  const existing = (await client.listDeployments()).some((d) => d.deployment_name === name);
  if (!existing) return (await client.createDeployment({ deployment_name: name, model_name: MODEL, script })).access_token;
  await client.patchDeployment(name, { script });
  return (await client.rotateToken(name)).access_token;
}

/** One POST; resolves with the status once the whole answer is read (0 on a connection error). */
function post(agent: Agent, target: string, token: string, body: Buffer): Promise<number> {
  const u = new URL(target);
  return new Promise((resolve) => {
    const req = request(
      { agent, host: u.hostname, port: u.port, path: u.pathname, method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': String(body.length) } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', () => resolve(0));
    req.end(body);
  });
}

/** Closed-loop load on `connections` connections until `stop()` says so; latencies of 200s only. */
async function driveUntil(agent: Agent, target: string, token: string, body: Buffer, connections: number, stop: () => boolean): Promise<LatencySummary> {
  const latencies: number[] = [];
  let errors = 0;
  const loop = async () => {
    while (!stop()) {
      const t0 = performance.now();
      const status = await post(agent, target, token, body);
      if (status === 200) latencies.push(performance.now() - t0);
      else errors++;
    }
  };
  await Promise.all(Array.from({ length: connections }, loop));
  const sorted = latencies.sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
  return { requests: sorted.length, errors, p50Ms: at(0.5), p99Ms: at(0.99), maxMs: sorted.at(-1) ?? NaN };
}
