import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { ServeError } from '../../src/errors.js';
import { decodeImage, parseImageOptions, type ImageOptions } from '../../src/worker/images/index.js';
import { decodeSmallPng, SMALL_PNG_MAX_PIXELS } from '../../src/worker/images/small-png.js';
import { fixturePath } from '../helpers/fixtures.js';
import { encodePng, type PngSpec } from '../helpers/png.js';

const LIMITS = { maxPixels: 40_000_000 };
const file = { field: 'img', name: 'x.png' };
const always = () => true;

/** What decode.ts did before small PNGs skipped sharp: the reference every small PNG must match. */
async function viaSharp(bytes: Uint8Array, raw: ImageOptions) {
  const o = parseImageOptions(raw);
  let image = sharp(Buffer.from(bytes), { failOn: 'error' });
  image = o.grayscale ? image.removeAlpha().toColourspace('b-w') : o.alpha ? image.ensureAlpha() : image.removeAlpha();
  if (o.width !== undefined || o.height !== undefined) image = image.resize({ width: o.width, height: o.height, fit: o.fit, kernel: 'lanczos3' });
  const { data, info } = await image.raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, channels: info.channels, data: [...data] };
}

async function decoded(bytes: Uint8Array, raw: ImageOptions) {
  const img = await decodeImage(bytes, parseImageOptions(raw), file, LIMITS);
  return { width: img.width, height: img.height, channels: img.channels, data: [...img.data] };
}

/** Deterministic samples with smooth runs and jumps, so every filter has work to do. */
function samples(length: number, seed: number, max = 255): Uint8Array {
  let s = seed;
  return Uint8Array.from({ length }, (_, i) => {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    return i % 7 < 4 ? (i * 3) & max : s & max;
  });
}

function spec(colourType: PngSpec['colourType'], depth: PngSpec['depth'], width: number, height: number, extra: Partial<PngSpec> = {}): PngSpec {
  const channels = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 }[colourType];
  const stride = Math.ceil((width * depth * channels) / 8);
  const entries = colourType === 3 ? 2 ** depth : 0;
  // palette indices stay inside the palette: every packed value of `depth` bits is below 2^depth
  return { width, height, colourType, depth, samples: samples(stride * height, width * 31 + colourType), ...(entries ? { palette: samples(entries * 3, 7) } : {}), ...extra };
}

/** The same spec with r = g = b in every pixel (alpha kept). */
function greyPixels(s: PngSpec): PngSpec {
  const step = s.colourType === 6 ? 4 : 3;
  const samples = Uint8Array.from(s.samples, (v, i) => (i % step === 3 ? v : s.samples[i - (i % step)]!));
  return { ...s, samples };
}
const isGrey = (s: PngSpec) => s.colourType === 0 || s.colourType === 4 || (s.colourType === 3 ? s.palette!.every((v, i) => v === s.palette![i - (i % 3)]) : s.samples.every((v, i) => i % (s.colourType === 6 ? 4 : 3) === 3 || v === s.samples[i - (i % (s.colourType === 6 ? 4 : 3))]));

const OPTIONS: ImageOptions[] = [{}, { alpha: true }, { grayscale: true }];

/** Options that keep a width x height image as it is, which small PNGs are decoded without sharp for. */
const sameSize = (width: number, height: number): ImageOptions[] => [
  { width, height },
  { width, height, fit: 'cover' },
  { width, height, fit: 'contain', grayscale: true },
  { width, fit: 'inside' },
  { height, fit: 'outside', alpha: true },
];

