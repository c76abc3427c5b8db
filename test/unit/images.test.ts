import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { ServeError } from '../../src/errors.js';
import { fromHalf, IMAGE_SHAPES, imageLayoutOf, pipelineImageOptions, preprocessProblems } from '../../src/model/index.js';
import { resizedSize } from '../../src/worker/images/decode.js';
import { decodeImage, decodeToTensor, parseImageOptions } from '../../src/worker/images/index.js';
import { fixturePath } from '../helpers/fixtures.js';
import { pngClaiming } from '../helpers/png.js';

const LIMITS = { maxPixels: 40_000_000 };
const file = (name: string) => ({ field: 'img', name });
const tiny = (name: string) => new Uint8Array(readFileSync(fixturePath(`tiny-images/${name}`)));
/** The 2x2 test images' RGB pixels, row-major (tfjs's image test objects). */
const PIXELS = [238, 101, 0, 50, 50, 50, 100, 50, 0, 200, 100, 50];

describe('image decoding on the host (sharp, jimp fallback)', () => {
  for (const name of ['image_png_test.png', 'image_png_4_channel_test.png', 'image_bmp_test.bmp', 'image_bmp_4_channel_test.bmp']) {
    it(`decodes ${name} to its known RGB pixels`, async () => {
      const img = await decodeImage(tiny(name), parseImageOptions({}), file(name), LIMITS);
      assert.deepEqual([img.width, img.height, img.channels], [2, 2, 3]);
      assert.deepEqual([...img.data], PIXELS);
    });
  }

  it('decodes the JPEG within its compression error', async () => {
    const img = await decodeImage(tiny('image_jpeg_test.jpeg'), parseImageOptions({}), file('jpeg'), LIMITS);
    img.data.forEach((v, i) => assert.ok(Math.abs(v - PIXELS[i]!) <= 3, `pixel value ${i}: ${v} vs ${PIXELS[i]}`));
  });

  it('lays out, reorders, scales and normalizes as asked', async () => {
    const chw = await decodeToTensor(tiny('image_png_test.png'), { layout: 'nchw', channels: 'bgr', scale: 1 / 255 }, file('png'), LIMITS);
    assert.deepEqual(chw.shape, [1, 3, 2, 2]);
    assert.ok(chw.data instanceof Float32Array);
    // plane 0 is blue: 0, 50, 0, 50 (/255)
    assert.deepEqual([...chw.data.slice(0, 4)].map((v) => Math.round(v * 255)), [0, 50, 0, 50]);
    const norm = await decodeToTensor(tiny('image_png_test.png'), { mean: [100, 0, 0], std: 2 }, file('png'), LIMITS);
    assert.equal(norm.data[0], (238 - 100) / 2);
    assert.equal(norm.data[1], 101 / 2);
    const raw = await decodeToTensor(tiny('image_png_test.png'), { dtype: 'uint8', invert: true, grayscale: true, width: 1, height: 1 }, file('png'), LIMITS);
    assert.ok(raw.data instanceof Uint8Array);
    assert.deepEqual(raw.shape, [1, 1, 1]);
  });

  it('resizes a real MNIST digit to 28x28 grayscale', async () => {
    const digit = await decodeToTensor(new Uint8Array(readFileSync(fixturePath('mnist-png/ps_7.png'))), { grayscale: true, width: 28, height: 28, layout: 'nchw' }, file('ps_7.png'), LIMITS);
    assert.deepEqual(digit.shape, [1, 1, 28, 28]);
    assert.equal(digit.data.length, 784);
    assert.ok(Math.max(...digit.data) > 200, 'white strokes on black');
  });

  it('refuses a 20,000 x 20,000 PNG from its header: 422 INPUT_IMAGE_TOO_LARGE naming the field', async () => {
    await assert.rejects(decodeImage(pngClaiming(20_000, 20_000), parseImageOptions({}), file('bomb.png'), LIMITS), (e: unknown) => {
      return e instanceof ServeError && e.code === 'INPUT_IMAGE_TOO_LARGE' && /file 'img' \(bomb\.png\) is 20000x20000/.test(e.message) && e.status === 422;
    });
  });

  it('refuses, from the header, a resize over the pixel limit or a tensor over the sandbox share (#14)', async () => {
    const png = tiny('image_png_test.png');
    await assert.rejects(decodeToTensor(png, { width: 16384, height: 16384 }, file('tiny.png'), LIMITS), (e: unknown) => {
      assert.ok(e instanceof ServeError);
      assert.equal(e.code, 'INPUT_IMAGE_TOO_LARGE');
      assert.equal(e.message, "file 'img' (tiny.png) is 2x2; resized to 16384x16384 it would be 268435456 pixels; the limit is 40000000 (limits.maxImagePixels)");
      return true;
    });
    const sandbox = { maxTensorBytes: 2 ** 20, memoryLimitMb: 2 };
    await assert.rejects(decodeToTensor(png, { width: 512, height: 512 }, file('tiny.png'), { ...LIMITS, sandbox }), (e: unknown) => {
      assert.ok(e instanceof ServeError);
      assert.equal(e.code, 'INPUT_IMAGE_TOO_LARGE');
      assert.match(e.message, /^file 'img' \(tiny\.png\) is 2x2; resized to 512x512 it would be a float32 tensor of 3\.0 MB \(512x512x3\); a sandbox with a 2 MB memory limit takes images of up to 1\.0 MB/);
      return true;
    });
    const fits = await decodeToTensor(png, { width: 512, height: 512, dtype: 'uint8', grayscale: true }, file('tiny.png'), { ...LIMITS, sandbox });
    assert.equal(fits.data.byteLength, 512 * 512, 'uint8 grayscale: 256 KB');
    // A BMP is sized from its header too (jimp would decode it whole)
    await assert.rejects(decodeToTensor(tiny('image_bmp_test.bmp'), { width: 16384, fit: 'inside' }, file('x.bmp'), LIMITS), /is 2x2; resized to 16384x16384 it would be 268435456 pixels/);
  });

  it('computes the size a resize gives, as sharp does', async () => {
    assert.deepEqual(resizedSize({ fit: 'fill' }, 300, 200), { width: 300, height: 200 });
    assert.deepEqual(resizedSize({ width: 150, fit: 'fill' }, 300, 200), { width: 150, height: 200 });
    assert.deepEqual(resizedSize({ width: 150, fit: 'contain' }, 300, 200), { width: 150, height: 100 });
    assert.deepEqual(resizedSize({ height: 50, fit: 'cover' }, 300, 200), { width: 75, height: 50 });
    assert.deepEqual(resizedSize({ width: 100, height: 100, fit: 'cover' }, 300, 200), { width: 100, height: 100 });
    assert.deepEqual(resizedSize({ width: 100, height: 100, fit: 'inside' }, 300, 200), { width: 100, height: 67 });
    assert.deepEqual(resizedSize({ width: 100, height: 100, fit: 'outside' }, 300, 200), { width: 150, height: 100 });
    const png = tiny('image_png_4_channel_test.png');
    const fits = [{ width: 3 }, { height: 5 }, { width: 5, fit: 'inside' as const }, { height: 3, fit: 'contain' as const }, { width: 4, height: 7, fit: 'inside' as const }, { width: 4, height: 7, fit: 'outside' as const }];
    for (const options of fits) {
      const resolved = parseImageOptions(options);
      const img = await decodeImage(png, resolved, file('png'), LIMITS);
      assert.deepEqual([img.width, img.height], Object.values(resizedSize(resolved, 2, 2)), JSON.stringify(options));
    }
  });

  it('refuses a corrupt PNG and a text file with 422 INPUT_IMAGE_INVALID', async () => {
    const png = readFileSync(fixturePath('mnist-png/ps_3.png'));
    for (const bytes of [png.subarray(0, 60), Buffer.from('hello, this is not an image')]) {
      await assert.rejects(decodeImage(new Uint8Array(bytes), parseImageOptions({}), file('x'), LIMITS), (e: unknown) => e instanceof ServeError && e.code === 'INPUT_IMAGE_INVALID' && e.status === 422);
    }
  });

  it('names a bad option', () => {
    assert.throws(() => parseImageOptions({ layout: 'whc' }), /image\(options\): layout/);
    assert.throws(() => parseImageOptions({ widht: 3 }), /widht/);
    assert.throws(() => parseImageOptions({ dtype: 'uint8', scale: 0.5 }), /uint8/);
  });
});

