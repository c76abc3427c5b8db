/**
 * Overload (issue #16): one deployment gets far more calls than it can serve while a healthy one
 * serves its usual load. The flooded deployment's script holds each call 50 ms (one sandbox, so
 * about 20 calls/s), its queue is bounded (`max_queue` 32) and its calls have a 1 s deadline
 * (`request_timeout_ms`); 64 clients call it without pause, first waiting the Retry-After of a
 * 503, then ignoring it. It should answer a mix of 200, 503 OVERLOADED (at once, queue full) and
 * 504 DEADLINE_EXCEEDED (dropped from the queue, or answered at the deadline in a worker), and
 * nothing else; the healthy deployment should see no errors and keep its latency.
 */
import { fmt, markdownTable, sleep, type BenchContext, type BenchSection } from './context.js';
import { runLoad, startBackground, type BackgroundResult, type LoadResult, type LoadTarget } from './load.js';
import { IRIS_BODY, publishIris } from './scenarios.js';

export const OVERLOAD = 'overload';
const HEALTHY_CONNECTIONS = 8;
const FLOOD_CONNECTIONS = 64;
const HOLD_MS = 50;
const MAX_QUEUE = 32;
const REQUEST_TIMEOUT_MS = 1000;
const BUSY_SCRIPT = `function prepare(args) {\n  const end = Date.now() + ${HOLD_MS};\n  while (Date.now() < end) {}\n  return args;\n}\n`;

/** Queue lengths seen in GET .../stats while a load runs, sampled every 50 ms. */
function sampleQueue(ctx: BenchContext, deployment: string): { stop(): Promise<number> } {
  let max = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      const stats = await ctx.client.stats(deployment);
      max = Math.max(max, stats.dispatch.queued);
      await sleep(50);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return max;
    },
  };
}

function answers(bg: BackgroundResult): string {
  return [...bg.answers].sort(([a], [b]) => a.localeCompare(b)).map(([k, n]) => `${n}× ${k}`).join(', ') || 'none';
}

export async function overloadScenario(ctx: BenchContext): Promise<BenchSection> {
  const { client, server, seconds } = ctx;
  await publishIris(client);
  const healthyDep = await client.createDeployment({ deployment_name: 'ov-healthy', model_name: 'iris', replicas: 2 });
  const floodedDep = await client.createDeployment({ deployment_name: 'ov-flooded', model_name: 'iris', script: BUSY_SCRIPT, replicas: 1, max_queue: MAX_QUEUE, request_timeout_ms: REQUEST_TIMEOUT_MS });
  const healthy: LoadTarget = { url: `${server.url}/api/v1/svc/ov-healthy/predict`, token: healthyDep.access_token, body: IRIS_BODY, contentType: 'application/json', connections: HEALTHY_CONNECTIONS, seconds };
  const flooded: LoadTarget = { url: `${server.url}/api/v1/svc/ov-flooded/predict`, token: floodedDep.access_token, body: IRIS_BODY, contentType: 'application/json', connections: FLOOD_CONNECTIONS, seconds };

  ctx.progress(`${OVERLOAD}: healthy iris alone @ ${HEALTHY_CONNECTIONS} for ${seconds}s ... `);
  const alone = await runLoad(healthy);
  ctx.progress(`p99 ${fmt(alone.p99Ms)} ms, ${alone.errors} errors\n`);

  const phases: { label: string; during: LoadResult; flood: BackgroundResult; floodedQueue: number; healthyQueue: number }[] = [];
  for (const honorRetryAfter of [true, false]) {
    const label = honorRetryAfter ? 'clients that wait Retry-After' : 'clients that ignore Retry-After';
    ctx.progress(`${OVERLOAD}: healthy iris while ${FLOOD_CONNECTIONS} ${label} flood ov-flooded ... `);
    const bg = startBackground(flooded, { honorRetryAfter });
    await sleep(500); // the flood's queue has filled before the healthy load starts
    const queues = { flooded: sampleQueue(ctx, 'ov-flooded'), healthy: sampleQueue(ctx, 'ov-healthy') };
    const during = await runLoad(healthy);
    const [floodedQueue, healthyQueue] = [await queues.flooded.stop(), await queues.healthy.stop()];
    const flood = await bg.stop();
    ctx.progress(`healthy p99 ${fmt(during.p99Ms)} ms, ${during.errors} errors; flooded: ${answers(flood)}\n`);
    phases.push({ label, during, flood, floodedQueue, healthyQueue });
    await sleep(1500); // what the flood left in the worker finishes before the next phase
  }

  const count = (flood: BackgroundResult, prefix: string) => [...flood.answers].filter(([k]) => k.startsWith(prefix)).reduce((n, [, v]) => n + v, 0);
  const other = (flood: BackgroundResult) => flood.requests - count(flood, '200') - count(flood, '503 OVERLOADED') - count(flood, '504 DEADLINE_EXCEEDED');
  const table = markdownTable(
    ['healthy iris deployment', 'p50 ms', 'p99 ms', 'p99.9 ms', 'max ms', 'req/s', 'errors', 'p99 / alone', 'most queued'],
    ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    [
      ['alone', fmt(alone.p50Ms), fmt(alone.p99Ms), fmt(alone.p999Ms), fmt(alone.maxMs), Math.round(alone.rps), alone.errors, '1', ''],
      ...phases.map((p) => [`flood by ${p.label}`, fmt(p.during.p50Ms), fmt(p.during.p99Ms), fmt(p.during.p999Ms), fmt(p.during.maxMs), Math.round(p.during.rps), p.during.errors, (p.during.p99Ms / alone.p99Ms).toFixed(2), p.healthyQueue]),
    ],
  );
  const floodTable = markdownTable(
    ['flooded deployment', 'calls', '200', '503 OVERLOADED', '504 DEADLINE_EXCEEDED', 'other', `most queued (max_queue ${MAX_QUEUE})`],
    ['l', 'r', 'r', 'r', 'r', 'r', 'r'],
    phases.map((p) => [`${FLOOD_CONNECTIONS} ${p.label}`, p.flood.requests, count(p.flood, '200'), count(p.flood, '503 OVERLOADED'), count(p.flood, '504 DEADLINE_EXCEEDED'), other(p.flood), p.floodedQueue]),
  );
  const met = phases.every((p) => other(p.flood) === 0 && p.floodedQueue <= MAX_QUEUE && p.during.errors === 0);
  const markdown = [
    `ov-flooded: a script holding each call ${HOLD_MS} ms in its one sandbox (about ${Math.round(1000 / HOLD_MS)} calls/s), \`max_queue\` ${MAX_QUEUE}, \`request_timeout_ms\` ${REQUEST_TIMEOUT_MS}, ` +
      `called by ${FLOOD_CONNECTIONS} clients without pause: first clients that wait the Retry-After of a 503 before their next call, then clients that ignore it. ` +
      `ov-healthy: iris without a script, replicas 2, ${HEALTHY_CONNECTIONS} connections, ${seconds} s after a 1 s warm-up. ` +
      '"most queued": the longest queue in the front seen in GET .../stats, sampled every 50 ms.',
    '',
    table,
    '',
    floodTable,
    '',
    `- goal: the flooded deployment answers only 200, 503 OVERLOADED and 504 DEADLINE_EXCEEDED, its queue never past max_queue, and the healthy one answers every call: **${met ? 'met' : 'not met'}**`,
    '- clients that ignore Retry-After turn each 503 into another call at once: the front answers thousands of 503s a second, which on two shared cores costs the healthy deployment CPU (its p99 / alone in that row); the queue bound itself holds.',
  ].join('\n');
  return { title: OVERLOAD, markdown };
}
