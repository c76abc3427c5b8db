/**
 * Noisy neighbour (issue #14): a healthy iris deployment (no script) under load, alone, then while
 * another deployment misbehaves:
 *   - its script spins to its time limit (`for (;;) {}` in prepare, the default 1 s limit), called
 *     without pause by 1 client with replicas 1, then by 2 clients with replicas 2;
 *   - its script floods host calls (50,000 `model.run` fired without awaiting, then returns),
 *     called without pause by 1 client.
 * Goal: the healthy deployment's p99 with a neighbour at most 2x its p99 alone, and zero errors.
 */
import { fmt, markdownTable, sleep, type BenchContext, type BenchSection } from './context.js';
import { runLoad, startBackground, type BackgroundResult, type LoadResult, type LoadTarget } from './load.js';
import { IRIS_BODY, publishIris } from './scenarios.js';

export const NOISY_NEIGHBOUR = 'noisy neighbour';
/** The healthy deployment's load: closed loop, as the other rows at their higher concurrency. */
const HEALTHY_CONNECTIONS = 8;
const GOAL_RATIO = 2;

const SPIN_SCRIPT = 'function prepare(args) {\n  for (;;) {}\n}\n';
const FLOOD_CALLS = 50_000;
const FLOOD_SCRIPT = `function flood(args) {
  for (let i = 0; i < ${FLOOD_CALLS}; i++) model.run({ float_input: [5.1, 3.5, 1.4, 0.2] });
  return 'fired';
}
`;

interface Neighbour {
  readonly label: string;
  readonly deployment: string;
  readonly script: string;
  readonly replicas: number;
  readonly clients: number;
  /** The function its clients call. */
  readonly fn: string;
}

const NEIGHBOURS: readonly Neighbour[] = [
  { label: 'spinning to its 1 s limit, replicas 1, 1 client', deployment: 'nn-spin-1', script: SPIN_SCRIPT, replicas: 1, clients: 1, fn: 'predict' },
  { label: 'spinning to its 1 s limit, replicas 2, 2 clients', deployment: 'nn-spin-2', script: SPIN_SCRIPT, replicas: 2, clients: 2, fn: 'predict' },
  { label: `flooding: ${FLOOD_CALLS.toLocaleString('en')} model.run not awaited, 1 client`, deployment: 'nn-flood', script: FLOOD_SCRIPT, replicas: 1, clients: 1, fn: 'flood' },
];

function answers(bg: BackgroundResult): string {
  return [...bg.answers].map(([k, n]) => `${n}× ${k}`).join(', ') || 'none';
}

export async function noisyNeighbourScenario(ctx: BenchContext): Promise<BenchSection> {
  const { client, server, seconds } = ctx;
  await publishIris(client);
  const healthyDep = await client.createDeployment({ deployment_name: 'nn-healthy', model_name: 'iris' });
  const healthy: LoadTarget = { url: `${server.url}/api/v1/svc/nn-healthy/predict`, token: healthyDep.access_token, body: IRIS_BODY, contentType: 'application/json', connections: HEALTHY_CONNECTIONS, seconds };
  const neighbours: (Neighbour & { target: LoadTarget })[] = [];
  for (const n of NEIGHBOURS) {
    const dep = await client.createDeployment({ deployment_name: n.deployment, model_name: 'iris', script: n.script, replicas: n.replicas });
    neighbours.push({ ...n, target: { url: `${server.url}/api/v1/svc/${n.deployment}/${n.fn}`, token: dep.access_token, body: IRIS_BODY, contentType: 'application/json', connections: n.clients, seconds } });
  }

  ctx.progress(`${NOISY_NEIGHBOUR}: healthy iris alone @ ${HEALTHY_CONNECTIONS} for ${seconds}s ... `);
  const alone = await runLoad(healthy);
  ctx.progress(`p99 ${fmt(alone.p99Ms)} ms, ${alone.errors} errors\n`);

  const phases: { label: string; result: LoadResult; neighbour: BackgroundResult | null }[] = [{ label: 'alone', result: alone, neighbour: null }];
  for (const n of neighbours) {
    ctx.progress(`${NOISY_NEIGHBOUR}: healthy iris while the neighbour is ${n.label} ... `);
    const bg = startBackground(n.target);
    await sleep(300); // the neighbour's first call is under way before the healthy load starts
    const result = await runLoad(healthy);
    const neighbour = await bg.stop();
    ctx.progress(`p99 ${fmt(result.p99Ms)} ms (${(result.p99Ms / alone.p99Ms).toFixed(2)}x), ${result.errors} errors; neighbour: ${answers(neighbour)}\n`);
    phases.push({ label: `neighbour ${n.label}`, result, neighbour });
    await sleep(1000); // what the neighbour left queued in a worker drains before the next phase
  }

  const met = (r: LoadResult) => r.p99Ms <= GOAL_RATIO * alone.p99Ms && r.errors === 0;
  const table = markdownTable(
    ['healthy iris deployment', 'p50 ms', 'p99 ms', 'p99.9 ms', 'max ms', 'req/s', 'errors', 'p99 / alone', 'goal', "neighbour's answers"],
    ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'l', 'l'],
    phases.map(({ label, result: r, neighbour }) => [
      label,
      fmt(r.p50Ms),
      fmt(r.p99Ms),
      fmt(r.p999Ms),
      fmt(r.maxMs),
      Math.round(r.rps),
      r.errors,
      neighbour ? (r.p99Ms / alone.p99Ms).toFixed(2) : '1',
      neighbour ? (met(r) ? 'met' : '**not met**') : '',
      neighbour ? answers(neighbour) : '',
    ]),
  );
  const all = phases.slice(1).every((p) => met(p.result));
  const worst = Math.max(...phases.slice(1).map((p) => p.result.p99Ms / alone.p99Ms));
  const markdown = [
    `The healthy deployment at ${HEALTHY_CONNECTIONS} connections, ${seconds} s per phase after a 1 s warm-up, the neighbour's clients calling without pause throughout.`,
    '',
    table,
    '',
    `- goal: healthy p99 with a neighbour <= ${GOAL_RATIO}x its p99 alone (${fmt(alone.p99Ms)} ms) and zero errors on the healthy one: ` +
      `**${all ? 'met' : 'not met'}** (worst p99 ratio ${worst.toFixed(2)}, healthy errors ${phases.slice(1).reduce((n, p) => n + p.result.errors, 0)})`,
    `- read p99.9 and max beside p99: the front sends each request to the serving worker with the fewest in flight, so only the few requests ` +
      `already sent to a stalled worker wait for it (a handful per stall, under 1 % of the requests at this rate); a stall shows as max ≈ the neighbour's call time.`,
  ].join('\n');
  return { title: NOISY_NEIGHBOUR, markdown };
}
