import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { CallPacer, createLogBudget, PROBATION_CALLS, SLICE_MS, type HostBridge } from '../../src/worker/sandbox-host/index.js';
import { createTestReplica, createTestSandbox, irisBridge, serveErrorOf, TEST_LIMITS, TIGHT_LIMITS } from '../helpers/sandbox-fixtures.js';

const budget = () => createLogBudget(TEST_LIMITS);
const made: { dispose(): void }[] = [];
after(() => made.forEach((m) => m.dispose()));
const keep = <T extends { dispose(): void }>(item: T): T => (made.push(item), item);

/** A script whose `slow(ms)` holds the isolate's thread for `ms` of script time. */
const SCRIPT = `
function quick(x) { return x + 1 }
function slow(ms) { const until = Date.now() + ms; while (Date.now() < until) {} return ms }
function spin() { for (;;) {} }`;

describe('CallPacer: synchronous entries are earned by quick calls (#14)', () => {
  it('starts asynchronous and turns synchronous after PROBATION_CALLS quick calls', () => {
    const pacer = new CallPacer();
    for (let i = 0; i < PROBATION_CALLS; i++) {
      assert.equal(pacer.mode, 'async', `call ${i + 1} of the probation`);
      pacer.record('async', 0.01, false);
    }
    assert.equal(pacer.mode, 'sync');
  });

  it('a slow call during probation starts the probation again', () => {
    const pacer = new CallPacer();
    for (let i = 0; i < PROBATION_CALLS - 1; i++) pacer.record('async', 0.01, false);
    pacer.record('async', SLICE_MS * 10, false);
    for (let i = 0; i < PROBATION_CALLS - 1; i++) pacer.record('async', 0.01, false);
    assert.equal(pacer.mode, 'async');
    pacer.record('async', 0.01, false);
    assert.equal(pacer.mode, 'sync');
  });

  it('a slow synchronous call demotes it, and the next probation is twice as long', () => {
    const pacer = new CallPacer();
    for (let i = 0; i < PROBATION_CALLS; i++) pacer.record('async', 0.01, false);
    pacer.record('sync', SLICE_MS * 10, false);
    assert.deepEqual([pacer.mode, pacer.demotions], ['async', 1]);
    for (let i = 0; i < 2 * PROBATION_CALLS - 1; i++) pacer.record('async', 0.01, false);
    assert.equal(pacer.mode, 'async');
    pacer.record('async', 0.01, false);
    assert.equal(pacer.mode, 'sync');
  });

  it('a call that ran into its time limit keeps it asynchronous for good', () => {
    const pacer = new CallPacer();
    pacer.record('async', 150, true);
    for (let i = 0; i < 10 * PROBATION_CALLS; i++) pacer.record('async', 0.01, false);
    assert.equal(pacer.mode, 'async');
  });

  it('a pinned mode never changes', () => {
    const pacer = new CallPacer({ mode: 'sync' });
    pacer.record('sync', 10_000, true);
    assert.equal(pacer.mode, 'sync');
  });
});

describe('Sandbox entries as the pacer says (#14)', () => {
  it('enters its first calls asynchronously, then synchronously once the probation is over', async () => {
    const pacer = new CallPacer();
    const sandbox = keep(await createTestSandbox(SCRIPT, { pacer }));
    const modes: string[] = [];
    for (let i = 0; i < 50 * PROBATION_CALLS && pacer.mode === 'async'; i++) {
      modes.push(pacer.mode);
      assert.equal((await sandbox.call('quick', [i], budget())).value, i + 1);
    }
    modes.push(pacer.mode);
    // Quick calls take microseconds of the isolate's CPU (a rare garbage collection may take longer
    // and restart the probation): well before 50 probations, one runs through.
    assert.equal(modes[0], 'async', 'the first call enters asynchronously');
    assert.equal(modes.at(-1), 'sync', 'after the probation, a quick call enters synchronously');
  });

  it('a synchronous call that runs longer than the slice sends the next calls back to asynchronous entries', async () => {
    const pacer = new CallPacer();
    const sandbox = keep(await createTestSandbox(SCRIPT, { pacer }));
    for (let i = 0; i < 50 * PROBATION_CALLS && pacer.mode === 'async'; i++) await sandbox.call('quick', [1], budget());
    assert.equal(pacer.mode, 'sync');
    assert.equal((await sandbox.call('slow', [SLICE_MS * 20], budget())).value, SLICE_MS * 20);
    assert.deepEqual([pacer.mode, pacer.demotions], ['async', 1]);
  });

  it('while a script spins asynchronously, the worker thread keeps serving other work; the limit still stops it', async () => {
    const sandbox = keep(await createTestSandbox(SCRIPT, { pacer: new CallPacer({ mode: 'async' }), limits: TIGHT_LIMITS }));
    const events: string[] = [];
    const spinning = serveErrorOf(sandbox.call('spin', [], budget())).then((err) => {
      events.push(`spin ${err.code}`);
    });
    // Other work of this thread: with a synchronous entry none of it could run before the spin ends.
    await nextTurn();
    events.push('other work');
    await spinning;
    assert.deepEqual(events, ['other work', 'spin SCRIPT_TIMEOUT']);
    assert.equal(sandbox.disposed, true);
  });

  it('a replica keeps its pacer across the isolate it rebuilds after a time limit', async () => {
    const replica = keep(await createTestReplica(SCRIPT, { pacer: new CallPacer(), limits: TIGHT_LIMITS }));
    assert.equal((await serveErrorOf(replica.call('spin', [], budget()))).code, 'SCRIPT_TIMEOUT');
    for (let i = 0; i < 3 * PROBATION_CALLS; i++) assert.equal((await replica.call('quick', [i], budget())).value, i + 1);
    assert.equal(replica.rebuilds, 1);
    assert.equal(replica.pacing.mode, 'async', 'a script that ran into its limit is never entered synchronously again');
  });
});

