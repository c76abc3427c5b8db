/**
 * Memory (issue #14): the resident memory (VmRSS) of the front and of each runtime worker, before
 * and after 100,000 iris requests, then after 100 model load/evict cycles per serving worker.
 * Goal: growth under 5 % at each step.
 *
 * It runs on a server of its own, started with `pool.maxModels` = 1 (INFERBOX_POOL_MAX_MODELS), so
 * that requests alternating between versions of one model make every worker unload one version
 * and load another: a cycle is one eviction counted by the pools (GET /metrics). The pids come
 * from GET /healthz; RSS is read from /proc/<pid>/status.
 *
 * RSS read right after load depends on where each V8 heap happens to be in its GC cycle (measured:
 * the front at 111, 123, 149, 119 and 114 MiB after successive 75,000 requests, with no trend).
 * So every process of that server gets `--expose-gc` and a preload (both through NODE_OPTIONS,
 * which the workers inherit) that runs a full GC on SIGUSR2, and each reading first sends it:
 * the readings compare what stays reachable, which is what a leak grows. The product is unchanged.
 */
import { writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fmt, markdownTable, poolStat, rssBytes, sleep, workersOf, type BenchContext, type BenchSection, type BenchServer, type WorkerProcess } from './context.js';
import { runCount, type LoadResult, type LoadTarget } from './load.js';
import { fixture, IRIS_BODY, IRIS_FILE } from './scenarios.js';

export const MEMORY = 'memory';
const GOAL = 0.05;
const VERSIONS = 3;
const CONNECTIONS = 8;
const WARM_UP_REQUESTS = 10_000;
/** RSS is also read after each of this many parts of the requests: a leak grows step by step, a heap settling does not. */
const STEPS = 4;

interface Reading {
  readonly front: number;
  readonly workers: ReadonlyMap<number, { readonly pid: number; readonly role: string; readonly rss: number }>;
}

const GC_PRELOAD = `'use strict';
// Written by test/bench/memory.ts: a full GC on SIGUSR2, so the bench reads RSS after one.
process.on('SIGUSR2', () => { if (typeof global.gc === 'function') global.gc(); });
`;

/** The environment for the server, and the folder of the preload (removed by the caller). */
async function gcEnv(ctx: BenchContext): Promise<{ env: Record<string, string>; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'inferbox-bench-gc-'));
  const preload = join(dir, 'gc-on-sigusr2.cjs');
  writeFileSync(preload, GC_PRELOAD);
  return { env: { NODE_OPTIONS: `${ctx.childEnv.NODE_OPTIONS ?? ''} --expose-gc --require ${preload}`.trim() }, dir };
}

async function read(server: { url: string; frontPid: number }): Promise<Reading> {
  await sleep(500); // answers in flight settle
  const workers: WorkerProcess[] = await workersOf(server.url);
  for (const pid of [server.frontPid, ...workers.map((w) => w.pid)]) process.kill(pid, 'SIGUSR2');
  await sleep(1000);
  return { front: rssBytes(server.frontPid), workers: new Map(workers.map((w) => [w.index, { pid: w.pid, role: w.role, rss: rssBytes(w.pid) }])) };
}

export async function memoryScenario(ctx: BenchContext, options: { requests: number; cycles: number }): Promise<BenchSection> {
  ctx.progress(`${MEMORY}: starting a server with pool.maxModels=1 ... `);
  const gc = await gcEnv(ctx);
  try {
    return await measureMemory(ctx, await ctx.startServer({ INFERBOX_POOL_MAX_MODELS: '1', ...gc.env }), options);
  } finally {
    await rm(gc.dir, { recursive: true, force: true });
  }
}

