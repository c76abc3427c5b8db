/**
 * Host decode time of one PNG, µs: sharp (what decode.ts runs for any image it does not take
 * itself: metadata from the header, then decode) against the JavaScript decoder of small PNGs
 * (images/small-png.ts), for the MNIST fixtures and for noisy grey and RGBA squares up to the size
 * small-png.ts takes. Run by hand (not part of npm test, which asserts pixels and never a duration):
 *   node --import tsx test/bench/png-decode.ts [--runs 2000]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { decodeImage, parseImageOptions, type ImageOptions } from '../../src/worker/images/index.js';
import { SMALL_PNG_MAX_PIXELS } from '../../src/worker/images/small-png.js';
import { fixturePath } from '../helpers/fixtures.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '2000' } } });
const RUNS = Number(values.runs);
const LIMITS = { maxPixels: 40_000_000 };
const file = { field: 'Input3', name: 'x.png' };

sharp.concurrency(1);
sharp.cache(false);

/** decode.ts's sharp path for these options, as it runs when small-png.ts leaves a file to it. */
async function viaSharp(bytes: Uint8Array, raw: ImageOptions) {
  const o = parseImageOptions(raw);
  const input = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  await sharp(input, { limitInputPixels: false }).metadata();
  let image = sharp(input, { limitInputPixels: LIMITS.maxPixels, failOn: 'error', sequentialRead: true });
  image = o.grayscale ? image.removeAlpha().toColourspace('b-w') : o.alpha ? image.ensureAlpha() : image.removeAlpha();
  if (o.width !== undefined || o.height !== undefined) image = image.resize({ width: o.width, height: o.height, fit: o.fit, kernel: 'lanczos3' });
  return image.raw().toBuffer();
}

async function median(fn: (i: number) => Promise<unknown>): Promise<string> {
  for (let i = 0; i < Math.min(200, RUNS); i++) await fn(i);
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const start = process.hrtime.bigint();
    await fn(i);
    times.push(Number(process.hrtime.bigint() - start) / 1000);
  }
  times.sort((a, b) => a - b);
  return `${times[RUNS >> 1]!.toFixed(1)}`;
}

const rows: string[] = ['| image | options | sharp µs p50 | small-png.ts µs p50 |', '|---|---|---:|---:|'];
const mnist = Array.from({ length: 10 }, (_, i) => new Uint8Array(readFileSync(fixturePath(`mnist-png/ps_${i}.png`))));
const script: ImageOptions = { grayscale: true, width: 28, height: 28, layout: 'nchw' };
rows.push(`| mnist-png/ps_0..9.png, 28×28 grey | the mnist-png script's | ${await median((i) => viaSharp(mnist[i % 10]!, script))} | ${await median((i) => decodeImage(mnist[i % 10]!, parseImageOptions(script), file, LIMITS))} |`);
const side = Math.sqrt(SMALL_PNG_MAX_PIXELS);
for (const channels of [1, 4] as const) {
  for (const size of [28, 64, side]) {
    const raw = Buffer.alloc(size * size * channels);
    for (let i = 0; i < raw.length; i++) raw[i] = (i % 11 < 6 ? i * 3 : (i * 2654435761) >>> 24) & 255;
    // a one-channel raw image is written as RGB unless it is said to be grey
    const image = sharp(raw, { raw: { width: size, height: size, channels } });
    const png = new Uint8Array(await (channels === 1 ? image.toColourspace('b-w') : image).png().toBuffer());
    const o: ImageOptions = channels === 1 ? { grayscale: true } : {};
    rows.push(`| ${size}×${size} ${channels === 1 ? 'grey' : 'RGBA'} noise, ${png.length} B | ${JSON.stringify(o)} | ${await median(() => viaSharp(png, o))} | ${await median(() => decodeImage(png, parseImageOptions(o), file, LIMITS))} |`);
  }
}
console.log(rows.join('\n'));
