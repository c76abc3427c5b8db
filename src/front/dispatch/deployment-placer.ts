import type { MisbehaviourView, PlacementView } from '../../api/types.js';
import { ServeError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { ModelRef } from '../../protocol/messages.js';
import type { DeploymentRecord, Store } from '../../store/index.js';
import { modelRef } from '../views.js';
import { placeDeployments, samePlacement, type Placement } from './placement.js';
import type { ScriptRouter } from './script-router.js';
import type { WorkerPool } from './worker-pool.js';

/**
 * How long a deployment stays marked misbehaving after its last SCRIPT_TIMEOUT, SCRIPT_MEMORY_LIMIT
 * or SCRIPT_CRASHED answer. Long enough that a deployment failing now and then does not move the
 * others back and forth (each move rebuilds sandboxes), short enough that a fixed one is placed
 * like the others again within minutes.
 */
export const KEEP_APART_MS = 5 * 60_000;

/** Attempts to serve another instance's change after the first fails, a second apart. */
const REMOTE_RETRIES = 30;

type MisbehaviourCode = MisbehaviourView['reason'];
const MISBEHAVIOUR: ReadonlySet<string> = new Set<MisbehaviourCode>(['SCRIPT_TIMEOUT', 'SCRIPT_MEMORY_LIMIT', 'SCRIPT_CRASHED']);

/** What serves a deployment now: the record its requests run, its model, and its workers. */
export interface Served {
  readonly record: DeploymentRecord;
  readonly placement: Placement;
  /** Resolved on first use: a deployment whose version is missing fails its calls, not the start. */
  model(): ModelRef;
  /**
   * null once the version's files are on this instance's disk; until then, the fetch to wait for
   * (the PostgreSQL store's cache; STORE_UNAVAILABLE when the database is away).
   */
  local(): Promise<void> | null;
}

interface Mark {
  reason: MisbehaviourCode;
  readonly since: number;
  until: number;
  timer: NodeJS.Timeout;
}

export interface DeploymentPlacerDeps {
  readonly store: Store;
  readonly workers: WorkerPool;
  readonly scripts: ScriptRouter;
  readonly log: Logger;
}

/**
 * Keeps every deployment placed on its runtime workers (placement.ts): places a new or changed one
 * and builds its sandboxes (or loads its model) there before its requests switch to them, moves the
 * others a change displaced the same way, keeps misbehaving deployments apart, and warms a worker
 * that restarted. Changes run one at a time. Requests read `served(name)` when a worker takes them.
 */
export class DeploymentPlacer {
  private readonly current = new Map<string, Served>();
  private readonly marks = new Map<string, Mark>();
  /** Changes run one at a time, before any pending warm-up (which only saves a first request some work). */
  private readonly changes: (() => Promise<void>)[] = [];
  private readonly warmups: (() => Promise<void>)[] = [];
  private running = false;
  private closed = false;

  constructor(private readonly deps: DeploymentPlacerDeps) {}

  /**
   * Places the stored deployments at start. Their sandboxes and models are built in the background
   * (a request that comes first builds what it needs itself).
   */
  start(): void {
    const records = this.deps.store.deployments.list();
    const targets = this.targets(records);
    for (const record of records) this.current.set(record.name, this.servedOf(record, targets.get(record.name)!));
    for (let worker = 0; worker < this.deps.workers.size; worker++) this.warmWorker(worker);
  }

  /** Stops the timers of misbehaviour marks; later changes are not applied. */
  close(): void {
    this.closed = true;
    for (const mark of this.marks.values()) clearTimeout(mark.timer);
    this.marks.clear();
  }

  /** What serves the deployment now; DEPLOYMENT_NOT_FOUND once it is deleted. */
  served(name: string): Served {
    const served = this.current.get(name);
    if (served === undefined) throw new ServeError('DEPLOYMENT_NOT_FOUND', `deployment "${name}" does not exist`);
    return served;
  }

  /** The workers of a deployment's requests, as its view shows them. */
  viewOf(name: string): PlacementView {
    const served = this.current.get(name);
    const placement = served?.placement ?? { workers: [], sandboxes: [] };
    const mark = this.marks.get(name);
    return {
      workers: [...placement.workers],
      sandboxes: served?.record.script == null ? {} : Object.fromEntries(placement.workers.map((w, i) => [String(w), placement.sandboxes[i]!])),
      misbehaving: mark ? { reason: mark.reason, since: new Date(mark.since).toISOString(), until: new Date(mark.until).toISOString() } : null,
    };
  }

  /**
   * Stores a new or changed deployment once what it needs is built where it is placed (its
   * sandboxes: SCRIPT_INVALID if its script fails, and nothing changes; its model: loaded ahead),
   * switches its requests to it, frees what it left, then moves others the change displaced.
   */
  deploy(record: DeploymentRecord): Promise<void> {
    return this.serialize(() => this.switchTo(record, () => this.deps.store.deployments.put(record)));
  }

  /** Deletes a deployment (DEPLOYMENT_NOT_FOUND if there is none), frees its sandboxes, rebalances. */
  remove(name: string): Promise<void> {
    return this.serialize(async () => {
      await this.deps.store.deployments.delete(name);
      await this.forget(name);
    });
  }

  /**
   * Another instance created, changed or deleted the deployment (the store's view has it already):
   * served here the way this instance serves its own changes, by the same steps without the write.
   * The store's record at the time the change's turn comes is the one applied, so changes that
   * came in a burst end at the last. A build that fails here (the database away while the version
   * is fetched) is tried again, up to REMOTE_RETRIES times a second apart; meanwhile the deployment
   * keeps serving what it served.
   */
  applyRemote(name: string, attempt = 0): Promise<void> {
    return this.serialize(async () => {
      if (this.closed) return;
      const record = this.deps.store.deployments.find(name);
      if (record === undefined) {
        if (this.current.has(name)) await this.forget(name);
        return;
      }
      if (this.current.get(name)?.record === record) return;
      await this.switchTo(record);
    }).catch((err: unknown) => {
      if (this.closed) return;
      this.deps.log.error({ err, deployment: name, attempt }, 'could not serve another instance\'s change of the deployment');
      if (attempt < REMOTE_RETRIES) setTimeout(() => void this.applyRemote(name, attempt + 1), 1000).unref();
    });
  }

  /** Builds what the record needs where it is placed, stores it (`write`), switches its requests, rebalances. */
  private async switchTo(record: DeploymentRecord, write?: () => Promise<void>): Promise<void> {
    const others = this.deps.store.deployments.list().filter((d) => d.name !== record.name);
    const placement = this.targets([...others, record]).get(record.name)!;
    const served = this.servedOf(record, placement);
    await this.build(served);
    await write?.();
    const before = this.current.get(record.name)?.record;
    this.current.set(record.name, served);
    // A new script or new limits start with a clean slate, as a new script lifts a quarantine.
    if (before && (before.script !== record.script || JSON.stringify(before.limits) !== JSON.stringify(record.limits)) && this.marks.has(record.name)) {
      this.unmark(record.name);
    }
    await this.deps.scripts.dropStale(record, placement);
    await this.rebalance();
  }

  private async forget(name: string): Promise<void> {
    this.current.delete(name);
    this.unmark(name);
    await this.deps.scripts.drop(name);
    await this.rebalance();
  }

  /**
   * Looks at a failed call: SCRIPT_TIMEOUT, SCRIPT_MEMORY_LIMIT and SCRIPT_CRASHED mark the
   * deployment misbehaving for KEEP_APART_MS from the last one; the first mark moves it apart.
   */
  noteFailure(name: string, err: unknown): void {
    if (this.closed || !(err instanceof ServeError) || !MISBEHAVIOUR.has(err.code) || !this.current.has(name)) return;
    const now = Date.now();
    const mark = this.marks.get(name);
    const timer = setTimeout(() => {
      this.marks.delete(name);
      this.deps.log.info({ deployment: name }, 'deployment no longer marked misbehaving; placing it like the others');
      void this.serialize(() => this.rebalance());
    }, KEEP_APART_MS).unref();
    if (mark) {
      clearTimeout(mark.timer);
      Object.assign(mark, { reason: err.code, until: now + KEEP_APART_MS, timer });
      return;
    }
    this.marks.set(name, { reason: err.code as MisbehaviourCode, since: now, until: now + KEEP_APART_MS, timer });
    this.deps.log.warn({ deployment: name, reason: err.code }, 'deployment misbehaves; keeping it apart from the others');
    void this.serialize(() => this.rebalance());
  }

  /** A worker came back after it exited: build what is placed on it before requests need it. */
  workerRestarted(worker: number): void {
    this.warmWorker(worker);
  }

  private unmark(name: string): void {
    clearTimeout(this.marks.get(name)?.timer);
    this.marks.delete(name);
  }

  /** Runs changes one after the other, each after the one before (a failed one does not stop the next). */
  private serialize<T>(task: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.changes.push(() => task().then(resolve, reject));
      void this.runQueued();
    });
  }

  private async runQueued(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      for (let task = this.changes.shift() ?? this.warmups.shift(); task; task = this.changes.shift() ?? this.warmups.shift()) await task().catch(() => undefined);
    } finally {
      this.running = false;
    }
  }

  private targets(records: readonly DeploymentRecord[]): Map<string, Placement> {
    const demands = records.map((r) => ({ name: r.name, replicas: r.replicas, hasScript: r.script !== null, misbehaving: this.marks.has(r.name), createdAt: r.createdAt }));
    return placeDeployments(demands, this.deps.workers.size);
  }

  private servedOf(record: DeploymentRecord, placement: Placement): Served {
    let model: ModelRef | undefined;
    let local = false;
    const { store } = this.deps;
    return {
      record,
      placement,
      model: () => (model ??= modelRef(store, store.models.get(record.modelName, record.modelVersion))),
      local: () => {
        if (local) return null;
        return store.models.ensureLocal(store.models.get(record.modelName, record.modelVersion)).then(() => {
          local = true;
        });
      },
    };
  }

  /** Sandboxes on each placed worker (throws if the script fails), or the model loaded there (best effort). */
  private async build(served: Served, only?: number): Promise<void> {
    const { record, placement } = served;
    await served.local();
    if (record.script !== null) {
      await this.deps.scripts.prepare(record, served.model(), placement, only);
      return;
    }
    const model = served.model();
    const workers = placement.workers.filter((w) => only === undefined || w === only);
    await Promise.all(
      workers.map((worker) =>
        this.deps.workers.request({ t: 'warm', model }, { worker }).catch((err: unknown) => {
          // Its first request loads it, and answers the error if it is real.
          if (!this.closed) this.deps.log.warn({ err, deployment: record.name, worker }, 'could not load the model ahead of traffic');
        }),
      ),
    );
  }

  /** Moves every deployment whose placement changed (a change, a delete, a mark) to its new workers. */
  private async rebalance(): Promise<void> {
    if (this.closed) return;
    const records = this.deps.store.deployments.list();
    const targets = this.targets(records);
    for (const record of records) {
      const target = targets.get(record.name)!;
      const before = this.current.get(record.name);
      if (before && samePlacement(before.placement, target)) continue;
      const served = this.servedOf(record, target);
      try {
        // A quarantined script takes no calls: nothing to build for it.
        if (record.script === null || !this.deps.scripts.isQuarantined(record.script)) await this.build(served);
        this.current.set(record.name, served);
        await this.deps.scripts.dropStale(record, target);
        this.deps.log.info({ deployment: record.name, from: before?.placement.workers, to: target.workers }, 'deployment moved');
      } catch (err) {
        // It keeps serving where it was; the next change tries again.
        this.deps.log.error({ err, deployment: record.name, to: target.workers }, 'could not move the deployment');
      }
    }
  }

  /**
   * Builds the sandboxes and loads the models of the deployments placed on a worker, one
   * deployment per task, each checked again when its turn comes (a change may have moved it).
   */
  private warmWorker(worker: number): void {
    for (const name of this.current.keys()) {
      this.warmups.push(async () => {
        const served = this.current.get(name);
        if (this.closed || !served?.placement.workers.includes(worker)) return;
        const { record } = served;
        if (record.script !== null && this.deps.scripts.isQuarantined(record.script)) return;
        await this.build(served, worker).catch((err: unknown) => {
          if (!this.closed) this.deps.log.warn({ err, deployment: name, worker }, 'could not prepare the deployment on the worker');
        });
      });
    }
    void this.runQueued();
  }
}
