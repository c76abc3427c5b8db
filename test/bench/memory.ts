/**
 * Memory (issue #14): the resident memory (VmRSS) of the front and of each runtime worker, before
 * and after 100,000 iris requests, then after 100 model load/evict cycles per serving worker.
 * Goal: growth under 5 % at each step.
 *
 * It runs on a server of its own, started with `pool.maxModels` = 1 (INFERBOX_POOL_MAX_MODELS), so
 * that requests alternating between versions of one model make every worker unload one version
 * and load another: a cycle is one eviction counted by the pools (GET /metrics). The pids come
 * from GET /healthz; RSS is read from /proc/<pid>/status.
 */
import { fmt, markdownTable, poolStat, rssBytes, sleep, workersOf, type BenchContext, type BenchSection, type WorkerProcess } from './context.js';
import { runCount, type LoadTarget } from './load.js';
import { fixture, IRIS_BODY, IRIS_FILE } from './scenarios.js';

export const MEMORY = 'memory';
const GOAL = 0.05;
const VERSIONS = 3;
const CONNECTIONS = 8;
const WARM_UP_REQUESTS = 2000;

interface Reading {
  readonly front: number;
  readonly workers: ReadonlyMap<number, { readonly pid: number; readonly role: string; readonly rss: number }>;
}

async function read(server: { url: string; frontPid: number }): Promise<Reading> {
  await sleep(1000); // answers in flight settle, and a GC may run
  const workers: WorkerProcess[] = await workersOf(server.url);
  return { front: rssBytes(server.frontPid), workers: new Map(workers.map((w) => [w.index, { pid: w.pid, role: w.role, rss: rssBytes(w.pid) }])) };
}

export async function memoryScenario(ctx: BenchContext, options: { requests: number; cycles: number }): Promise<BenchSection> {
  ctx.progress(`${MEMORY}: starting a server with pool.maxModels=1 ... `);
  const server = await ctx.startServer({ INFERBOX_POOL_MAX_MODELS: '1' });
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
  const load = await runCount(main, options.requests);
  ctx.progress(`${Math.round(load.rps)} req/s, ${load.errors} errors\n`);
  const afterRequests = await read(server);

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
  let met = true;
  const row = (name: string, a: number, b: number, c: number, restarted: boolean) => {
    const ok = growth(a, b) < GOAL && growth(b, c) < GOAL && !restarted;
    met &&= ok;
    rows.push([name, mib(a), mib(b), pct(growth(a, b)), mib(c), pct(growth(b, c)), pct(growth(a, c)), restarted ? '**restarted**' : ok ? 'met' : '**not met**']);
  };
  row('front', before.front, afterRequests.front, afterCycles.front, false);
  for (const [index, w0] of before.workers) {
    const w1 = afterRequests.workers.get(index);
    const w2 = afterCycles.workers.get(index);
    if (!w1 || !w2) continue;
    row(`worker ${index} (${w0.role})`, w0.rss, w1.rss, w2.rss, w1.pid !== w0.pid || w2.pid !== w0.pid);
  }
  const table = markdownTable(
    ['process', 'RSS MiB before', `after ${options.requests.toLocaleString('en')} requests`, 'growth', `after ${options.cycles} load/evict cycles per worker`, 'growth', 'growth overall', 'goal'],
    ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'l'],
    rows,
  );
  const markdown = [
    `A server of its own with \`pool.maxModels\` = 1; iris at ${CONNECTIONS} connections after ${WARM_UP_REQUESTS.toLocaleString('en')} warm-up requests ` +
      `(${Math.round(load.rps)} req/s, p99 ${fmt(load.p99Ms)} ms, ${load.errors} errors); then ${VERSIONS} versions of iris called in turn, two requests at a time: ` +
      `${evictions} evictions and ${loads} loads over the workers in ${cycleRequests} requests (${cycleErrors} errors). RSS from /proc/<pid>/status (VmRSS), 1 s after each step.`,
    '',
    table,
    '',
    `- goal: RSS growth < ${100 * GOAL} % after the requests and after the cycles, for every process: **${met ? 'met' : 'not met'}**`,
  ].join('\n');
  return { title: MEMORY, markdown };
}