async function measureMemory(ctx: BenchContext, server: BenchServer, options: { requests: number; cycles: number }): Promise<BenchSection> {
  const { client } = server;
  ctx.progress('ready\n');
  const targets: LoadTarget[] = [];
  for (let v = 1; v <= VERSIONS; v++) {
    const published = await client.publishModel({ name: 'mem-iris', files: [fixture(IRIS_FILE)] });
    const dep = await client.createDeployment({ deployment_name: `mem-v${v}`, model_name: 'mem-iris', model_version: published.model_version });
    targets.push({ url: `${server.url}/api/v1/svc/mem-v${v}/predict`, token: dep.access_token, body: IRIS_BODY, contentType: 'application/json', connections: CONNECTIONS, seconds: 0 });
  }
  const main = targets[0]!;
  await runCount(main, WARM_UP_REQUESTS);
  const before = await read(server);

  ctx.progress(`${MEMORY}: ${options.requests.toLocaleString('en')} requests @ ${CONNECTIONS} ... `);
  const steps: Reading[] = [];
  const parts: LoadResult[] = [];
  for (let i = 0; i < STEPS; i++) {
    parts.push(await runCount(main, Math.round(options.requests / STEPS)));
    steps.push(await read(server));
  }
  const load = { rps: parts.reduce((n, p) => n + p.rps, 0) / STEPS, errors: parts.reduce((n, p) => n + p.errors, 0), p99Ms: Math.max(...parts.map((p) => p.p99Ms)) };
  ctx.progress(`${Math.round(load.rps)} req/s, ${load.errors} errors\n`);
  const afterRequests = steps.at(-1)!;

  const serving = [...afterRequests.workers.values()].filter((w) => w.role === 'serving').length;
  const wanted = options.cycles * serving;
  ctx.progress(`${MEMORY}: ${wanted} model load/evict cycles (${options.cycles} per serving worker) ... `);
  const evictions0 = await poolStat(server.url, 'evictions');
  const loads0 = await poolStat(server.url, 'loads');
  let cycleRequests = 0;
  let cycleErrors = 0;
  // Two at once, so each serving worker gets some: the front sends a request to the least busy one.
  for (let round = 0; (await poolStat(server.url, 'evictions')) - evictions0 < wanted && round < 20 * wanted; round++) {
    const r = await runCount({ ...targets[round % VERSIONS]!, connections: 2 }, 2);
    cycleRequests += r.ok + r.errors;
    cycleErrors += r.errors;
  }
  const evictions = (await poolStat(server.url, 'evictions')) - evictions0;
  const loads = (await poolStat(server.url, 'loads')) - loads0;
  ctx.progress(`${evictions} evictions, ${loads} loads in ${cycleRequests} requests\n`);
  const afterCycles = await read(server);

  const mib = (b: number) => (b / 2 ** 20).toFixed(1);
  const growth = (from: number, to: number) => to / from - 1;
  const pct = (g: number) => `${g >= 0 ? '+' : ''}${(100 * g).toFixed(1)} %`;
  const rows: (string | number)[][] = [];
  const trend: string[] = [];
  let met = true;
  const row = (name: string, a: number, b: number, c: number, restarted: boolean) => {
    const ok = growth(a, b) < GOAL && growth(b, c) < GOAL && !restarted;
    met &&= ok;
    rows.push([name, mib(a), mib(b), pct(growth(a, b)), mib(c), pct(growth(b, c)), pct(growth(a, c)), restarted ? '**restarted**' : ok ? 'met' : '**not met**']);
  };
  row('front', before.front, afterRequests.front, afterCycles.front, false);
  trend.push(`front ${[before, ...steps].map((r) => mib(r.front)).join(' → ')}`);
  for (const [index, w0] of before.workers) {
    const w1 = afterRequests.workers.get(index);
    const w2 = afterCycles.workers.get(index);
    if (!w1 || !w2) continue;
    row(`worker ${index} (${w0.role})`, w0.rss, w1.rss, w2.rss, w1.pid !== w0.pid || w2.pid !== w0.pid);
    trend.push(`worker ${index} ${[before, ...steps].map((r) => mib(r.workers.get(index)?.rss ?? NaN)).join(' → ')}`);
  }
  const table = markdownTable(
    ['process', 'RSS MiB before', `after ${options.requests.toLocaleString('en')} requests`, 'growth', `after ${options.cycles} load/evict cycles per worker`, 'growth', 'growth overall', 'goal'],
    ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'l'],
    rows,
  );
  const markdown = [
    `A server of its own with \`pool.maxModels\` = 1; iris at ${CONNECTIONS} connections after ${WARM_UP_REQUESTS.toLocaleString('en')} warm-up requests ` +
      `(${Math.round(load.rps)} req/s, p99 ${fmt(load.p99Ms)} ms, ${load.errors} errors); then ${VERSIONS} versions of iris called in turn, two requests at a time: ` +
      `${evictions} evictions and ${loads} loads over the workers in ${cycleRequests} requests (${cycleErrors} errors). RSS from /proc/<pid>/status (VmRSS), 1 s after a full GC in every process (see memory.ts).`,
    '',
    table,
    '',
    `- goal: RSS growth < ${100 * GOAL} % after the requests and after the cycles, for every process: **${met ? 'met' : 'not met'}**`,
    `- RSS MiB before and after each ${Math.round(options.requests / STEPS).toLocaleString('en')} requests: ${trend.join('; ')}`,
  ].join('\n');
  return { title: MEMORY, markdown };
}
