import { createHash } from 'node:crypto';

/**
 * Which serving workers serve each deployment: a pure function of the deployments (their replicas,
 * whether they have a script, whether they misbehave) and the worker count, so the same set gives
 * the same placement on every computation and after a restart.
 */

/** What placing one deployment needs to know. */
export interface PlacementDemand {
  readonly name: string;
  readonly replicas: number;
  readonly hasScript: boolean;
  /** Recently answered SCRIPT_TIMEOUT, SCRIPT_MEMORY_LIMIT or SCRIPT_CRASHED: kept apart from the others. */
  readonly misbehaving: boolean;
  /** Placement order among healthy deployments: older first, so a new deployment never moves an older one. */
  readonly createdAt: string;
}

export interface Placement {
  /** Serving workers (0-based indices) that take the deployment's requests, ascending. */
  readonly workers: readonly number[];
  /**
   * With a script: the sandboxes on each of those workers, in the same order (replicas spread over
   * them, so more replicas than workers means more sandboxes per worker). Without a script: zeros.
   */
  readonly sandboxes: readonly number[];
}

/**
 * Rendezvous hashing: each deployment ranks the workers by a hash of its name and the worker, so
 * ties in load always break the same way for it, and differently for different deployments.
 */
function rank(name: string, worker: number): number {
  return Number.parseInt(createHash('sha256').update(`${name}\u0000${worker}`).digest('hex').slice(0, 12), 16);
}

const byAge = (a: PlacementDemand, b: PlacementDemand) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/**
 * Places every deployment on `min(replicas, workerCount)` workers, the least loaded by replicas
 * already placed (a worker's load is the replicas it serves), ties broken by the name's hash.
 *
 * Misbehaving deployments are placed first, packed onto as few workers as they need and never on
 * all of them while healthy deployments exist: at most `workerCount - 1`, so at least one worker
 * stays free of them (a misbehaving deployment then gets fewer workers than its replicas; its
 * script keeps all its sandboxes). Healthy deployments then avoid those workers unless their
 * replicas need more workers than the others leave.
 */
export function placeDeployments(demands: readonly PlacementDemand[], workerCount: number): Map<string, Placement> {
  const n = Math.max(1, workerCount);
  const load = new Array<number>(n).fill(0);
  const out = new Map<string, Placement>();
  const bad = demands.filter((d) => d.misbehaving).sort(byAge);
  const good = demands.filter((d) => !d.misbehaving).sort(byAge);
  const confine = bad.length > 0 && good.length > 0 && n > 1;
  /** Workers that host a misbehaving deployment. */
  const tainted = new Set<number>();

  const place = (d: PlacementDemand, count: number, order: (a: number, b: number) => number): number[] => {
    const workers = Array.from({ length: n }, (_, w) => w)
      .sort((a, b) => order(a, b) || load[a]! - load[b]! || rank(d.name, b) - rank(d.name, a))
      .slice(0, count);
    // Sandboxes spread evenly; the first workers in preference order take the remainder.
    const sandboxes = workers.map((_, i) => (d.hasScript ? Math.floor(d.replicas / count) + (i < d.replicas % count ? 1 : 0) : 0));
    workers.forEach((w, i) => (load[w]! += d.hasScript ? sandboxes[i]! : 1));
    const sorted = workers.map((w, i) => [w, sandboxes[i]!] as const).sort((a, b) => a[0] - b[0]);
    out.set(d.name, { workers: sorted.map(([w]) => w), sandboxes: sorted.map(([, s]) => s) });
    return workers;
  };

  for (const d of bad) {
    const want = Math.min(d.replicas, confine ? n - 1 : n);
    // Onto workers misbehaving ones already use, while the tainted set may not grow past n - 1.
    const room = confine ? n - 1 - tainted.size : n;
    const reuse = Math.min(want, tainted.size);
    const count = Math.max(1, Math.min(want, reuse + room));
    for (const w of place(d, count, (a, b) => Number(!tainted.has(a)) - Number(!tainted.has(b)))) tainted.add(w);
  }
  for (const d of good) place(d, Math.min(d.replicas, n), (a, b) => Number(tainted.has(a)) - Number(tainted.has(b)));
  return out;
}

/** Same workers and the same sandboxes on each. */
export function samePlacement(a: Placement | undefined, b: Placement | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.workers.length === b.workers.length && a.workers.every((w, i) => w === b.workers[i] && a.sandboxes[i] === b.sandboxes[i]);
}
