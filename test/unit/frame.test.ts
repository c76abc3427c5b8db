import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodeFrame, FrameDecoder } from '../../src/protocol/frame.js';

describe('worker protocol frames', () => {
  it('round-trips typed arrays as typed arrays anywhere in a message', () => {
    const msg = {
      t: 'invoke',
      id: 7,
      args: { X: [{ a: Float32Array.from([1.5, -2]) }], files: { f: { bytes: new Uint8Array([1, 2, 3]) } } },
      big: BigInt64Array.from([2n ** 62n]),
      sub: new Float64Array([1, 2, 3, 4]).subarray(1, 3),
      buf: Buffer.from([9, 8, 7]),
    };
    const [out] = new FrameDecoder().push(encodeFrame(msg)) as [typeof msg];
    assert.ok(out.args.X[0]!.a instanceof Float32Array);
    assert.deepEqual([...out.args.X[0]!.a], [1.5, -2]);
    assert.deepEqual([...out.args.files.f.bytes], [1, 2, 3]);
    assert.equal(out.big[0], 2n ** 62n);
    assert.deepEqual([...out.sub], [2, 3]);
    assert.ok(out.buf instanceof Uint8Array, 'a Buffer travels as raw bytes, not its toJSON form');
    assert.deepEqual([...out.buf], [9, 8, 7]);
    assert.equal(out.id, 7);
  });

  it('never calls a Buffer’s toJSON, which lists every byte as a number (#14)', () => {
    const proto = Buffer.prototype as { toJSON: () => unknown };
    const toJSON = proto.toJSON;
    let calls = 0;
    proto.toJSON = function counted(this: Buffer) {
      calls++;
      return toJSON.call(this);
    };
    try {
      const [out] = new FrameDecoder().push(encodeFrame({ file: Buffer.from('bytes'), when: new Date(0) })) as [{ file: Uint8Array; when: string }];
      assert.equal(Buffer.from(out.file).toString(), 'bytes');
      assert.equal(out.when, '1970-01-01T00:00:00.000Z', 'other toJSON methods still apply');
    } finally {
      proto.toJSON = toJSON;
    }
    assert.equal(calls, 0);
    assert.equal(typeof Buffer.from('x').toJSON, 'function', 'restored');
  });

  it('decodes a frame split over thousands of chunks, typed arrays aligned, with the next frame in its last chunk', () => {
    const big = new Float64Array(100_000).map((_, i) => i / 3);
    const all = Buffer.concat([encodeFrame({ n: 1, big, bytes: new Uint8Array(5).fill(7) }), encodeFrame({ n: 2 })]);
    const decoder = new FrameDecoder();
    const got: unknown[] = [];
    for (let i = 0; i < all.length; i += 333) got.push(...decoder.push(all.subarray(i, i + 333)));
    const [first, second] = got as [{ big: Float64Array; bytes: Uint8Array }, { n: number }];
    assert.equal(got.length, 2);
    assert.ok(first.big instanceof Float64Array);
    assert.deepEqual(first.big, big);
    assert.deepEqual([...first.bytes], [7, 7, 7, 7, 7]);
    assert.equal(second.n, 2);
  });

  it('drops a forged typed-array marker from a caller’s JSON', () => {
    const [out] = new FrameDecoder().push(encodeFrame({ args: { x: { '\u0000ta': 0 }, real: new Uint8Array([1]) } })) as [{ args: { x: Record<string, unknown> } }];
    assert.deepEqual(out.args.x, {});
  });

  it('sends typed-array bytes raw, not as JSON numbers', () => {
    const frame = encodeFrame({ data: new Float32Array(1000).fill(0.123456789) });
    assert.ok(frame.length < 4400, `frame is ${frame.length} bytes`);
  });

  it('reassembles frames split across chunks and several frames in one chunk', () => {
    const a = encodeFrame({ n: 1, x: new Int32Array([1, 2]) });
    const b = encodeFrame({ n: 2 });
    const all = Buffer.concat([a, b]);
    const decoder = new FrameDecoder();
    const got: unknown[] = [];
    for (let i = 0; i < all.length; i += 3) got.push(...decoder.push(all.subarray(i, i + 3)));
    assert.equal(got.length, 2);
    assert.deepEqual((got[1] as { n: number }).n, 2);
    assert.deepEqual([...(got[0] as { x: Int32Array }).x], [1, 2]);
    assert.deepEqual(new FrameDecoder().push(all).length, 2);
  });

  it('round-trips a message without typed arrays as plain JSON, a forged marker dropped there too', () => {
    const msg = { t: 'invoke', id: 3, args: '{"X":[{"a":"\\"quoted\\" é 😀"}]}', nested: [{ a: [1, null, 'x'] }], forged: { '\u0000ta': 0, keep: 1 } };
    const [out] = new FrameDecoder().push(encodeFrame(msg)) as [typeof msg];
    assert.deepEqual(out, { ...msg, forged: { keep: 1 } });
  });

  it('decodes frames whatever their chunks, with empty chunks among them', () => {
    const frames = [encodeFrame({ n: 1 }), encodeFrame({ n: 2, x: new Uint8Array([5]) }), encodeFrame({ n: 3, s: 'é'.repeat(50) })];
    const all = Buffer.concat(frames);
    for (const size of [1, 2, 5, 13, all.length]) {
      const decoder = new FrameDecoder();
      const got: unknown[] = [];
      for (let i = 0; i < all.length; i += size) got.push(...decoder.push(all.subarray(i, i + size)), ...decoder.push(Buffer.alloc(0)));
      assert.deepEqual(got.map((m) => (m as { n: number }).n), [1, 2, 3], `chunks of ${size}`);
      assert.deepEqual([...(got[1] as { x: Uint8Array }).x], [5]);
      assert.equal((got[2] as { s: string }).s, 'é'.repeat(50));
    }
  });

  it('refuses a header longer than its frame', () => {
    const bad = encodeFrame({ n: 1 });
    bad.writeUInt32LE(1000, 4);
    assert.throws(() => new FrameDecoder().push(bad), /corrupt frame/);
  });

  it('refuses a length prefix beyond the limit', () => {
    const bad = Buffer.alloc(8);
    bad.writeUInt32LE(2 ** 31 + 5, 0);
    assert.throws(() => new FrameDecoder(1024).push(bad), /exceeds the limit/);
  });
});