describe('imageLayoutOf', () => {
  it('reads NCHW, NHWC and grayscale NHW inputs and refuses other shapes', () => {
    const spec = (shape: number[]) => ({ name: 'x', dtype: 'float32' as const, shape });
    assert.deepEqual(imageLayoutOf(spec([1, 1, 28, 28])), { layout: 'nchw', channels: 1, height: 28, width: 28 });
    assert.deepEqual(imageLayoutOf(spec([-1, 224, 224, 3])), { layout: 'nhwc', channels: 3, height: 224, width: 224 });
    assert.deepEqual(imageLayoutOf(spec([-1, 28, 28])), { layout: 'hw', channels: 1, height: 28, width: 28 });
    assert.equal(imageLayoutOf(spec([-1, 4])), null);
    assert.equal(imageLayoutOf(spec([1, 3, 3, 3])), null, 'too small to be an image');
  });
});

describe('image inputs of other float types, and the preprocess block (#15)', () => {
  const spec = (dtype: 'float32' | 'float16' | 'float64' | 'uint8' | 'int64', shape: number[]) => ({ name: 'x', dtype, shape });

  it('reads float16 and float64 inputs as image inputs (SqueezeNet 1.1 float16: data_0 [1,3,224,224]), not int64 ones', () => {
    assert.deepEqual(imageLayoutOf(spec('float16', [1, 3, 224, 224])), { layout: 'nchw', channels: 3, height: 224, width: 224 });
    assert.deepEqual(imageLayoutOf(spec('float64', [-1, 28, 28, 1])), { layout: 'nhwc', channels: 1, height: 28, width: 28 });
    assert.equal(imageLayoutOf(spec('int64', [1, 3, 224, 224])), null);
  });

  it('gives a float16 input IEEE halves, and the block overrides the input\'s own options key by key', async () => {
    const options = pipelineImageOptions(spec('float16', [1, 3, -1, -1]), { x: { scale: 0.5, color: 'bgr' } });
    assert.deepEqual(options, { layout: 'nchw', dtype: 'float16', scale: 0.5, channels: 'bgr' });
    const png = readFileSync(fixturePath('tiny-images/image_png_test.png'));
    const tensor = await decodeToTensor(png, options, { field: 'x', name: '' }, { maxPixels: 1e6 });
    assert.ok(tensor.data instanceof Uint16Array);
    assert.deepEqual(tensor.shape, [1, 3, 2, 2]);
    // B plane first (bgr), halved: pixels (238,101,0) (50,50,50) (100,50,0) (200,100,50).
    assert.deepEqual(Array.from(tensor.data, fromHalf), [0, 25, 0, 25, 50.5, 25, 25, 50, 119, 25, 50, 100]);
    assert.deepEqual(pipelineImageOptions(spec('uint8', [1, 28, 28]), { x: { color: 'gray' } }), { grayscale: true, width: 28, height: 28, layout: 'chw', dtype: 'uint8' });
    assert.equal(pipelineImageOptions(spec('float32', [-1, 4]), undefined), null);
  });

  it('names every problem of a block against the model\'s inputs', () => {
    const inputs = [spec('float32', [1, 3, 224, 224]), { name: 'rows', dtype: 'float32' as const, shape: [-1, 4] }];
    assert.deepEqual(preprocessProblems({ x: { mean: [1, 2, 3], std: [1], width: 10 } }, inputs), []);
    assert.deepEqual(preprocessProblems({ nope: {}, rows: {}, x: { std: [1, 2], dtype: 'uint8', scale: 2 } }, inputs), [
      "preprocess.nope: the model has no input 'nope' (its inputs: 'x', 'rows')",
      `preprocess.rows: input 'rows' is float32 [-1,4], not an image input (expected ${IMAGE_SHAPES})`,
      'preprocess.x.std: 2 values for 3 channels; give one value or 3',
      'preprocess.x.dtype: "uint8" keeps raw pixels; drop scale, mean and std or use "float32"',
    ]);
  });
});
