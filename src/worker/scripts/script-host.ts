import { ServeError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { ModelRef, ScriptHandle, ScriptRef } from '../../protocol/messages.js';
import type { ModelPool } from '../models/model-pool.js';
import type { ImageDefaults } from './host-bridge.js';
import { CallPacer, SandboxReplica, type HostBridge } from '../sandbox-host/index.js';

/** The sandboxes of one script revision in this worker. */
export class ScriptSet {
  private next = 0;
  private inflight = 0;
  private retired = false;

  constructor(
    readonly ref: ScriptRef,
    readonly replicas: readonly SandboxReplica[],
  ) {}

  get functions(): ReadonlySet<string> {
    return this.replicas[0]!.functions;
  }

  /**
   * A replica for one request, round robin (each runs one call at a time, queueing the rest).
   * `release()` when the request is done: a retired set is disposed after its last request.
   */
  acquire(): { replica: SandboxReplica; release: () => void } {
    const replica = this.replicas[this.next % this.replicas.length]!;
    this.next++;
    this.inflight++;
    let released = false;
    return {
      replica,
      release: () => {
        if (released) return;
        released = true;
        this.inflight--;
        if (this.retired && this.inflight === 0) this.dispose();
      },
    };
  }

  /** No new requests will come: dispose now, or once the requests it is serving finish. */
  retire(): void {
    this.retired = true;
    if (this.inflight === 0) this.dispose();
  }

  private dispose(): void {
    for (const r of this.replicas) r.dispose();
  }
}

/** Test owners ("test:<revision>") kept warm on the scratch worker. */
const MAX_TEST_OWNERS = 8;

/**
 * How long an owner's previous revision stays after a new one is ready. Requests the front sent
 * just before a switch still name the old revision; retiring it at once would rebuild it for them.
 */
const RETIRE_AFTER_MS = 10_000;

/**
 * Every script's sandboxes in this worker, by owner (deployment) and revision. A new revision is
 * built beside the old one, which keeps serving until the new one is ready (zero-drop switch);
 * older revisions are then disposed. Builds are single-flight per revision.
 */
export class ScriptHost {
  /** owner -> revision -> its build, and the built set once it is ready (read without a promise turn). */
  private readonly owners = new Map<string, Map<string, { readonly building: Promise<ScriptSet>; set?: ScriptSet }>>();

  constructor(
    private readonly pool: ModelPool,
    /** `images` lets image() without options follow the deployment's preprocess block. */
    private readonly bridgeFor: (model: ModelRef, images: ImageDefaults) => HostBridge,
    private readonly log: Logger,
    /** config sandbox.entries: every call asynchronous, or the pacer's adaptive choice (trusted scripts only). */
    private readonly entries: 'async' | 'adaptive' = 'async',
    /** Hears of an isolate whose thread did not stop when disposed (SandboxOptions.onStuck). */
    private readonly onStuck?: (what: string) => void,
  ) {}

  /** The revision's sandboxes when they are built, without waiting a promise turn; else undefined. */
  ready(ref: ScriptHandle): ScriptSet | undefined {
    return this.owners.get(ref.owner)?.get(ref.revision)?.set;
  }

  /** The script's sandboxes for this revision, building them (and running init) if needed. */
  async get(ref: ScriptHandle | ScriptRef, model: ModelRef): Promise<ScriptSet> {
    let revisions = this.owners.get(ref.owner);
    if (!revisions) {
      revisions = new Map();
      this.owners.set(ref.owner, revisions);
      this.trimTestOwners();
    }
    let entry = revisions.get(ref.revision);
    if (!entry) {
      if (!('text' in ref)) {
        // The front sends the full ref again: this worker restarted, or retired the revision.
        throw new ServeError('SCRIPT_NOT_LOADED', `revision ${ref.revision} of ${ref.owner}'s script is not loaded in this worker`);
      }
      const created: { building: Promise<ScriptSet>; set?: ScriptSet } = { building: this.build(ref, model) };
      entry = created;
      revisions.set(ref.revision, created);
      created.building.then(
        (set) => {
          created.set = set;
          this.retireOlder(ref.owner, ref.revision);
        },
        () => revisions!.delete(ref.revision),
      );
    }
    return entry.building;
  }

  drop(owner: string): void {
    const revisions = this.owners.get(owner);
    this.owners.delete(owner);
    for (const { building } of revisions?.values() ?? []) building.then((s) => s.retire(), () => undefined);
  }

  /** Live sandboxes (isolates) and how often they were rebuilt after a limit, for stats. */
  async stats(): Promise<{ sandboxes: number; rebuilds: number }> {
    let sandboxes = 0;
    let rebuilds = 0;
    for (const revisions of this.owners.values()) {
      for (const { building } of revisions.values()) {
        const set = await building.catch(() => null);
        for (const r of set?.replicas ?? []) {
          sandboxes++;
          rebuilds += r.rebuilds;
        }
      }
    }
    return { sandboxes, rebuilds };
  }

  async disposeAll(): Promise<void> {
    for (const owner of [...this.owners.keys()]) this.drop(owner);
  }

  private async build(ref: ScriptRef, model: ModelRef): Promise<ScriptSet> {
    const lease = await this.pool.acquire(model);
    const info = { name: model.name, version: String(model.version), inputs: lease.model.inputs, outputs: lease.model.outputs };
    lease.release();
    const bridge = this.bridgeFor(model, { preprocess: ref.preprocess, inputs: info.inputs });
    const replicas: SandboxReplica[] = [];
    try {
      for (let i = 0; i < Math.max(1, ref.replicas); i++) {
        const pacer = new CallPacer({ mode: this.entries });
        replicas.push(await SandboxReplica.create({ script: ref.text, limits: ref.limits, model: info, bridge, pacer, onStuck: this.onStuck, log: this.log.child({ owner: ref.owner, replica: i }) }));
      }
    } catch (err) {
      for (const r of replicas) r.dispose();
      throw err;
    }
    this.log.info({ owner: ref.owner, revision: ref.revision, replicas: replicas.length }, 'sandboxes ready');
    return new ScriptSet(ref, replicas);
  }

  /**
   * Once a revision is ready the owner's others are retired after a grace period (their queued
   * calls finish first); at most one previous revision is kept meanwhile.
   */
  private retireOlder(owner: string, keep: string): void {
    const revisions = this.owners.get(owner);
    if (!revisions) return;
    const others = [...revisions.keys()].filter((r) => r !== keep);
    const retire = (revision: string) => {
      const entry = revisions.get(revision);
      if (!entry || this.owners.get(owner)?.get(revision) !== entry) return;
      revisions.delete(revision);
      entry.building.then((s) => s.retire(), () => undefined);
    };
    others.slice(0, -1).forEach(retire);
    const previous = others.at(-1);
    if (previous !== undefined) setTimeout(() => retire(previous), RETIRE_AFTER_MS).unref();
  }

  private trimTestOwners(): void {
    const tests = [...this.owners.keys()].filter((o) => o.startsWith('test:'));
    for (const owner of tests.slice(0, Math.max(0, tests.length - MAX_TEST_OWNERS))) this.drop(owner);
  }
}
