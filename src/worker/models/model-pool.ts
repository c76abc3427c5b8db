import { LRUCache } from 'lru-cache';
import type { Logger } from '../../log.js';
import type { ModelRef, PoolStats } from '../../protocol/messages.js';
import type { LoadedModel } from '../runtimes/types.js';

export interface ModelPoolOptions {
  readonly maxModels: number;
  readonly maxBytes: number;
  readonly load: (ref: ModelRef) => Promise<LoadedModel>;
  readonly log: Logger;
}

/** A loaded model checked out for one request; `release()` exactly once. */
export interface ModelLease {
  readonly model: LoadedModel;
  release(): void;
}

interface Entry {
  readonly ref: ModelRef;
  readonly model: LoadedModel;
  leases: number;
  evicted: boolean;
}

/**
 * The loaded models of one worker: an LRU bounded by count and file bytes. `lru-cache`'s fetch()
 * gives single-flight loads (concurrent requests for one key wait on the same load). An evicted
 * model still leased by a request is disposed when its last lease is released.
 */
export class ModelPool {
  private readonly cache: LRUCache<string, Entry, ModelRef>;
  private readonly counters = { hits: 0, misses: 0, loads: 0, evictions: 0 };
  private readonly disposing = new Set<Promise<void>>();

  constructor(private readonly options: ModelPoolOptions) {
    this.cache = new LRUCache<string, Entry, ModelRef>({
      max: options.maxModels,
      maxSize: options.maxBytes,
      sizeCalculation: (entry) => Math.max(1, entry.ref.bytes),
      dispose: (entry, key, reason) => {
        if (reason === 'evict') this.counters.evictions++;
        entry.evicted = true;
        this.options.log.info({ model: key, reason }, 'model unloaded');
        if (entry.leases === 0) this.disposeEntry(entry);
      },
      fetchMethod: async (_key, _stale, { context }) => {
        this.counters.loads++;
        const model = await this.options.load(context);
        return { ref: context, model, leases: 0, evicted: false };
      },
    });
  }

  /** The model if it is loaded now, leased without waiting a promise turn; else undefined. */
  acquireLoaded(ref: ModelRef): ModelLease | undefined {
    const entry = this.cache.get(ref.key);
    if (entry === undefined) return undefined;
    this.counters.hits++;
    return this.lease(entry);
  }

  async acquire(ref: ModelRef): Promise<ModelLease> {
    const status: LRUCache.Status<string, Entry, ModelRef> = {};
    const entry = await this.cache.fetch(ref.key, { context: ref, status });
    if (entry === undefined) throw new Error(`model ${ref.key} did not load`);
    if (status.fetch === 'hit') this.counters.hits++;
    else this.counters.misses++;
    return this.lease(entry);
  }

  private lease(entry: Entry): ModelLease {
    entry.leases++;
    let released = false;
    return {
      model: entry.model,
      release: () => {
        if (released) return;
        released = true;
        entry.leases--;
        if (entry.evicted && entry.leases === 0) this.disposeEntry(entry);
      },
    };
  }

  /** Unloads every version of `name` (or just `version`), e.g. after it was deleted. */
  evict(name: string, version?: number): number {
    let n = 0;
    for (const [key, entry] of this.cache.entries()) {
      if (entry.ref.name === name && (version === undefined || entry.ref.version === version)) {
        this.cache.delete(key);
        n++;
      }
    }
    return n;
  }

  stats(): PoolStats {
    return { loaded: this.cache.size, bytes: this.cache.calculatedSize, ...this.counters };
  }

  /** Unloads everything (shutdown). */
  async clear(): Promise<void> {
    this.cache.clear();
    await Promise.all(this.disposing);
  }

  private disposeEntry(entry: Entry): void {
    const done = entry.model
      .dispose()
      .catch((err: unknown) => this.options.log.warn({ err, model: entry.ref.key }, 'model dispose failed'))
      .finally(() => this.disposing.delete(done));
    this.disposing.add(done);
  }
}