describe('small PNGs decoded without sharp (small-png.ts)', () => {
  const takes: Array<[string, PngSpec]> = [
    ['8-bit grey', spec(0, 8, 28, 28)],
    ['4-bit grey', spec(0, 4, 13, 7)],
    ['2-bit grey', spec(0, 2, 9, 5)],
    ['1-bit grey', spec(0, 1, 17, 3)],
    ['grey + alpha', spec(4, 8, 6, 11)],
    ['RGB', spec(2, 8, 12, 12)],
    ['RGBA', spec(6, 8, 5, 9)],
    ['8-bit palette', spec(3, 8, 16, 16)],
    ['4-bit palette with partial transparency', spec(3, 4, 7, 7, { transparency: Uint8Array.of(0, 40, 128, 255, 3) })],
    ['1-bit palette', spec(3, 1, 19, 2)],
    ['one pixel', spec(0, 8, 1, 1)],
    ['text, pHYs and time chunks, data over three IDATs', spec(6, 8, 10, 10, { idats: 3, chunks: [['tEXt', Buffer.from('Comment\0hi')], ['pHYs', Uint8Array.of(0, 0, 11, 19, 0, 0, 11, 19, 1)], ['tIME', Uint8Array.of(7, 234, 12, 3, 13, 0, 0)]] })],
    [`${SMALL_PNG_MAX_PIXELS} pixels (the largest taken)`, spec(0, 8, 128, SMALL_PNG_MAX_PIXELS / 128)],
    ['RGB whose pixels are grey', greyPixels(spec(2, 8, 28, 28))],
    ['RGBA whose pixels are grey (a canvas drawing)', greyPixels(spec(6, 8, 28, 28))],
    ['every grey level as RGB (0..255)', { ...spec(2, 8, 256, 1), samples: Uint8Array.from({ length: 768 }, (_, i) => Math.floor(i / 3)) }],
    ['palette of greys', { ...spec(3, 4, 9, 9), palette: Uint8Array.from({ length: 48 }, (_, i) => Math.floor(i / 3) * 17) }],
  ];
  for (const [name, s] of takes) {
    it(`${name}: the same pixels as sharp for every colour option`, async () => {
      const png = encodePng(s);
      assert.ok(decodeSmallPng(png, 3, always), 'decoded without sharp');
      assert.equal(decodeSmallPng(png, 1, always) !== null, isGrey(s), 'grey out of colour only for grey pixels, else sharp');
      for (const options of [...OPTIONS, ...sameSize(s.width, s.height)]) {
        assert.deepEqual(await decoded(png, options), await viaSharp(png, options), JSON.stringify(options));
      }
    });
  }

  it('the MNIST and tiny fixture PNGs: the same pixels as sharp', async () => {
    const paths = [
      ...readdirSync(fixturePath('mnist-png')).filter((f) => f.endsWith('.png')).map((f) => fixturePath(`mnist-png/${f}`)),
      fixturePath('tiny-images/image_png_test.png'),
      fixturePath('tiny-images/image_png_4_channel_test.png'),
    ];
    assert.equal(paths.length, 12);
    for (const path of paths) {
      const png = new Uint8Array(readFileSync(path));
      assert.ok(decodeSmallPng(png, 3, always), `${path} decoded without sharp`);
      for (const options of [...OPTIONS, { grayscale: true, width: 28, height: 28, layout: 'nchw' } as const]) {
        assert.deepEqual(await decoded(png, options), await viaSharp(png, options), `${path} ${JSON.stringify(options)}`);
      }
    }
  });

  it('leaves to sharp what it does not decode like sharp, which decodes it as before', async () => {
    const grey = spec(0, 8, 20, 20);
    const raw = (channels: 1 | 3) => sharp(Buffer.from(samples(20 * 20 * channels, 5)), { raw: { width: 20, height: 20, channels } });
    const leaves: Array<[string, Buffer]> = [
      ['interlaced', await raw(3).png({ progressive: true }).toBuffer()],
      ['16-bit', await raw(3).toColourspace('rgb16').png().toBuffer()],
      ['16-bit grey', await raw(1).toColourspace('grey16').png().toBuffer()],
      ['an ICC profile', await raw(3).withIccProfile('p3').png().toBuffer()],
      ['a gAMA chunk', encodePng({ ...grey, chunks: [['gAMA', Uint8Array.of(0, 0, 0xb1, 0x8f)]] })],
      ['grey with tRNS', encodePng({ ...grey, transparency: Uint8Array.of(0, 9) })],
      ['over the size', encodePng(spec(0, 8, 129, 128))],
      ['a palette index past the palette', encodePng({ ...spec(3, 8, 4, 4), palette: Uint8Array.of(1, 2, 3) })],
    ];
    assert.deepEqual([leaves[0]![1][28], leaves[1]![1][24], leaves[2]![1][24]], [1, 16, 16], 'interlaced, 16-bit, 16-bit');
    for (const [name, png] of leaves) {
      assert.equal(decodeSmallPng(png, 3, always), null, name);
      let expected: unknown;
      try {
        expected = await viaSharp(png, {});
      } catch {
        expected = 'INPUT_IMAGE_INVALID';
      }
      const actual = await decoded(png, {}).catch((e: unknown) => (e instanceof ServeError ? e.code : e));
      assert.deepEqual(actual, expected, name);
    }
    // a resize to another size goes to sharp too
    const png = encodePng(grey);
    assert.equal(decodeSmallPng(png, 1, () => false), null);
    for (const options of [{ width: 10, height: 10 }, { width: 28, grayscale: true, fit: 'inside' }] as ImageOptions[]) {
      assert.deepEqual(await decoded(png, options), await viaSharp(png, options), JSON.stringify(options));
    }
  });

  it('a damaged small PNG gets what sharp gave it: 422 INPUT_IMAGE_INVALID, or its pixels when sharp reads it', async () => {
    const good = readFileSync(fixturePath('mnist-png/ps_3.png'));
    const idat = good.indexOf('IDAT', 0, 'latin1');
    const flipped = Buffer.from(good);
    flipped[idat + 10]! ^= 0xff; // bad CRC
    const bad: Array<[string, Buffer, string | null]> = [
      ['bad CRC', flipped, 'INPUT_IMAGE_INVALID'],
      ['cut in IDAT', good.subarray(0, idat + 20), 'INPUT_IMAGE_INVALID'],
      ['garbage after the signature', Buffer.concat([good.subarray(0, 8), Buffer.from('garbage after the signature')]), 'INPUT_IMAGE_INVALID'],
      ['no IEND (sharp reads it)', good.subarray(0, good.length - 12), null],
    ];
    for (const [name, bytes, code] of bad) {
      assert.equal(decodeSmallPng(bytes, 1, always), null, name);
      const options = { grayscale: true };
      if (code === null) assert.deepEqual(await decoded(bytes, options), await viaSharp(bytes, options), name);
      else await assert.rejects(decodeImage(new Uint8Array(bytes), parseImageOptions(options), file, LIMITS), (e: unknown) => e instanceof ServeError && e.code === code && e.status === 422, name);
    }
  });

  it('checks the limits from the header as the sharp path does: INPUT_IMAGE_TOO_LARGE', async () => {
    const png = encodePng(spec(0, 8, 28, 28));
    await assert.rejects(decodeImage(png, parseImageOptions({}), file, { maxPixels: 700 }), (e: unknown) => e instanceof ServeError && e.code === 'INPUT_IMAGE_TOO_LARGE' && /is 28x28 = 784 pixels; the limit is 700/.test(e.message));
    await assert.rejects(decodeImage(png, parseImageOptions({}), file, { maxPixels: 1000, sandbox: { maxTensorBytes: 1000, memoryLimitMb: 8 } }), (e: unknown) => e instanceof ServeError && e.code === 'INPUT_IMAGE_TOO_LARGE' && /float32 tensor/.test(e.message));
  });
});
