import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { ServeError } from '../../src/errors.js';
import { CallPacer, createLogBudget, type HostBridge, type CallResult, type FlowModel, type FlowPlan, type FlowRows, type Sandbox, type SandboxLimits } from '../../src/worker/sandbox-host/index.js';
import { createTestSandbox, disposedAfter, irisBridge, ENTRY_MODES, outputOf, serveErrorOf, TEST_LIMITS, TIGHT_LIMITS } from '../helpers/sandbox-fixtures.js';
import { fixturePath } from '../helpers/fixtures.js';

const budget = () => createLogBudget(TEST_LIMITS);
const PLAN: FlowPlan = { files: false, prepare: 'prepare', postprocess: true };
const ARGS = { X: [{ dense_1_input: [5.1, 3.5, 1.4, 0.2] }, { dense_1_input: [6.7, 3.0, 5.2, 2.3] }] };

/**
 * A model step with one output, dense_4, that answers one row per record ([probabilities], as
 * postprocess takes it, or the record without postprocess) and records how it ran.
 */
function recordingModel(options: { sync?: boolean; syncMs?: number; fail?: ServeError; postprocess?: boolean; split?: boolean } = {}) {
  const seen: { how: 'sync' | 'async'; prepared: unknown }[] = [];
  const rows = (prepared: unknown): FlowRows => {
    const outputs = ((prepared as { X: unknown[] }).X ?? []).map((_, i) => [0.1, 0.2 + i / 10, 0.7 - i / 10]);
    const withPost = options.postprocess ?? true;
    return { rows: outputs.map((o) => (withPost ? [o] : { dense_4: o })), names: ['dense_4'], split: options.split ?? false };
  };
  const model: FlowModel = {
    runSync(prepared) {
      if (options.sync === false) return null;
      seen.push({ how: 'sync', prepared });
      // A slow model: blocks the thread like onnxruntime does, without spending CPU on it.
      if (options.syncMs) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, options.syncMs);
      if (options.fail) throw options.fail;
      return rows(prepared);
    },
    async run(prepared) {
      seen.push({ how: 'async', prepared });
      if (options.fail) throw options.fail;
      return rows(prepared);
    },
  };
  return { model, seen };
}

async function flow(sandbox: Sandbox, model: FlowModel, plan: FlowPlan = PLAN, input: unknown = ARGS): Promise<CallResult> {
  return sandbox.flow(input, budget(), plan, model);
}

/** The flow's result: JSON text it passes on unparsed, or a copied value. */
function resultOf(out: CallResult): unknown {
  return out.text !== undefined ? JSON.parse(out.text) : out.value;
}

