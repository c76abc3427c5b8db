/**
 * Requests waiting for a worker slot, one FIFO queue per tenant (deployment), served round robin:
 * when slots free up, each tenant with waiting requests gets one in turn, so a tenant with a
 * thousand queued requests delays another tenant's next request by one turn, not a thousand.
 */
export class FairQueue<T> {
  /** tenant -> its waiting items, oldest first; the Map's order is the ring (next turn first). */
  private readonly queues = new Map<string, T[]>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  has(tenant: string): boolean {
    return this.queues.has(tenant);
  }

  lengthOf(tenant: string): number {
    return this.queues.get(tenant)?.length ?? 0;
  }

  push(tenant: string, item: T): void {
    const queue = this.queues.get(tenant);
    if (queue) queue.push(item);
    else this.queues.set(tenant, [item]);
    this.count++;
  }

  /** Takes an item out wherever it is (it timed out); false when it was not queued. */
  remove(tenant: string, item: T): boolean {
    const queue = this.queues.get(tenant);
    const i = queue?.indexOf(item) ?? -1;
    if (i < 0) return false;
    queue!.splice(i, 1);
    if (queue!.length === 0) this.queues.delete(tenant);
    this.count--;
    return true;
  }

  /**
   * Offers each tenant's oldest item to `take`, one tenant after the other, and again until a
   * whole turn takes nothing. A taken item leaves; its tenant goes to the back of the ring. A
   * tenant whose oldest item is not taken keeps its place (its later items wait behind it).
   */
  drain(take: (item: T, tenant: string) => boolean): void {
    let progress = true;
    while (progress && this.count > 0) {
      progress = false;
      for (const [tenant, queue] of [...this.queues]) {
        if (!take(queue[0]!, tenant)) continue;
        queue.shift();
        this.count--;
        this.queues.delete(tenant);
        if (queue.length > 0) this.queues.set(tenant, queue);
        progress = true;
      }
    }
  }

  /** Every waiting item, tenant by tenant. */
  items(): T[] {
    return [...this.queues.values()].flat();
  }

  /** Empties every queue (shutdown), answering the items in no particular order. */
  clear(): T[] {
    const all = [...this.queues.values()].flat();
    this.queues.clear();
    this.count = 0;
    return all;
  }
}
