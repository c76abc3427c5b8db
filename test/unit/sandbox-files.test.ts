import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import sharp from 'sharp';
import { decodeToTensor } from '../../src/worker/images/index.js';
import { CallPacer, createLogBudget, type HostBridge, type Sandbox, type SandboxLimits } from '../../src/worker/sandbox-host/index.js';
import { fixturePath } from '../helpers/fixtures.js';
import { createTestSandbox, ENTRY_MODES, irisBridge, outputOf, serveErrorOf, TEST_LIMITS } from '../helpers/sandbox-fixtures.js';

const budget = (limits: SandboxLimits = TEST_LIMITS) => createLogBudget(limits);
const fixture = (relative: string) => new Uint8Array(readFileSync(fixturePath(relative)));
/** An upload as the worker protocol hands it to the sandbox host. */
const upload = (name: string, bytes: Uint8Array, type = 'image/png') => ({ name, type, size: bytes.byteLength, bytes });
/** The 2x2 test images' RGB pixels, row-major. */
const PIXELS = [238, 101, 0, 50, 50, 50, 100, 50, 0, 200, 100, 50];
const DIGIT_7 = fixture('mnist-png/ps_7.png');

describe('Sandbox files: args.files[field] as file objects', () => {
  const sandboxes: Sandbox[] = [];
  after(() => sandboxes.forEach((s) => s.dispose()));
  const make = async (script: string, overrides: Parameters<typeof createTestSandbox>[1] = {}) => {
    const sandbox = await createTestSandbox(script, overrides);
    sandboxes.push(sandbox);
    return sandbox;
  };

  it('decodes an MNIST digit to a Float32Array(784) of shape [1,1,28,28], equal to the host decode', async () => {
    const sandbox = await make(`async function preprocess_files(args) {
      const img = await args.files.digit.image({ grayscale: true, width: 28, height: 28, layout: 'nchw' });
      return { isFloat32: img.data instanceof Float32Array, length: img.data.length, shape: img.shape, data: img.data };
    }`);
    const { value } = await sandbox.call('preprocess_files', [{ files: { digit: upload('ps_7.png', DIGIT_7) } }], budget());
    const out = value as { isFloat32: boolean; length: number; shape: number[]; data: Float32Array };
    assert.deepEqual([out.isFloat32, out.length, out.shape], [true, 784, [1, 1, 28, 28]]);
    assert.ok(out.data instanceof Float32Array, 'it leaves the sandbox as a Float32Array too');
    const host = await decodeToTensor(DIGIT_7, { grayscale: true, width: 28, height: 28, layout: 'nchw' }, { field: 'digit', name: 'ps_7.png' }, { maxPixels: 1e6 });
    assert.deepEqual(out.data, host.data);
  });

  it('decodes a 2x2 PNG to its known pixels in hwc, chw and bgr, as float32 or uint8', async () => {
    const sandbox = await make(`async function f(args) {
      const png = args.files.png;
      const out = {};
      for (const [key, options] of Object.entries(args.cases)) {
        const { data, shape } = await png.image(options);
        out[key] = { type: data.constructor.name, shape, values: Array.from(data) };
      }
      return out;
    }`);
    const cases = { hwc: {}, chw: { layout: 'chw' }, bgr: { channels: 'bgr' }, nhwcU8: { layout: 'nhwc', dtype: 'uint8' } };
    const args = { cases, files: { png: upload('image_png_test.png', fixture('tiny-images/image_png_test.png')) } };
    const { value } = await sandbox.call('f', [args], budget());
    assert.deepEqual(value, {
      hwc: { type: 'Float32Array', shape: [2, 2, 3], values: PIXELS },
      chw: { type: 'Float32Array', shape: [3, 2, 2], values: [238, 50, 100, 200, 101, 50, 50, 100, 0, 50, 0, 50] },
      bgr: { type: 'Float32Array', shape: [2, 2, 3], values: [0, 101, 238, 50, 50, 50, 0, 50, 100, 50, 100, 200] },
      nhwcU8: { type: 'Uint8Array', shape: [1, 2, 2, 3], values: PIXELS },
    });
  });

  it('decodes BMP (24- and 32-bit) through the jimp fallback', async () => {
    const sandbox = await make('async function f(args) { return [Array.from((await args.files.a.image()).data), Array.from((await args.files.b.image()).data)] }');
    const files = {
      a: upload('image_bmp_test.bmp', fixture('tiny-images/image_bmp_test.bmp'), 'image/bmp'),
      b: upload('image_bmp_4_channel_test.bmp', fixture('tiny-images/image_bmp_4_channel_test.bmp'), 'image/bmp'),
    };
    assert.deepEqual((await sandbox.call('f', [{ files }], budget())).value, [PIXELS, PIXELS]);
  });

  it('applies scale, then mean and std per channel', async () => {
    const sandbox = await make("async function f(args) { return (await args.files.png.image({ scale: 1 / 255, mean: [0.5, 0.25, 0], std: [0.5, 0.25, 2] })).data }");
    const { value } = await sandbox.call('f', [{ files: { png: upload('p.png', fixture('tiny-images/image_png_test.png')) } }], budget());
    const data = value as Float32Array;
    const mean = [0.5, 0.25, 0];
    const std = [0.5, 0.25, 2];
    PIXELS.forEach((v, i) => {
      const want = (v / 255 - mean[i % 3]!) / std[i % 3]!;
      assert.ok(Math.abs(data[i]! - want) < 1e-6, `value ${i}: ${data[i]} vs ${want}`);
    });
  });

  const corrupt = () => upload('broken.png', DIGIT_7.subarray(0, 60));

  it('lets the script catch a corrupt upload as an Error with code INPUT_IMAGE_INVALID naming the field', async () => {
    const sandbox = await make(`async function preprocess_files(args) {
      try { await args.files.photo.image({ grayscale: true }) }
      catch (e) { return { isError: e instanceof Error, code: e.code, message: e.message } }
    }`);
    const { value } = await sandbox.call('preprocess_files', [{ files: { photo: corrupt() } }], budget());
    const caught = value as { isError: boolean; code: string; message: string };
    assert.deepEqual([caught.isError, caught.code], [true, 'INPUT_IMAGE_INVALID']);
    assert.match(caught.message, /^file 'photo' \(broken\.png\) /);
  });

  it('fails the call with 422 INPUT_IMAGE_INVALID when the script does not catch it', async () => {
    const sandbox = await make('async function preprocess_files(args) { console.log("decoding"); await args.files.photo.image(); return args }');
    const err = await serveErrorOf(sandbox.call('preprocess_files', [{ files: { photo: corrupt() } }], budget()));
    assert.deepEqual([err.code, err.status], ['INPUT_IMAGE_INVALID', 422]);
    assert.match(err.message, /file 'photo' \(broken\.png\)/);
    assert.deepEqual(outputOf(err).stdout, ['decoding']);
    assert.equal(sandbox.disposed, false);
  });

  it('rejects a bad option with SCRIPT_FAILED naming it, and options that are not data with a TypeError', async () => {
    const sandbox = await make(`async function f(args) {
      const out = [];
      for (const options of [{ widht: 3 }, { layout: 'whc' }, { dtype: 'uint8', scale: 2 }, 7, { width: () => 3 }]) {
        try { await args.files.png.image(options); out.push('decoded') } catch (e) { out.push(e.name + ' ' + (e.code ?? '-') + ' ' + e.message) }
      }
      return out;
    }
    async function g(args) { return args.files.png.image({ fit: 'stretch' }) }`);
    const args = { files: { png: upload('p.png', fixture('tiny-images/image_png_test.png')) } };
    const out = (await sandbox.call('f', [args], budget())).value as string[];
    assert.match(out[0]!, /^Error SCRIPT_FAILED image\(options\): .*widht/);
    assert.match(out[1]!, /^Error SCRIPT_FAILED image\(options\): layout/);
    assert.match(out[2]!, /^Error SCRIPT_FAILED .*uint8/);
    assert.match(out[3]!, /^Error SCRIPT_FAILED image\(options\): options/);
    assert.equal(out[4], 'TypeError - image(options): options must be plain data; found a function at options.width');
    const err = await serveErrorOf(sandbox.call('g', [args], budget()));
    assert.equal(err.code, 'SCRIPT_FAILED');
    assert.match(err.message, /image\(options\): fit/);
  });

  it('gives name, type, size and field read-only, bytes() as a copy, text() as UTF-8', async () => {
    const text = 'héllo ✓ 𝄞 — done\n';
    const bytes = new TextEncoder().encode(text);
    const sandbox = await make(`function f(args) {
      'use strict';
      const file = args.files.notes;
      const copy = file.bytes();
      copy[0] = 0;
      let assigned = 'no error';
      try { file.name = 'other' } catch (e) { assigned = e.name }
      return {
        name: file.name, type: file.type, size: file.size, field: file.field, keys: Object.keys(file),
        frozen: Object.isFrozen(file), assigned, text: file.text(),
        firstAfterChange: file.bytes()[0], copyIsOwn: copy.buffer.byteLength === file.size, same: file.bytes() === file.bytes(),
      };
    }`);
    const { value } = await sandbox.call('f', [{ files: { notes: upload('notes.txt', bytes, 'text/plain') } }], budget());
    assert.deepEqual(value, {
      name: 'notes.txt', type: 'text/plain', size: bytes.byteLength, field: 'notes', keys: ['name', 'type', 'size', 'field'],
      frozen: true, assigned: 'TypeError', text,
      firstAfterChange: bytes[0], copyIsOwn: true, same: false,
    });
  });

  it('decodes UTF-8 exactly as TextDecoder does: BOM, invalid, truncated, overlong and surrogate bytes', async () => {
    const cases: number[][] = [
      [0xef, 0xbb, 0xbf, 0x41], [0xef, 0xbb, 0xbf, 0xef, 0xbb, 0xbf], [0x41, 0xef, 0xbb, 0xbf], [0xc0, 0x80], [0xc2], [0xe2, 0x82],
      [0xe2, 0x82, 0x41], [0xed, 0xa0, 0x80], [0xf0, 0x80, 0x80, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xf0, 0x9f, 0x98], [0xff, 0xfe],
      [0x80, 0xbf, 0x41], [0xf0, 0x9f, 0x98, 0x80, 0xe0, 0xa0, 0x80], [], [0xe0, 0x9f, 0x80], [0xf5, 0x80],
    ];
    let seed = 42;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const pool = [0x00, 0x41, 0x7f, 0x80, 0xbf, 0xc0, 0xc2, 0xdf, 0xe0, 0xe1, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff, 0xa0, 0x9f, 0x90, 0x8f];
    for (let i = 0; i < 400; i++) cases.push(Array.from({ length: Math.floor(random() * 12) }, () => pool[Math.floor(random() * pool.length)]!));
    const long = new Uint8Array(100_000).map((_, i) => [0x61, 0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x98, 0x80][i % 8]!);
    const files: Record<string, ReturnType<typeof upload>> = { long: upload('long.txt', long, 'text/plain') };
    cases.forEach((c, i) => (files[`c${i}`] = upload(`c${i}.txt`, new Uint8Array(c), 'text/plain')));
    const sandbox = await make('function f(args) { const out = {}; for (const [k, file] of Object.entries(args.files)) out[k] = file.text(); return out }');
    const texts = (await sandbox.call('f', [{ files }], budget())).value as Record<string, string>;
    const decoder = new TextDecoder();
    for (const [field, file] of Object.entries(files)) assert.equal(texts[field], decoder.decode(file.bytes), `${field}: [${[...file.bytes.subarray(0, 12)].map((b) => b.toString(16))}]`);
  });

  it('keeps the bytes of a view into a larger buffer only (the worker frame holds the whole request)', async () => {
    const frame = new Uint8Array(64 * 1024).fill(0x7b);
    frame.set(DIGIT_7, 1000);
    const view = frame.subarray(1000, 1000 + DIGIT_7.byteLength);
    const sandbox = await make(`async function f(args) {
      const file = args.files.digit;
      return { ownBuffer: file.bytes().buffer.byteLength, size: file.size, shape: (await file.image({ grayscale: true })).shape };
    }`);
    const { value } = await sandbox.call('f', [{ files: { digit: upload('ps_7.png', view) } }], budget());
    assert.deepEqual(value, { ownBuffer: DIGIT_7.byteLength, size: DIGIT_7.byteLength, shape: [28, 28, 1] });
  });

  it('copies files out as plain { name, type, size } when a function returns them, in any call', async () => {
    const sandbox = await make(`function predict(args) {
      console.log(args.files.digit);
      return { args, list: [args.files.digit], json: JSON.parse(JSON.stringify(args.files)) };
    }
    function prepare(args) { return { kind: typeof args.files.digit.image, files: args.files } }`);
    const { value, stdout } = await sandbox.call('predict', [{ X: [[1]], files: { digit: upload('ps_7.png', DIGIT_7) } }], budget());
    const summary = { name: 'ps_7.png', type: 'image/png', size: DIGIT_7.byteLength };
    const out = value as { args: { X: unknown; files: Record<string, unknown> }; list: unknown[]; json: unknown };
    assert.deepEqual(out.args, { X: [[1]], files: { digit: summary } });
    assert.deepEqual(out.list, [summary]);
    assert.deepEqual(out.json, { digit: summary });
    assert.deepEqual(stdout, [`InferboxFile { name: 'ps_7.png', type: 'image/png', size: ${DIGIT_7.byteLength}, field: 'digit' }`]);
    // What preprocess_files returned is what prepare gets: the summary stays a summary.
    const next = await sandbox.call('prepare', [out.args], budget());
    assert.deepEqual(next.value, { kind: 'undefined', files: { digit: summary } });
  });

  it('cannot be forged or read through another object', async () => {
    const sandbox = await make(`async function f(args) {
      const file = args.files.digit;
      const out = [];
      const attempts = [
        () => Object.create(Object.getPrototypeOf(file)).image(),
        () => file.image.call({ bytes: new Uint8Array([1]) }),
        () => file.bytes.call({}),
        () => new file.constructor(),
      ];
      for (const attempt of attempts) {
        try { await attempt(); out.push('ran') } catch (e) { out.push(e.name) }
      }
      out.push(file instanceof file.constructor, Object.isFrozen(Object.getPrototypeOf(file)));
      return out;
    }`);
    const { value } = await sandbox.call('f', [{ files: { digit: upload('ps_7.png', DIGIT_7) } }], budget());
    assert.deepEqual(value, ['TypeError', 'TypeError', 'TypeError', 'TypeError', true, true]);
  });

  it('refuses image() once the call that started it is over', async () => {
    const sandbox = await make(`let kept; let outcome = 'pending';
      function start(args) { kept = args.files.digit; return 'kept' }
      function later() {
        Promise.resolve().then(() => kept.image()).then(() => kept.image()).then(() => { outcome = 'ran' }, (e) => { outcome = e.code + ': ' + e.message });
        return 'started';
      }
      async function now() { return (await kept.image({ grayscale: true })).shape }
      function probe() { return outcome }`);
    await sandbox.call('start', [{ files: { digit: upload('ps_7.png', DIGIT_7) } }], budget());
    assert.deepEqual((await sandbox.call('now', [], budget())).value, [28, 28, 1], 'a kept file decodes during a later call');
    await sandbox.call('later', [], budget());
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal((await sandbox.call('probe', [], budget())).value, 'SCRIPT_FAILED: image() can only be used while a script function is running');
  });

  it('refuses, catchably and before decoding, a tensor over half the sandbox memory limit without replacing the sandbox', async () => {
    const sandbox = await make(`async function f(args) {
      try { await args.files.digit.image({ grayscale: true, width: 4096, height: 4096 }) } catch (e) { return [e.code, e.message] }
    }`);
    const { value } = await sandbox.call('f', [{ files: { digit: upload('ps_7.png', DIGIT_7) } }], budget());
    const [code, message] = value as [string, string];
    assert.equal(code, 'INPUT_IMAGE_TOO_LARGE');
    assert.equal(message, `file 'digit' (ps_7.png) is 28x28; resized to 4096x4096 it would be a float32 tensor of 64.0 MB (4096x4096x1); a sandbox with a 32 MB memory limit takes images of up to 16.0 MB: ask image() for a smaller width/height or dtype "uint8"`);
    assert.equal(sandbox.disposed, false);
  });

  it('runs at most two decodes at once on the host, however many the script starts', async () => {
    let inFlight = 0;
    let peak = 0;
    const counting: HostBridge = {
      ...irisBridge,
      decodeImageNow: undefined, // every decode on the asynchronous path, where they overlap
      async decodeImage(bytes, options, file, sandbox) {
        peak = Math.max(peak, ++inFlight);
        try {
          // a small PNG decodes without sharp in microseconds: held a moment so the calls overlap
          await new Promise((resolve) => setTimeout(resolve, 2));
          return await irisBridge.decodeImage(bytes, options, file, sandbox);
        } finally {
          inFlight--;
        }
      },
    };
    const sandbox = await make(`async function f(args) {
      const all = await Promise.all(Array.from({ length: 40 }, (_, i) => args.files['d' + (i % 10)].image({ grayscale: true, layout: 'nchw' })));
      return all.map((t) => argmax(t.data) >= 0 && t.shape.join('x'));
    }`, { bridge: counting });
    const files = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`d${i}`, upload(`ps_${i}.png`, fixture(`mnist-png/ps_${i}.png`))]));
    const { value } = await sandbox.call('f', [{ files }], budget());
    assert.deepEqual(value, Array.from({ length: 40 }, () => '1x1x28x28'));
    assert.equal(peak, 2);
  });

  for (const mode of ENTRY_MODES) {
    it(`answers image() of a small PNG inside the call's entry and decodes others asynchronously, the same tensors (${mode} entries, #15)`, async () => {
      const calls = { now: 0, answeredNow: 0, later: 0 };
      const counting: HostBridge = {
        ...irisBridge,
        decodeImageNow(bytes, options, file, sandbox) {
          calls.now++;
          const tensor = irisBridge.decodeImageNow!(bytes, options, file, sandbox);
          if (tensor !== null) calls.answeredNow++;
          return tensor;
        },
        decodeImage(bytes, options, file, sandbox) {
          calls.later++;
          return irisBridge.decodeImage(bytes, options, file, sandbox);
        },
      };
      const sandbox = await make(`async function f(args) {
        let bad;
        try { await args.files.digit.image({ width: -1 }) } catch (e) { bad = [e.code, e.message] }
        const small = await args.files.digit.image({ grayscale: true, width: 28, height: 28, layout: 'nchw' });
        const resized = await args.files.digit.image({ grayscale: true, width: 14, height: 14 });
        return { small: small.data, resized: resized.data, shapes: [small.shape, resized.shape], bad };
      }`, { bridge: counting, pacer: new CallPacer({ mode }) });
      const { value } = await sandbox.call('f', [{ files: { digit: upload('ps_7.png', DIGIT_7) } }], budget());
      const out = value as { small: Float32Array; resized: Float32Array; shapes: number[][]; bad: [string, string] };
      const label = { field: 'digit', name: 'ps_7.png' };
      const host = async (options: Record<string, unknown>) => (await decodeToTensor(DIGIT_7, options, label, { maxPixels: 1e6 })).data;
      assert.deepEqual(out.small, await host({ grayscale: true, width: 28, height: 28, layout: 'nchw' }));
      assert.deepEqual(out.resized, await host({ grayscale: true, width: 14, height: 14 }));
      assert.deepEqual(out.shapes, [[1, 1, 28, 28], [14, 14, 1]]);
      const optionError = await serveErrorOf(decodeToTensor(DIGIT_7, { width: -1 }, label, { maxPixels: 1e6 }));
      assert.deepEqual(out.bad, [optionError.code, optionError.message], 'a bad option fails inside the entry as it does on the host');
      // The bad option and the 28x28 PNG without a resize inside the entry; the resize (sharp) on the
      // asynchronous path. (After an asynchronous answer the call goes on outside its entry, where
      // every decode is asynchronous.)
      assert.deepEqual(calls, { now: 3, answeredNow: 1, later: 1 });
    });
  }

  it('takes the asynchronous path for image() started after the function answered, which the host then refuses (#15)', async () => {
    const calls = { now: 0 };
    const counting: HostBridge = {
      ...irisBridge,
      decodeImageNow(bytes, options, file, sandbox) {
        calls.now++;
        return irisBridge.decodeImageNow!(bytes, options, file, sandbox);
      },
    };
    const sandbox = await make(`let outcome = 'pending';
      function later(args) {
        const digit = args.files.digit;
        Promise.resolve().then(() => digit.image()).then(() => { outcome = 'ran' }, (e) => { outcome = e.code });
        return 'started';
      }
      function probe() { return outcome }`, { bridge: counting });
    await sandbox.call('later', [{ files: { digit: upload('ps_7.png', DIGIT_7) } }], budget());
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal((await sandbox.call('probe', [], budget())).value, 'SCRIPT_FAILED');
    assert.equal(calls.now, 0);
  });

  it('does not count decode time against the limit, which still stops a busy loop', async () => {
    const limits: SandboxLimits = { ...TEST_LIMITS, timeoutMs: 250, memoryLimitMb: 64 };
    const side = 1000;
    const raw = Buffer.alloc(side * side);
    for (let i = 0; i < raw.length; i++) raw[i] = (i * 7 + Math.floor(i / side) * 3) & 255;
    const big = new Uint8Array(await sharp(raw, { raw: { width: side, height: side, channels: 1 } }).png().toBuffer());
    // Each decode is a real one that answers no sooner than 0.8 limits after it was asked (a timer
    // alongside): the two in turn outlast the limit by construction, on any machine. Were that time
    // counted against the script's clock, the call's deadline would expire before the second answer.
    const slow: HostBridge = {
      ...irisBridge,
      async decodeImage(bytes, options, file, sandbox) {
        const [tensor] = await Promise.all([irisBridge.decodeImage(bytes, options, file, sandbox), new Promise((resolve) => setTimeout(resolve, 0.8 * limits.timeoutMs))]);
        return tensor;
      },
    };
    const sandbox = await make(`async function preprocess_files(args) {
      const shapes = [];
      for (let i = 0; i < 2; i++) shapes.push((await args.files.big.image({ width: 600, height: 600, dtype: 'uint8' })).shape);
      return shapes;
    }
    function busy() { for (;;) {} }`, { limits, bridge: slow });
    const { value } = await sandbox.call('preprocess_files', [{ files: { big: upload('big.png', big) } }], budget(limits));
    assert.deepEqual(value, Array.from({ length: 2 }, () => [600, 600, 3]));
    assert.equal(sandbox.disposed, false);
    const err = await serveErrorOf(sandbox.call('busy', [], budget(limits)));
    assert.equal(err.code, 'SCRIPT_TIMEOUT', 'the same limit stops the script');
    assert.equal(err.message, `busy() ran past its ${limits.timeoutMs} ms time limit`);
  });
});
