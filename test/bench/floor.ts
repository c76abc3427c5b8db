/**
 * Throughput against the floor: inferbox's iris deployment (no script) against a bare Koa handler
 * running the same onnxruntime-node session in one process (floor-server.ts), both at concurrency
 * 32, in alternating slices. Goal (issue #14): inferbox req/s over the floor's >= 0.85.
 * Then each is driven alone once more while /proc counts the CPU its processes use, for the CPU
 * each request costs in the floor, in inferbox's front and in its workers.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { isDeepStrictEqual } from 'node:util';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../src/package-info.js';
import { StoreLayout } from '../../src/store/layout.js';
import { cpuMs, fmt, freePort, markdownTable, quantile, stopChild, workersOf, type BenchContext, type BenchSection } from './context.js';
import { measure, runInterleaved, type LoadTarget } from './load.js';
import { IRIS_BODY, publishIris } from './scenarios.js';

export const FLOOR = 'throughput against the floor';
const CONNECTIONS = 32;
const GOAL = 0.85;

async function startFloor(ctx: BenchContext, modelDir: string): Promise<{ child: ChildProcess; url: string }> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', join(PACKAGE_ROOT, 'test/bench/floor-server.ts'), modelDir, String(port)], {
    cwd: PACKAGE_ROOT,
    env: ctx.childEnv,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('listening')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`the floor server exited (code ${code}) before listening`)));
  });
  return { child, url: `http://127.0.0.1:${port}` };
}

async function post(target: LoadTarget): Promise<unknown> {
  const res = await fetch(target.url, { method: 'POST', headers: { authorization: `Bearer ${target.token}`, 'content-type': target.contentType }, body: target.body });
  return res.json();
}

/** CPU ms per request of each process while `target` alone is driven for `ctx.seconds`. */
async function cpuPerRequest(ctx: BenchContext, target: LoadTarget, pids: ReadonlyMap<string, number>) {
  const before = new Map([...pids].map(([k, pid]) => [k, cpuMs(pid)]));
  const bench = process.cpuUsage();
  const result = await measure(target);
  const requests = result.ok + result.errors;
  const used = new Map([...pids].map(([k, pid]) => [k, (cpuMs(pid) - before.get(k)!) / requests]));
  const client = process.cpuUsage(bench);
  used.set('bench client (load generator)', (client.user + client.system) / 1000 / requests);
  return { result, used };
}

export async function floorScenario(ctx: BenchContext): Promise<BenchSection> {
  const { client, server } = ctx;
  await publishIris(client);
  const dep = await client.createDeployment({ deployment_name: 'iris-floor', model_name: 'iris' });
  const version = (await client.getDeployment('iris-floor')).model_version;
  // The version folder of the store: the floor loads the same serving copy.
  const floor = await startFloor(ctx, new StoreLayout(server.dataDir).versionDir('iris', Number(version)));
  try {
    const common = { body: IRIS_BODY, contentType: 'application/json', connections: CONNECTIONS, seconds: ctx.seconds };
    const floorTarget: LoadTarget = { ...common, url: `${floor.url}/`, token: '' };
    const inferbox: LoadTarget = { ...common, url: `${server.url}/api/v1/svc/iris-floor/predict`, token: dep.access_token };
    const same = isDeepStrictEqual(await post(floorTarget), await post(inferbox));

    const options = { slices: 5, sliceSeconds: Math.max(1, ctx.seconds / 5), settleSeconds: 0.5 };
    const shape = `${options.slices} pairs of alternating ${options.sliceSeconds} s slices at concurrency ${CONNECTIONS}, each after ${options.settleSeconds} s unmeasured`;
    ctx.progress(`${FLOOR}: floor / inferbox, ${shape} ... `);
    const { a, b, pairRpsRatios } = await runInterleaved(floorTarget, inferbox, options);
    const pooled = b.rps / a.rps;
    const median = quantile(pairRpsRatios, 0.5);
    ctx.progress(`floor ${Math.round(a.rps)} req/s, inferbox ${Math.round(b.rps)} req/s, ratio ${pooled.toFixed(2)}\n`);

    ctx.progress(`${FLOOR}: CPU per request, each alone for ${ctx.seconds}s ... `);
    const workers = await workersOf(server.url);
    const floorCpu = await cpuPerRequest(ctx, floorTarget, new Map([['floor process', floor.child.pid!]]));
    const inferboxPids = new Map<string, number>([['front', server.frontPid], ...workers.map((w) => [`worker ${w.index} (${w.role})`, w.pid] as [string, number])]);
    const inferboxCpu = await cpuPerRequest(ctx, inferbox, inferboxPids);
    const serverCpu = (used: Map<string, number>) => [...used].filter(([k]) => !k.startsWith('bench')).reduce((n, [, v]) => n + v, 0);
    ctx.progress(`floor ${(serverCpu(floorCpu.used) * 1000).toFixed(0)} µs, inferbox ${(serverCpu(inferboxCpu.used) * 1000).toFixed(0)} µs\n`);

    const table = markdownTable(
      ['server', 'connections', 'p50 ms', 'p99 ms', 'max ms', 'req/s', 'errors'],
      ['l', 'r', 'r', 'r', 'r', 'r', 'r'],
      [
        ['floor: bare Koa + onnxruntime-node, one process', CONNECTIONS, fmt(a.p50Ms), fmt(a.p99Ms), fmt(a.maxMs), Math.round(a.rps), a.errors],
        ['inferbox: iris deployment, no script', CONNECTIONS, fmt(b.p50Ms), fmt(b.p99Ms), fmt(b.maxMs), Math.round(b.rps), b.errors],
      ],
    );
    const us = (ms: number) => `${(ms * 1000).toFixed(0)} µs`;
    const cpuRows = [
      ...[...floorCpu.used].map(([k, v]) => [`floor: ${k}`, us(v)]),
      ['floor: server total', `**${us(serverCpu(floorCpu.used))}**`],
      ...[...inferboxCpu.used].map(([k, v]) => [`inferbox: ${k}`, us(v)]),
      ['inferbox: server total (front + workers)', `**${us(serverCpu(inferboxCpu.used))}**`],
    ];
    const cpuTable = markdownTable(['process', 'CPU per request'], ['l', 'r'], cpuRows);
    const verdict = pooled >= GOAL ? 'met' : 'not met';
    const markdown = [
      table,
      '',
      `- inferbox / floor req/s at concurrency ${CONNECTIONS} (${shape}): **${pooled.toFixed(2)}** (goal >= ${GOAL}: **${verdict}**); ` +
        `median of the pair ratios ${median.toFixed(2)} (range ${quantile(pairRpsRatios, 0).toFixed(2)}-${quantile(pairRpsRatios, 1).toFixed(2)})`,
      `- the two answer the same body: ${same ? 'yes' : '**no** (compare floor-server.ts with the deployment answer)'}`,
      `- CPU per request, from /proc/<pid>/stat (10 ms ticks) over ${ctx.seconds} s of each alone at concurrency ${CONNECTIONS} ` +
        `(floor ${Math.round(floorCpu.result.rps)} req/s, inferbox ${Math.round(inferboxCpu.result.rps)} req/s); inferbox / floor: ` +
        `**${(serverCpu(inferboxCpu.used) / serverCpu(floorCpu.used)).toFixed(2)}**`,
      '',
      cpuTable,
    ].join('\n');
    return { title: FLOOR, markdown };
  } finally {
    await stopChild(floor.child);
  }
}
