/**
 * Overload (issue #16): one deployment gets far more calls than it can serve while a healthy one
 * serves its usual load. The flooded deployment's script holds each call 50 ms (one sandbox, so
 * about 20 calls/s), its queue is bounded (`max_queue` 32) and its calls have a 1 s deadline
 * (`request_timeout_ms`); 64 clients call it without pause and ignore Retry-After. It should
 * answer a mix of 200, 503 OVERLOADED (at once, queue full) and 504 DEADLINE_EXCEEDED (dropped from
 * the queue, or answered at the deadline in a worker), and nothing else; the healthy deployment
 * should see no errors and keep its latency.
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

  ctx.progress(`${OVERLOAD}: healthy iris while ${FLOOD_CONNECTIONS} clients flood ov-flooded ... `);
  const bg = startBackground(flooded);
  await sleep(500); // the flood's queue has filled before the healthy load starts
  const queues = { flooded: sampleQueue(ctx, 'ov-flooded'), healthy: sampleQueue(ctx, 'ov-healthy') };
  const during: LoadResult = await runLoad(healthy);
  const [floodedQueue, healthyQueue] = [await queues.flooded.stop(), await queues.healthy.stop()];
  const flood = await bg.stop();
  ctx.progress(`healthy p99 ${fmt(during.p99Ms)} ms, ${during.errors} errors; flooded: ${answers(flood)}\n`);
  await sleep(1500); // what the flood left in the worker finishes before the next scenario

  const count = (prefix: string) => [...flood.answers].filter(([k]) => k.startsWith(prefix)).reduce((n, [, v]) => n + v, 0);
  const other = flood.requests - count('200') - count('503 OVERLOADED') - count('504 DEADLINE_EXCEEDED');
  const table = markdownTable(
    ['healthy iris deployment', 'p50 ms', 'p99 ms', 'p99.9 ms', 'max ms', 'req/s', 'errors', 'most queued'],
    ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    [
      ['alone', fmt(alone.p50Ms), fmt(alone.p99Ms), fmt(alone.p999Ms), fmt(alone.maxMs), Math.round(alone.rps), alone.errors, ''],
      ['during the flood', fmt(during.p50Ms), fmt(during.p99Ms), fmt(during.p999Ms), fmt(during.maxMs), Math.round(during.rps), during.errors, healthyQueue],
    ],
  );
  const floodTable = markdownTable(
    ['flooded deployment', 'calls', '200', '503 OVERLOADED', '504 DEADLINE_EXCEEDED', 'other', 'most queued (max_queue)'],
    ['l', 'r', 'r', 'r', 'r', 'r', 'r'],
    [[`${FLOOD_CONNECTIONS} clients, ${HOLD_MS} ms per call, 1 sandbox`, flood.requests, count('200'), count('503 OVERLOADED'), count('504 DEADLINE_EXCEEDED'), other, `${floodedQueue} (${MAX_QUEUE})`]],
  );
  const markdown = [
    `ov-flooded: a script holding each call ${HOLD_MS} ms in its one sandbox (about ${Math.round(1000 / HOLD_MS)} calls/s), \`max_queue\` ${MAX_QUEUE}, \`request_timeout_ms\` ${REQUEST_TIMEOUT_MS}, ` +
      `called by ${FLOOD_CONNECTIONS} clients without pause that ignore Retry-After. ov-healthy: iris without a script, replicas 2, ${HEALTHY_CONNECTIONS} connections, ${seconds} s after a 1 s warm-up. ` +
      '"most queued": the longest queue in the front seen in GET .../stats, sampled every 50 ms.',
    '',
    table,
    '',
    floodTable,
    '',
    `- goal: the flooded deployment answers only 200, 503 OVERLOADED and 504 DEADLINE_EXCEEDED, its queue never past max_queue, and the healthy one answers every call: ` +
      `**${other === 0 && floodedQueue <= MAX_QUEUE && during.errors === 0 ? 'met' : 'not met'}**; healthy p99 during / alone: ${(during.p99Ms / alone.p99Ms).toFixed(2)}`,
  ].join('\n');
  return { title: OVERLOAD, markdown };
}
