/**
 * `npm run bench`: boots the real server (front + runtime workers, built JS, as `npm start` runs it)
 * on a temp data dir, drives it over loopback with keep-alive HTTP from this process, and writes
 * docs/benchmarks.md with the machine, the date and the commit.
 *
 *   npm run bench                          # every scenario, 10 s per row
 *   npm run bench -- --seconds 3           # quicker
 *   npm run bench -- --only floor          # the scenarios whose name contains "floor"
 *   npm run bench -- --profile /tmp/prof   # CPU profiles of every server process (cpu-profile.ts)
 *   npm run bench -- --memory-requests 10000 --memory-cycles 10   # a shorter memory scenario
 */
import { execSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { InferboxClient } from '../../src/client/index.js';
import { PACKAGE_ROOT } from '../../src/package-info.js';
import { BATCHING, batchingScenario } from './batching.js';
import { bigRequestScenario } from './big-request.js';
import { fmt, freePort, markdownTable, stopChild, type BenchContext, type BenchSection, type BenchServer } from './context.js';
import { profilingEnv } from './cpu-profile.js';
import { FLOOR, floorScenario } from './floor.js';
import { MEMORY, memoryScenario } from './memory.js';
import { NOISY_NEIGHBOUR, noisyNeighbourScenario } from './noisy-neighbour.js';
import { OVERLOAD, overloadScenario } from './overload.js';
import { IRIS_HOOKS, IRIS_PLAIN, MNIST_CNN_KERAS, MNIST_CNN_ONNX, SCENARIOS, type Scenario } from './scenarios.js';
import { runInterleaved, runLoad, type LoadResult, type LoadTarget } from './load.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    only: { type: 'string' },
    out: { type: 'string', default: 'docs/benchmarks.md' },
    profile: { type: 'string' },
    'memory-requests': { type: 'string', default: '100000' },
    'memory-cycles': { type: 'string', default: '100' },
  },
});
const seconds = Number(values.seconds);
const ADMIN = 'bench-admin-token';
const selected = (name: string) => values.only === undefined || name.includes(values.only);

/** With --profile: NODE_OPTIONS that make every server process (and the floor) write a CPU profile there. */
const profileDir = values.profile === undefined ? undefined : resolve(values.profile);
if (profileDir !== undefined) await mkdir(profileDir, { recursive: true });
const childEnv: NodeJS.ProcessEnv = { ...process.env, ...(profileDir === undefined ? {} : profilingEnv(profileDir)) };

interface Running extends BenchServer {
  readonly child: ChildProcess;
}

