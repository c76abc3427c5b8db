import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ServeError } from '../../src/errors.js';
import { INLINE_RESULT_CHARS, resultJson } from '../../src/worker/scripts/result-json.js';

/** How a result was turned into JSON before #14: toWire, then JSON.stringify (in the front). */
function before(value: unknown): string {
  const toWire = (v: unknown): unknown => {
    if (v === undefined) return null;
    if (typeof v === 'bigint') return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(v) : v.toString();
    if (v === null || typeof v !== 'object') return v;
    if (ArrayBuffer.isView(v)) return Array.from(v as unknown as ArrayLike<unknown>, toWire);
    if (Array.isArray(v)) return v.map(toWire);
    if (v instanceof Map) return Object.fromEntries([...v].map(([k, x]) => [String(k), toWire(x)]));
    if (v instanceof Set) return [...v].map(toWire);
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (x !== undefined) out[k] = toWire(x);
    return out;
  };
  return JSON.stringify(toWire(value));
}

const text = (out: string | Uint8Array) => (typeof out === 'string' ? out : Buffer.from(out).toString('utf8'));
const MB = 2 ** 20;

describe('a script result as JSON (the worker side of #14)', () => {
  it('writes what the server wrote before, for every kind of value a script returns', () => {
    const values: unknown[] = [
      undefined,
      null,
      'text "quoted" \u2028 €',
      -0,
      Number.NaN,
      12n,
      2n ** 64n,
      [undefined, 1, Number.NEGATIVE_INFINITY, [new Set(['a', 2])]],
      { a: undefined, b: new Date(0), c: new Map<unknown, unknown>([[1, undefined], ['1', 'later wins'], [{ k: 1 }, 2]]), 7: 'int key first' },
      { f32: new Float32Array([0.1, Number.NaN, 1 / 3, 3.4e38]), f64: new Float64Array([0.1, -0, 1e-300]), u8: new Uint8Array([255, 0]), i64: new BigInt64Array([-(2n ** 63n), 5n]) },
      { sub: new Float32Array([1, 2, 3, 4]).subarray(1, 3), empty: new Int16Array(0), buffer: new ArrayBuffer(4) },
    ];
    for (const value of values) assert.equal(text(resultJson(value, MB, 'f()')), before(value));
  });

  it('writes typed arrays of any length, across the chunks it writes them in', () => {
    for (const n of [1, 16_383, 16_384, 16_385, 50_001]) {
      const a = new Float32Array(n).map((_, i) => (i % 5 === 0 ? Number.NaN : i / 7));
      assert.equal(text(resultJson({ a, after: 1 }, 64 * MB, 'f()')), before({ a, after: 1 }), `n = ${n}`);
    }
  });

  it('answers text up to INLINE_RESULT_CHARS and UTF-8 bytes beyond', () => {
    assert.equal(typeof resultJson(new Uint8Array((INLINE_RESULT_CHARS - 1) / 2), MB, 'f()'), 'string');
    const bytes = resultJson(new Uint8Array(INLINE_RESULT_CHARS), MB, 'f()');
    assert.ok(bytes instanceof Uint8Array);
    assert.equal(bytes.length, 2 * INLINE_RESULT_CHARS + 1);
    const wide = resultJson([new Uint8Array(1), '€'.repeat(INLINE_RESULT_CHARS)], MB, 'f()');
    assert.equal(text(wide), before([new Uint8Array(1), '€'.repeat(INLINE_RESULT_CHARS)]));
  });

  it('refuses past the limit with SCRIPT_RESULT_TOO_LARGE: exactly at the end, or as soon as it is certain', () => {
    const tooLarge = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        assert.ok(e instanceof ServeError);
        assert.equal(e.code, 'SCRIPT_RESULT_TOO_LARGE');
        return e;
      }
      assert.fail('not refused');
    };
    assert.equal(text(resultJson(new Uint8Array(500), 1001, 'f()')).length, 1001);
    // 614 characters, 1214 bytes: only the end tells
    const wide = { m: new Map([['k', 'é'.repeat(600)]]) };
    const exact = tooLarge(() => resultJson(wide, 1000, 'f()'));
    assert.equal(Buffer.byteLength(before(wide)), 1214);
    assert.ok(exact.message.startsWith('f() returned a result of 1214 bytes as JSON, over the limit of 1000 bytes'), exact.message);
    assert.deepEqual(exact.details, { limit: 'max_result_bytes', maxResultBytes: 1000, resultBytes: 1214 });
    const early = tooLarge(() => resultJson({ s: 'x'.repeat(2000), after: new Uint8Array(1) }, 1000, 'f()'));
    assert.ok(early.message.startsWith('f() returned a result of at least 2007 bytes'), early.message);
    // 20,000,000 elements are refused before any is written: '{"data":' and 2 characters each at least
    const unwritten = tooLarge(() => resultJson({ data: new Float32Array(20_000_000) }, 8 * MB, 'predict()'));
    assert.ok(unwritten.message.startsWith('predict() returned a result of at least 40000009 bytes as JSON, over the limit of 8388608 bytes'), unwritten.message);
    const counted = tooLarge(() => resultJson(new Float64Array(100_000).fill(1 / 3), MB, 'f()'));
    assert.match(counted.message, /^f\(\) returned a result of at least \d+ bytes/);
    assert.ok((counted.details!['resultBytes'] as number) > MB);
  });

  it('answers SCRIPT_FAILED for a result nested deeper than the stack', () => {
    let deep: unknown = new Uint8Array(1);
    for (let i = 0; i < 200_000; i++) deep = [deep];
    assert.throws(() => resultJson(deep, MB, 'f()'), (e: unknown) => e instanceof ServeError && e.code === 'SCRIPT_FAILED' && /nested too deeply/.test(e.message));
  });
});