// Both ways into the isolate (see src/worker/sandbox-host/pacer.ts) must run the flow alike.
for (const mode of ENTRY_MODES) {
  describe(`Sandbox predict flow: prepare -> model -> postprocess in one call (${mode} entries)`, () => {
    const make = disposedAfter((script) => createTestSandbox(script, { pacer: new CallPacer({ mode }) }));
    const makeTight = disposedAfter((script) => createTestSandbox(script, { pacer: new CallPacer({ mode }), limits: TIGHT_LIMITS }));
    // For the two tests that need a run to end between the limit and the flow's watchdog (1.5 limits):
    // a window wide enough that a loaded machine's scheduling delays stay well inside it.
    const WIDE: SandboxLimits = { ...TEST_LIMITS, timeoutMs: 500 };
    const makeWide = disposedAfter((script) => createTestSandbox(script, { pacer: new CallPacer({ mode }), limits: WIDE }));
    const SYNC_HOOKS = `
      function prepare(args) { console.log('prepare', args.X.length); args.X = args.X.map((r) => ({ dense_1_input: r.dense_1_input.map((v) => v * 2) })); return args }
      function postprocess(outputs) { console.log('post', argmax(outputs[0])); return [argmax(outputs[0])] }`;

    it('runs synchronous hooks and the model in one entry, answering without a promise', async () => {
      const sandbox = await make(SYNC_HOOKS);
      const { model, seen } = recordingModel();
      const pending = sandbox.flow(ARGS, budget(), PLAN, model);
      // Entered synchronously, a synchronous flow completes inside the call; asynchronously, in one entry all the same.
      assert.equal(pending instanceof Promise, mode === 'async');
      const out = await pending;
      assert.deepEqual(resultOf(out), [{ dense_4: 2 }, { dense_4: 2 }]);
      assert.deepEqual(out.stdout, ['prepare 2', 'post 2', 'post 2']);
      assert.equal(seen.length, 1);
      assert.equal(seen[0]!.how, 'sync');
      assert.deepEqual(seen[0]!.prepared, { X: [{ dense_1_input: [10.2, 7, 2.8, 0.4] }, { dense_1_input: [13.4, 6, 10.4, 4.6] }] });
    });

    it('takes the args as JSON text too, and without hooks answers the model records', async () => {
      const sandbox = await make('function unrelated() {}');
      const { model } = recordingModel({ postprocess: false });
      const out = await flow(sandbox, model, { files: false, prepare: null, postprocess: false }, JSON.stringify(ARGS));
      assert.deepEqual(resultOf(out), [{ dense_4: [0.1, 0.2, 0.7] }, { dense_4: [0.1, 0.30000000000000004, 0.6] }]);
      assert.equal(typeof out.text, 'string', 'plain JSON with nothing printed stays text, for the front to pass on');
    });

    it('answers a split table when the request came as one', async () => {
      const sandbox = await make('function postprocess(outputs) { return { best: argmax(outputs[0]), top: outputs[0][2] } }');
      const { model } = recordingModel({ split: true });
      const out = await flow(sandbox, model, { files: false, prepare: null, postprocess: true });
      assert.deepEqual(resultOf(out), { columns: ['best', 'top'], data: [[2, 0.7], [2, 0.6]] });
    });

    it('zips an array from postprocess with the output names, and refuses one of the wrong length', async () => {
      const sandbox = await make('function postprocess(outputs) { return [1, 2] }');
      const err = await serveErrorOf(flow(sandbox, recordingModel().model, { files: false, prepare: null, postprocess: true }));
      assert.equal(err.code, 'SCRIPT_FAILED');
      assert.equal(err.message, 'postprocess returned an array of 2 items for 1 output(s) (dense_4); return one item per output, or an object');
    });

    it('passes on a result that is not plain JSON as a copied value', async () => {
      const sandbox = await make('function postprocess(outputs) { return { probs: new Float32Array(outputs[0]) } }');
      const out = await flow(sandbox, recordingModel().model, { files: false, prepare: null, postprocess: true });
      assert.equal(out.text, undefined);
      assert.ok((out.value as { probs: unknown }[])[0]!.probs instanceof Float32Array);
    });

    it('runs the model asynchronously when the host defers it', async () => {
      const sandbox = await make(SYNC_HOOKS);
      const { model, seen } = recordingModel({ sync: false });
      const out = await flow(sandbox, model);
      assert.deepEqual(resultOf(out), [{ dense_4: 2 }, { dense_4: 2 }]);
      assert.deepEqual(seen.map((s) => s.how), ['async']);
    });

    it('keeps the model step synchronous when async hooks settle within the entry (microtasks)', async () => {
      const sandbox = await make(`
        async function prepare(args) { await null; console.log('prepared'); return args }
        async function postprocess(outputs) { await null; return { best: argmax(outputs[0]) } }`);
      const { model, seen } = recordingModel();
      const out = await flow(sandbox, model);
      assert.deepEqual(resultOf(out), [{ best: 2 }, { best: 2 }]);
      assert.deepEqual(out.stdout, ['prepared']);
      assert.deepEqual(seen.map((s) => s.how), ['sync']);
    });

    it("runs the seed's PNG flow in its one entry: image() and the model step answered inside it (#15)", async () => {
      const sandbox = await make(`
        async function preprocess_files(args) {
          const image = await args.files.Input3.image({ grayscale: true, width: 28, height: 28, layout: 'nchw' });
          args.X = [{ dense_1_input: [image.shape.length, image.data.length, 0, 0] }];
          return args;
        }
        function postprocess(outputs) { return [argmax(outputs[0])] }`);
      const { model, seen } = recordingModel();
      const digit = new Uint8Array(readFileSync(fixturePath('mnist-png/ps_7.png')));
      const input = { files: { Input3: { name: 'ps_7.png', type: 'image/png', size: digit.byteLength, bytes: digit } } };
      const out = await flow(sandbox, model, { files: true, prepare: null, postprocess: true }, input);
      assert.deepEqual(resultOf(out), [{ dense_4: 2 }]);
      assert.deepEqual(seen.map((s) => [s.how, (s.prepared as { X: unknown }).X]), [['sync', [{ dense_1_input: [4, 784, 0, 0] }]]]);
    });

    it('decodes an upload ahead of the entry with the options its field was last decoded with, handed out once (#15)', async () => {
      let decodes = 0;
      const bridge: HostBridge = {
        ...irisBridge,
        decodeImageNow(bytes, options, file, sandbox) {
          decodes++;
          return irisBridge.decodeImageNow!(bytes, options, file, sandbox);
        },
      };
      const sandbox = await createTestSandbox(
        `async function preprocess_files(args) {
          const options = { grayscale: true, layout: 'nchw' };
          const first = await args.files.Input3.image(options);
          const kept = first.data[200];
          first.data[200] = -1;
          const again = await args.files.Input3.image(options);
          args.X = [{ dense_1_input: [first.data.length, kept, again.data[200], again.shape.length] }];
          return args;
        }`,
        { pacer: new CallPacer({ mode }), bridge },
      );
      try {
        const digit = new Uint8Array(readFileSync(fixturePath('mnist-png/ps_7.png')));
        const host = await irisBridge.decodeImage(digit, { grayscale: true, layout: 'nchw' }, { field: 'Input3', name: 'ps_7.png' }, { maxTensorBytes: 2 ** 24, memoryLimitMb: 32 });
        const input = { files: { Input3: { name: 'ps_7.png', type: 'image/png', size: digit.byteLength, bytes: digit } } };
        for (let i = 0; i < 3; i++) {
          const { model, seen } = recordingModel({ postprocess: false });
          await flow(sandbox, model, { files: true, prepare: null, postprocess: false }, input);
          assert.deepEqual((seen[0]!.prepared as { X: unknown }).X, [{ dense_1_input: [784, host.data[200], host.data[200], 4] }]);
        }
        // First request: both image() calls inside the entry. Then one decode ahead per request,
        // taken by the first image() (the second, after the script changed the first's data, decodes anew).
        assert.equal(decodes, 2 + 2 + 2);
      } finally {
        sandbox.dispose();
      }
    });

    it('runs the model step asynchronously once the flow waits on the host, never synchronously outside the entry', async () => {
      const sandbox = await make(`
        async function prepare(args) { const probe = await model.run({ dense_1_input: [[1, 2, 3, 4]] }); console.log('probe', argmax(probe.dense_4)); return args }`);
      const { model, seen } = recordingModel();
      const pending = sandbox.flow(ARGS, budget(), { files: false, prepare: 'prepare', postprocess: false }, model);
      assert.ok(pending instanceof Promise);
      const out = await pending;
      assert.equal((resultOf(out) as unknown[]).length, 2);
      assert.deepEqual(out.stdout, ['probe 1']);
      assert.deepEqual(seen.map((s) => s.how), ['async']);
    });

    it('keeps record order when some postprocess answers are promises', async () => {
      const sandbox = await make(`
        let n = 0;
        function postprocess(outputs) { n++; return n % 2 ? Promise.resolve(n) : n }`);
      const { model } = recordingModel();
      const input = { X: [1, 2, 3, 4].map((v) => ({ dense_1_input: [v, v, v, v] })) };
      const out = await flow(sandbox, model, { files: false, prepare: null, postprocess: true }, input);
      assert.deepEqual(resultOf(out), [1, 2, 3, 4].map((n) => ({ dense_4: n })));
    });

    it('runs preprocess_files before prepare when the plan says files came', async () => {
      const sandbox = await make(`
        function preprocess_files(args) { console.log('files:', Object.keys(args.files).join()); return { X: [{ dense_1_input: [1, 2, 3, 4] }] } }
        function prepare(args) { console.log('prepare sees', args.X.length); return args }`);
      const { model, seen } = recordingModel();
      const upload = { name: 'a.txt', type: 'text/plain', size: 2, bytes: new Uint8Array([104, 105]) };
      const out = await flow(sandbox, model, { files: true, prepare: 'prepare', postprocess: false }, { files: { doc: upload } });
      assert.deepEqual(out.stdout, ['files: doc', 'prepare sees 1']);
      assert.deepEqual(seen[0]!.prepared, { X: [{ dense_1_input: [1, 2, 3, 4] }] });
    });

    it('fails with SCRIPT_FAILED, naming the function, when prepare does not hand on an args object', async () => {
      const sandbox = await make('function prepare(args) { console.log("oops"); return [args.X] }');
      const { model, seen } = recordingModel();
      const err = await serveErrorOf(flow(sandbox, model, { files: false, prepare: 'prepare', postprocess: false }));
      assert.equal(err.code, 'SCRIPT_FAILED');
      assert.equal(err.message, 'prepare(args) must return the args object (with X), got an array');
      assert.deepEqual(outputOf(err), { stdout: ['oops'], stderr: [] }, 'no stack for a failure of the flow itself');
      assert.equal(seen.length, 0);
    });

    it('fails a cyclic postprocess result with SCRIPT_FAILED naming the path, synchronously or not (#14)', async () => {
      const sandbox = await make(`
        function postprocess(outputs) { const o = { label: argmax(outputs[0]) }; o.self = o; return o }
        async function prepare(args) { return args }`);
      const err = await serveErrorOf(flow(sandbox, recordingModel().model, { files: false, prepare: null, postprocess: true }));
      assert.equal(err.code, 'SCRIPT_FAILED');
      assert.match(err.message, /^postprocess\(\) returned a cyclic value at result\[0\]\.self/);
      const late = await serveErrorOf(flow(sandbox, recordingModel({ sync: false }).model, { files: false, prepare: 'prepare', postprocess: true }));
      assert.equal(late.code, 'SCRIPT_FAILED');
      assert.match(late.message, /^postprocess\(\) returned a cyclic value at result\[0\]\.self/);
    });

    it('answers real JSON text when the script sets Object.prototype.then before an asynchronous flow (#14)', async () => {
      const sandbox = await make(`
        Object.defineProperty(Object.prototype, 'then', { configurable: true, get() { return 'kind' in this ? (resolve) => resolve('not json{') : undefined } });
        async function prepare(args) { console.log('async'); return args }
        function postprocess(outputs) { return { label: argmax(outputs[0]) } }`);
      const out = await flow(sandbox, recordingModel({ sync: false }).model);
      if (out.text !== undefined) JSON.parse(out.text);
      assert.deepEqual(resultOf(out), [{ label: 2 }, { label: 2 }]);
      assert.deepEqual(out.stdout, ['async']);
    });

    it("fails with the model step's own code, message and details, synchronously or not (#14)", async () => {
      const sandbox = await make(SYNC_HOOKS);
      const shape = { input: 'dense_1_input', expected: [-1, 4], got: [2, 3] };
      for (const sync of [true, false]) {
        const { model } = recordingModel({ sync, fail: new ServeError('INPUT_SHAPE_MISMATCH', "input 'dense_1_input' expects [-1,4], got [2,3]", shape) });
        const err = await serveErrorOf(flow(sandbox, model));
        assert.equal(err.code, 'INPUT_SHAPE_MISMATCH');
        assert.equal(err.message, "input 'dense_1_input' expects [-1,4], got [2,3]");
        assert.deepEqual(err.details, { ...shape, stdout: ['prepare 2'], stderr: [] });
      }
    });

    it('reports a script error with its stack, naming the function that threw', async () => {
      const sandbox = await make('function postprocess(outputs) {\n  throw new RangeError("bad output")\n}');
      const { model } = recordingModel();
      const err = await serveErrorOf(flow(sandbox, model, { files: false, prepare: null, postprocess: true }));
      assert.equal(err.code, 'SCRIPT_FAILED');
      assert.equal(err.message, 'bad output');
      assert.match(outputOf(err).stderr.join('\n'), /RangeError: bad output\n\s+at postprocess \(script\.js:2:9\)/);
    });

    it('holds a synchronous model run off the script clock', async () => {
      const sandbox = await makeWide(SYNC_HOOKS);
      // The model takes more than the limit; prepare and postprocess take almost nothing.
      const { model } = recordingModel({ syncMs: WIDE.timeoutMs * 1.1 });
      const out = await flow(sandbox, model);
      assert.deepEqual(resultOf(out), [{ dense_4: 2 }, { dense_4: 2 }]);
      assert.equal(sandbox.disposed, false);
    });

    it('answers SCRIPT_TIMEOUT when the script itself ran past the limit, though the watchdog allows more', async () => {
      const sandbox = await makeWide(`function prepare(args) { const until = Date.now() + ${WIDE.timeoutMs * 1.1}; while (Date.now() < until) {} return args }`);
      const { model } = recordingModel();
      const err = await serveErrorOf(flow(sandbox, model, { files: false, prepare: 'prepare', postprocess: false }));
      assert.equal(err.code, 'SCRIPT_TIMEOUT');
      assert.equal(err.message, `prepare() ran past its ${WIDE.timeoutMs} ms time limit`);
      assert.equal(sandbox.disposed, false, 'the script finished: its isolate is kept');
    });

    it('stops an endless loop in the flow with SCRIPT_TIMEOUT, after the model ran once', async () => {
      const sandbox = await makeTight('function prepare(args) { return args }\nfunction postprocess(o) { for (;;) {} }');
      const { model, seen } = recordingModel();
      const err = await serveErrorOf(flow(sandbox, model));
      assert.equal(err.code, 'SCRIPT_TIMEOUT');
      assert.equal(err.message, `prepare() → postprocess() ran past its ${TIGHT_LIMITS.timeoutMs} ms time limit`);
      assert.deepEqual(seen.map((s) => s.how), ['sync']);
      assert.equal(sandbox.disposed, true);
    });

    it('leaves the sandbox ready for the next call after each kind of ending', async () => {
      const sandbox = await make(SYNC_HOOKS + '\nfunction ping() { return "pong" }');
      await serveErrorOf(flow(sandbox, recordingModel({ fail: new ServeError('REQUEST_INVALID', 'no') }).model));
      await flow(sandbox, recordingModel({ sync: false }).model);
      await flow(sandbox, recordingModel().model);
      assert.equal((await sandbox.call('ping', [], budget())).value, 'pong');
    });
  });
}
