import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FairQueue } from '../../src/front/dispatch/fair-queue.js';
import { placeDeployments, samePlacement, type PlacementDemand } from '../../src/front/dispatch/placement.js';

let clock = 0;
/** A deployment created after the previous one made by this helper. */
function demand(name: string, replicas = 1, more: Partial<PlacementDemand> = {}): PlacementDemand {
  clock++;
  return { name, replicas, hasScript: false, misbehaving: false, createdAt: new Date(Date.UTC(2026, 0, 1, 0, 0, clock)).toISOString(), ...more };
}

const workersOf = (placements: ReturnType<typeof placeDeployments>, name: string) => [...placements.get(name)!.workers];
const overlap = (a: readonly number[], b: readonly number[]) => a.filter((w) => b.includes(w));

describe('placeDeployments', () => {
  it('gives a deployment as many workers as replicas, capped at the worker count', () => {
    const p = placeDeployments([demand('one', 1), demand('two', 2), demand('five', 5)], 2);
    assert.equal(workersOf(p, 'one').length, 1);
    assert.deepEqual(workersOf(p, 'two'), [0, 1]);
    assert.deepEqual(workersOf(p, 'five'), [0, 1]);
  });

  it('spreads the sandboxes of a script over its workers: 3 replicas on 2 workers are 2 and 1', () => {
    const p = placeDeployments([demand('s', 3, { hasScript: true })], 2).get('s')!;
    assert.deepEqual(p.workers, [0, 1]);
    assert.deepEqual([...p.sandboxes].sort(), [1, 2]);
    assert.deepEqual(placeDeployments([demand('n', 3)], 2).get('n')!.sandboxes, [0, 0]);
    assert.deepEqual(placeDeployments([demand('s1', 1, { hasScript: true })], 4).get('s1')!.sandboxes, [1]);
  });

  it('puts single-replica deployments on the least loaded worker: four on four workers use all four', () => {
    const p = placeDeployments([demand('a'), demand('b'), demand('c'), demand('d')], 4);
    assert.deepEqual(['a', 'b', 'c', 'd'].flatMap((n) => workersOf(p, n)).sort(), [0, 1, 2, 3]);
  });

  it('counts sandboxes as load: a script with 3 replicas on 2 workers weighs more on one of them', () => {
    const big = demand('big', 3, { hasScript: true });
    const p = placeDeployments([big, demand('small')], 2);
    const bigger = p.get('big')!.workers[p.get('big')!.sandboxes.indexOf(2)]!;
    assert.notEqual(workersOf(p, 'small')[0], bigger);
  });

  it('is the same whatever the order it is given, and on every computation', () => {
    const ds = [demand('x', 2), demand('y'), demand('z', 1, { hasScript: true }), demand('w', 3, { hasScript: true })];
    const a = placeDeployments(ds, 3);
    const b = placeDeployments([...ds].reverse(), 3);
    for (const d of ds) assert.ok(samePlacement(a.get(d.name), b.get(d.name)), d.name);
  });

  it('never moves an older deployment when a newer one is placed', () => {
    const ds = Array.from({ length: 12 }, (_, i) => demand(`d${i}`, 1 + (i % 3), { hasScript: i % 2 === 0 }));
    for (let k = 1; k < ds.length; k++) {
      const before = placeDeployments(ds.slice(0, k), 4);
      const after = placeDeployments(ds.slice(0, k + 1), 4);
      for (const d of ds.slice(0, k)) assert.ok(samePlacement(before.get(d.name), after.get(d.name)), `${d.name} moved when d${k} came`);
    }
  });

  it('breaks ties by the name: equally loaded workers are not always taken in index order', () => {
    const firsts = new Set(Array.from({ length: 20 }, (_, i) => workersOf(placeDeployments([demand(`only-${i}`)], 4), `only-${i}`)[0]));
    assert.ok(firsts.size > 1, 'different names start on different workers');
  });

  it('keeps a misbehaving deployment on workers the healthy ones do not use', () => {
    const bad = demand('bad', 1, { hasScript: true, misbehaving: true });
    const healthy = [demand('h1'), demand('h2'), demand('h3', 1, { hasScript: true })];
    const p = placeDeployments([bad, ...healthy], 2);
    for (const h of healthy) assert.deepEqual(overlap(workersOf(p, h.name), workersOf(p, 'bad')), [], h.name);
  });

  it('confines a misbehaving deployment to all workers but one, keeping its sandboxes', () => {
    const p = placeDeployments([demand('bad', 2, { hasScript: true, misbehaving: true }), demand('ok')], 2);
    assert.equal(p.get('bad')!.workers.length, 1);
    assert.deepEqual(p.get('bad')!.sandboxes, [2]);
    assert.deepEqual(overlap(workersOf(p, 'ok'), workersOf(p, 'bad')), []);
  });

  it('packs misbehaving deployments together, and lets a healthy one on their workers only when its replicas need them', () => {
    const p = placeDeployments([demand('b1', 1, { misbehaving: true }), demand('b2', 1, { misbehaving: true }), demand('h1'), demand('wide', 4)], 4);
    assert.deepEqual(workersOf(p, 'b1'), workersOf(p, 'b2'));
    assert.deepEqual(overlap(workersOf(p, 'h1'), workersOf(p, 'b1')), []);
    assert.deepEqual(workersOf(p, 'wide'), [0, 1, 2, 3]);
  });

  it('does not confine misbehaving deployments when no healthy one needs room, nor on one worker', () => {
    assert.deepEqual(workersOf(placeDeployments([demand('bad', 2, { misbehaving: true })], 2), 'bad'), [0, 1]);
    const one = placeDeployments([demand('bad', 2, { misbehaving: true }), demand('ok')], 1);
    assert.deepEqual(workersOf(one, 'bad'), [0]);
    assert.deepEqual(workersOf(one, 'ok'), [0]);
  });
});

describe('FairQueue', () => {
  it('serves tenants in turn: one flooding tenant delays another by one turn', () => {
    const q = new FairQueue<string>();
    for (let i = 0; i < 5; i++) q.push('flood', `f${i}`);
    q.push('quiet', 'q0');
    const taken: string[] = [];
    let slots = 3;
    q.drain((item) => (slots-- > 0 ? (taken.push(item), true) : false));
    assert.deepEqual(taken, ['f0', 'q0', 'f1']);
    assert.equal(q.size, 3);
  });

  it('keeps a tenant that could not be served at the front of the ring, and its items in order', () => {
    const q = new FairQueue<string>();
    q.push('a', 'a0');
    q.push('a', 'a1');
    q.push('b', 'b0');
    const taken: string[] = [];
    q.drain((item, tenant) => tenant === 'b' && (taken.push(item), true));
    assert.deepEqual(taken, ['b0']);
    q.drain((item) => (taken.push(item), true));
    assert.deepEqual(taken, ['b0', 'a0', 'a1']);
    assert.equal(q.size, 0);
    assert.equal(q.has('a'), false);
  });

  it('removes one item and clears the rest', () => {
    const q = new FairQueue<string>();
    q.push('a', 'a0');
    q.push('a', 'a1');
    assert.equal(q.remove('a', 'a0'), true);
    assert.equal(q.remove('a', 'zz'), false);
    assert.equal(q.lengthOf('a'), 1);
    assert.deepEqual(q.clear(), ['a1']);
    assert.equal(q.size, 0);
  });
});