describe('Sandbox host calls in flight are capped inside the isolate (#14)', () => {
  /** The iris bridge, counting the model runs the host was asked for. */
  function countingBridge(): { bridge: HostBridge; runs: () => number } {
    let runs = 0;
    return {
      bridge: {
        ...irisBridge,
        runModel: (feeds) => {
          runs++;
          return irisBridge.runModel(feeds);
        },
      },
      runs: () => runs,
    };
  }

  it('refuses model.run past 64 in flight inside the sandbox, at once: the host runs 64 of 5,000', async () => {
    const { bridge, runs } = countingBridge();
    const sandbox = keep(
      await createTestSandbox(
        `async function flood() {
          const all = [];
          let refused = 0;
          let first;
          for (let i = 0; i < 5000; i++) {
            try {
              all.push(model.run({ dense_1_input: [[1, 2, 3, 4]] }));
            } catch (e) {
              refused++;
              first ??= e.code + ': ' + e.message;
            }
          }
          const answers = await Promise.all(all);
          return { ran: answers.length, refused, first };
        }`,
        { bridge },
      ),
    );
    const out = await sandbox.call('flood', [], budget());
    assert.deepEqual(out.value, {
      ran: 64,
      refused: 4936,
      first: 'SCRIPT_FAILED: model.run(): 64 calls are already in flight in this sandbox; await them before starting more (or pass several records to one model.run)',
    });
    assert.equal(runs(), 64);
    // The slots are given back: the next call runs again.
    assert.deepEqual((await sandbox.call('flood', [], budget())).value, out.value);
  });

  it('does no host work for model.run calls a function started and did not wait for', async () => {
    const { bridge, runs } = countingBridge();
    const script = 'function fire() { for (let i = 0; i < 50; i++) model.run({ dense_1_input: [[1, 2, 3, 4]] }); return "returned" }\nfunction ping() { return 1 }';
    const sandbox = keep(await createTestSandbox(script, { bridge }));
    assert.equal((await sandbox.call('fire', [], budget())).value, 'returned');
    for (let i = 0; i < 5; i++) {
      await sandbox.call('ping', [], budget());
      await nextTurn();
    }
    assert.equal(runs(), 0);
  });

  it('fails a call whose flood of model.run is refused with SCRIPT_FAILED naming the refusal', async () => {
    const { bridge } = countingBridge();
    const sandbox = keep(await createTestSandbox('function fire() { for (let i = 0; i < 1000; i++) model.run({ dense_1_input: [[1, 2, 3, 4]] }); return "returned" }', { bridge }));
    const err = await serveErrorOf(sandbox.call('fire', [], budget()));
    assert.equal(err.code, 'SCRIPT_FAILED');
    assert.match(err.message, /^model\.run\(\): 64 calls are already in flight in this sandbox/);
  });
});

describe('Sandbox unhandled promise rejections (#14)', () => {
  it('fails the call with SCRIPT_FAILED naming the rejection, and the sandbox serves the next call', async () => {
    const sandbox = keep(await createTestSandbox('function f() { Promise.reject(new Error("nobody waits for me")); return 1 }\nfunction ok() { return 2 }', { pacer: new CallPacer({ mode: 'async' }) }));
    const err = await serveErrorOf(sandbox.call('f', [], budget()));
    assert.deepEqual([err.code, err.message], ['SCRIPT_FAILED', 'f() left a rejected promise unhandled: nobody waits for me']);
    assert.equal((await sandbox.call('ok', [], budget())).value, 2);
  });

  // isolated-vm reads an unhandled rejection's message and stack after its own timeout stopped
  // watching: a looping getter there hangs a synchronous entry (and its worker) for good. The
  // asynchronous entry leaves this thread free, and the host's watchdog disposes the isolate.
  for (const [what, value] of [['a looping message getter', '{ get message() { for (;;) {} } }']] as const) {
    it(`stops a rejection left unhandled with ${what}: SCRIPT_TIMEOUT, the isolate replaced`, async () => {
      const replica = keep(await createTestReplica(`function f() { Promise.reject(${value}); return 1 }\nfunction ok() { return 2 }`, { pacer: new CallPacer({ mode: 'async' }), limits: TIGHT_LIMITS }));
      const events: string[] = [];
      const failing = serveErrorOf(replica.call('f', [], budget())).then((err) => events.push(`f ${err.code}`));
      await nextTurn();
      events.push('other work');
      await failing;
      assert.deepEqual(events, ['other work', 'f SCRIPT_TIMEOUT']);
      assert.equal((await replica.call('ok', [], budget())).value, 2);
      assert.equal(replica.rebuilds, 1);
    });
  }
});