async function startServer(dataDir: string, env: Record<string, string> = {}): Promise<Running> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--no-node-snapshot', join(PACKAGE_ROOT, 'dist/src/main.js'), '--port', String(port), '--grpc-port', '0', '--host', '127.0.0.1', '--data', dataDir, '--admin-token', ADMIN, '--log-level', 'warn'], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...childEnv, ...env },
  });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 300; i++) {
    try {
      if ((await fetch(`${url}/readyz`)).status === 200) return { child, url, frontPid: child.pid!, dataDir, client: new InferboxClient({ baseUrl: url, token: ADMIN }) };
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill();
  throw new Error('server did not become ready');
}

/**
 * The big-request scenario (test/bench/big-request.ts): a call at the default record limit, two at
 * once, and the 16 MB body of the issue (400,000 records), each while another deployment of the
 * same model serves single records; that deployment's latency during the big calls is the point.
 */
const BIG_REQUEST = 'big request';
const BIG_REQUEST_ROWS: readonly { label: string; records: number; concurrent: number }[] = [
  { label: '1 x 10,000 records (the default limit)', records: 10_000, concurrent: 1 },
  { label: '2 x 10,000 records at once', records: 10_000, concurrent: 2 },
  { label: '1 x 400,000 records (16 MB JSON)', records: 400_000, concurrent: 1 },
];
async function bigRequest(ctx: BenchContext): Promise<BenchSection> {
  const rows: (string | number)[][] = [];
  for (const row of BIG_REQUEST_ROWS) {
    ctx.progress(`${BIG_REQUEST}: ${row.label}\n`);
    const r = await bigRequestScenario({ url: ctx.server.url, client: ctx.client, records: row.records, concurrent: row.concurrent });
    rows.push([row.label, r.bigStatuses.join(', '), fmt(r.bigMs), fmt(r.alone.p99Ms), fmt(r.alone.maxMs), fmt(r.during.p50Ms), fmt(r.during.p99Ms), fmt(r.during.maxMs), r.during.errors]);
  }
  const table = markdownTable(
    ['big call', 'status', 'big call ms', 'other alone p99', 'alone max', 'other during p50', 'during p99', 'during max', 'errors'],
    ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    rows,
  );
  return { title: BIG_REQUEST, markdown: `${table}\n\nThe other deployment: single iris records at 4 connections. Goal: no single request holds a worker or the front for seconds (its max during the big call stays in the tens of milliseconds), and a body past the record limit is refused before any work.` };
}

async function main() {
  execSync('npm run build --silent', { cwd: PACKAGE_ROOT, stdio: 'inherit' });
  const servers: Running[] = [];
  const start = async (env: Record<string, string> = {}) => {
    const server = await startServer(await mkdtemp(join(tmpdir(), 'inferbox-bench-')), env);
    servers.push(server);
    return server;
  };
  const shared = await start();
  const { url, client } = shared;
  const ctx: BenchContext = { server: shared, client, seconds, childEnv, startServer: start, progress: (text) => process.stderr.write(text) };
  const rows: { scenario: Scenario; connections: number; result: LoadResult }[] = [];
  const notes: string[] = [];
  const sections: BenchSection[] = [];
  const targets = new Map<string, LoadTarget>();
  try {
    for (const scenario of SCENARIOS) {
      if (!selected(scenario.name)) continue;
      const target = await scenario.setup(client);
      targets.set(scenario.name, { ...target, url: `${url}${target.path}`, connections: 1, seconds });
      for (const connections of scenario.connections) {
        process.stderr.write(`${scenario.name} @ ${connections} connection(s) for ${seconds}s ... `);
        const result = await runLoad({ ...target, url: `${url}${target.path}`, connections, seconds });
        process.stderr.write(`p50 ${fmt(result.p50Ms)} ms, ${Math.round(result.rps)} req/s\n`);
        rows.push({ scenario, connections, result });
      }
      notes.push(...(scenario.notes?.(rows.filter((r) => r.scenario === scenario).map((r) => r.result)) ?? []));
    }
    for (const ratio of ratios(rows)) notes.push(ratio);
    const hooksGoal = await interleavedHooksRatio(targets);
    if (hooksGoal !== null) notes.push(hooksGoal);
    // Issue #14's scenarios, each with its own table. The floor comes before the noisy neighbours,
    // whose misbehaving scripts may leave work behind in a worker; memory runs on a server of its own.
    if (selected(FLOOR)) sections.push(await floorScenario(ctx));
    if (selected(NOISY_NEIGHBOUR)) sections.push(await noisyNeighbourScenario(ctx));
    // ---- big request: test/bench/big-request.ts (another part of issue #14) plugs in here ----
    if (selected(BIG_REQUEST)) sections.push(await bigRequest(ctx));
    // Issue #16: bounded queues and deadlines under a flood (test/bench/overload.ts).
    if (selected(OVERLOAD)) sections.push(await overloadScenario(ctx));
    if (selected(BATCHING)) sections.push(await batchingScenario(ctx));
    if (selected(MEMORY)) sections.push(await memoryScenario(ctx, { requests: Number(values['memory-requests']), cycles: Number(values['memory-cycles']) }));
  } finally {
    for (const server of servers) {
      await stopChild(server.child);
      await rm(server.dataDir, { recursive: true, force: true });
    }
  }
  await writeReport(rows, notes, sections);
  if (profileDir !== undefined) process.stderr.write(`CPU profiles in ${profileDir} (summaries: node --import tsx test/bench/cpu-profile.ts <file>)\n`);
}

/**
 * The issue-3 goal, measured the steadier way: the iris deployments with and without hooks in
 * alternating slice pairs at concurrency 1; the median over pairs of p50 with hooks over p50
 * without (see runInterleaved), and the pooled ratio beside it.
 */
async function interleavedHooksRatio(targets: ReadonlyMap<string, LoadTarget>): Promise<string | null> {
  const plain = targets.get(IRIS_PLAIN);
  const hooks = targets.get(IRIS_HOOKS);
  if (plain === undefined || hooks === undefined) return null;
  const options = { slices: 20, sliceSeconds: Math.max(1, seconds / 10), settleSeconds: 0.5 };
  const shape = `${options.slices} pairs of alternating ${options.sliceSeconds} s slices, each after ${options.settleSeconds} s unmeasured`;
  process.stderr.write(`iris with / without hooks, interleaved: ${shape} ... `);
  const { a, b, pairRatios } = await runInterleaved(plain, hooks, options);
  const sorted = [...pairRatios].sort((x, y) => x - y);
  const quantile = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  const median = quantile(0.5);
  const pooled = b.p50Ms / a.p50Ms;
  process.stderr.write(`median ${median.toFixed(3)}, pooled ${pooled.toFixed(3)}\n`);
  return (
    `iris p50 with hooks / without hooks, interleaved (${shape}, at concurrency 1): median of the pair ratios **${median.toFixed(3)}** ` +
    `(goal <= 1.10; quartiles ${quantile(0.25).toFixed(3)}-${quantile(0.75).toFixed(3)}, range ${sorted[0]!.toFixed(3)}-${sorted.at(-1)!.toFixed(3)}); ` +
    `pooled ${pooled.toFixed(3)} (${fmt(b.p50Ms)} ms / ${fmt(a.p50Ms)} ms)`
  );
}

/** Ratios quoted from one run at concurrency 1: hooks over no hooks; the CNN on TF.js over the same CNN on onnxruntime. */
function ratios(rows: { scenario: Scenario; connections: number; result: LoadResult }[]): string[] {
  const at1 = (name: string) => rows.find((r) => r.scenario.name === name && r.connections === 1)?.result;
  const out: string[] = [];
  const plain = at1(IRIS_PLAIN);
  const hooks = at1(IRIS_HOOKS);
  if (plain && hooks) {
    const ratio = hooks.p50Ms / plain.p50Ms;
    out.push(`iris p50 with hooks / without hooks, from the two rows above at concurrency 1: ${ratio.toFixed(3)} (${fmt(hooks.p50Ms)} ms / ${fmt(plain.p50Ms)} ms)`);
  }
  const keras = at1(MNIST_CNN_KERAS);
  const onnx = at1(MNIST_CNN_ONNX);
  if (keras && onnx) {
    out.push(`mnist CNN p50 Keras on TF.js / ONNX on onnxruntime at concurrency 1: **${(keras.p50Ms / onnx.p50Ms).toFixed(2)}** (${fmt(keras.p50Ms)} ms / ${fmt(onnx.p50Ms)} ms)`);
  }
  return out;
}

async function writeReport(rows: { scenario: Scenario; connections: number; result: LoadResult }[], notes: string[], sections: readonly BenchSection[]) {
  const commit = execSync('git rev-parse --short HEAD', { cwd: PACKAGE_ROOT }).toString().trim();
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
  const table = [
    '| scenario | connections | p50 ms | p99 ms | mean ms | req/s | errors |',
    '|---|---:|---:|---:|---:|---:|---:|',
    ...rows.map(({ scenario, connections, result: r }) => `| ${scenario.name} | ${connections} | ${fmt(r.p50Ms)} | ${fmt(r.p99Ms)} | ${fmt(r.meanMs)} | ${Math.round(r.rps)} | ${r.errors} |`),
  ].join('\n');
  const path = resolve(PACKAGE_ROOT, values.out!); // relative to the package root; absolute paths as given
  const previous = await readFile(path, 'utf8').catch(() => '');
  const intro = previous.split('<!-- results -->')[0]?.trim() || '# Benchmarks';
  const rowsPart = rows.length === 0 ? '' : `\n${table}\n\n${notes.map((n) => `- ${n}`).join('\n')}\n`;
  const body = `${intro}\n\n<!-- results -->\n## Latest run\n\n- date: ${new Date().toISOString().slice(0, 10)}\n- machine: ${machine}\n- commit: ${commit}\n- load: closed-loop keep-alive HTTP from the bench process over loopback, ${seconds} s per row, after a warm-up\n${rowsPart}${sections.map((s) => `\n### ${s.title}\n\n${s.markdown}\n`).join('')}`;
  await writeFile(path, body);
  process.stderr.write(`wrote ${path}\n`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
