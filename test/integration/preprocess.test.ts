import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { ApiError } from '../../src/client/index.js';
import { fromHalf, toHalf } from '../../src/model/index.js';
import { fixturePath, flattenDeep } from '../helpers/fixtures.js';
import { float16AddOnnx, identityImageOnnx } from '../helpers/onnx-models.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

/** The real 2x2 files (tfjs' test images) and their pixels as sharp decodes them, row-major RGB. */
const PNG = { file: 'image_png_test.png', pixels: [[238, 101, 0], [50, 50, 50], [100, 50, 0], [200, 100, 50]] };
const JPEG = { file: 'image_jpeg_test.jpeg', pixels: [[240, 101, 0], [50, 50, 50], [100, 50, 1], [200, 100, 50]] };

/** What each channel becomes, computed as the host does: float32 scale/std and offset, then the value. */
function normalised(pixels: number[][], o: { scale?: number; mean?: number[]; std?: number[]; bgr?: boolean }): number[][] {
  const f = Math.fround;
  return pixels.map((px) => {
    const ordered = o.bgr ? [px[2]!, px[1]!, px[0]!] : px;
    return ordered.map((v, k) => {
      const std = o.std?.[k] ?? 1;
      return v * f((o.scale ?? 1) / std) + f(-(o.mean?.[k] ?? 0) / std);
    });
  });
}
const nchw = (perPixel: number[][]) => [0, 1, 2].flatMap((k) => perPixel.map((px) => px[k]!));
const nhwc = (perPixel: number[][]) => perPixel.flat();

describe('a deployment preprocess block: declarative image preprocessing without a script', () => {
  let server: TestServer;
  const tokens = new Map<string, string>();

  /** A multipart upload as `curl -F x=@file` sends it, to a deployment's predict endpoint. */
  async function upload(deployment: string, field: string, file: string, fields: Record<string, string> = {}): Promise<{ status: number; body: Record<string, any> }> {
    const form = new FormData();
    for (const [name, value] of Object.entries(fields)) form.set(name, value);
    form.set(field, new Blob([readFileSync(fixturePath(`tiny-images/${file}`))]), file);
    const res = await fetch(`${server.url}/api/v1/svc/${deployment}/predict`, { method: 'POST', headers: { authorization: `Bearer ${tokens.get(deployment)}` }, body: form });
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  }
  const seen = async (deployment: string, file: string, fields?: Record<string, string>) => {
    const { status, body } = await upload(deployment, 'x', file, fields);
    assert.equal(status, 200, JSON.stringify(body));
    return flattenDeep(body.result[0].y);
  };
  const deploy = async (name: string, model: string, preprocess?: Record<string, unknown>) => {
    const d = await server.client.createDeployment({ deployment_name: name, model_name: model, ...(preprocess ? { preprocess } : {}) } as never);
    tokens.set(name, d.access_token);
    return d;
  };
  const refused = async (call: Promise<unknown>, status: number, code: string, message: RegExp) => {
    await assert.rejects(call, (e: unknown) => {
      assert.ok(e instanceof ApiError);
      assert.equal(e.status, status, e.message);
      assert.equal(e.code, code);
      assert.match(e.message, message);
      return true;
    });
  };

  before(async () => {
    server = await startTestServer({ env: { INFERBOX_WORKERS_COUNT: '1' } });
    const models: [string, Buffer][] = [
      ['rgb', identityImageOnnx('float32', 'nchw')],
      ['bgr', identityImageOnnx('float32', 'nhwc')],
      ['half', identityImageOnnx('float16', 'nchw')],
      ['double', identityImageOnnx('float64', 'nhwc')],
      ['rows', float16AddOnnx()],
      ['winml', identityImageOnnx('float32', 'nchw', { 'Image.BitmapPixelFormat': 'Bgr8', 'Image.NominalPixelRange': 'Normalized_1_1', 'Image.ColorSpaceGamma': 'SRGB' })],
    ];
    for (const [name, data] of models) await server.client.publishModel({ name, files: [{ name: `${name}.onnx`, data }] });
  });
  after(() => server.close());

  it('feeds RGB/255 in NCHW to a model whose only customisation is the block, and shows the block', async () => {
    const d = await deploy('rgb-svc', 'rgb', { x: { scale: 1 / 255 } });
    assert.deepEqual(d.preprocess, { x: { scale: 1 / 255 } });
    assert.deepEqual(await seen('rgb-svc', PNG.file), nchw(normalised(PNG.pixels, { scale: 1 / 255 })).map(Math.fround));
    assert.deepEqual((await server.client.getDeployment('rgb-svc')).preprocess, { x: { scale: 1 / 255 } });
  });

  it('feeds BGR mean-subtracted pixels in NHWC from a JPEG', async () => {
    const mean = [103.939, 116.779, 123.68];
    await deploy('bgr-svc', 'bgr', { x: { color: 'bgr', mean } });
    assert.deepEqual(await seen('bgr-svc', JPEG.file), nhwc(normalised(JPEG.pixels, { mean, bgr: true })).map(Math.fround));
  });

  it('feeds a float16 image input: raw pixels without a block, ImageNet-normalised halves with one', async () => {
    await deploy('half-raw', 'half');
    assert.deepEqual(await seen('half-raw', PNG.file), nchw(PNG.pixels));
    const block = { scale: 1 / 255, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], dtype: 'float16' };
    await deploy('half-svc', 'half', { x: block });
    const expected = nchw(normalised(JPEG.pixels, block)).map((v) => fromHalf(toHalf(v)));
    assert.deepEqual(await seen('half-svc', JPEG.file), expected);
  });

  it('feeds a float64 image input', async () => {
    await deploy('double-svc', 'double', { x: { scale: 0.5 } });
    assert.deepEqual(await seen('double-svc', PNG.file), nhwc(normalised(PNG.pixels, { scale: 0.5 })).map(Math.fround));
  });

  it('answers 400 REQUEST_INVALID naming an unknown input, a non-image input and a mean or std that does not fit the channels', async () => {
    await refused(deploy('bad-1', 'rgb', { image: { scale: 1 } }), 400, 'REQUEST_INVALID', /preprocess\.image: the model has no input 'image' \(its inputs: 'x'\)/);
    await refused(deploy('bad-2', 'rows', { x: { scale: 1 } }), 400, 'REQUEST_INVALID', /preprocess\.x: input 'x' is float16 \[-1,3\], not an image input \(expected \[N,C,H,W\]/);
    await refused(deploy('bad-3', 'rgb', { x: { mean: [1, 2] } }), 400, 'REQUEST_INVALID', /preprocess\.x\.mean: 2 values for 3 channels; give one value or 3/);
    await refused(deploy('bad-4', 'rgb', { x: { color: 'gray' } }), 400, 'REQUEST_INVALID', /preprocess\.x\.color: "gray" makes 1 channel; input 'x' \[1,3,-1,-1\] takes 3/);
    await refused(deploy('bad-5', 'rgb', { x: { layout: 'nhwc' } }), 400, 'REQUEST_INVALID', /preprocess\.x\.layout: input 'x' \[1,3,-1,-1\] is nchw; "nhwc" does not fit it/);
    await refused(deploy('bad-6', 'rgb', { x: { dtype: 'float16' } }), 400, 'REQUEST_INVALID', /preprocess\.x\.dtype: input 'x' is float32; "float16" fits float16 inputs only/);
    await refused(deploy('bad-7', 'rgb', { x: { fit: 'stretch' } }), 400, 'REQUEST_INVALID', /preprocess\.x\.fit/);
    await refused(deploy('bad-8', 'rgb', { x: { brightness: 2 } }), 400, 'REQUEST_INVALID', /preprocess\.x: Unrecognized key/);
  });

  it('PATCH replaces the block (checked the same way) and null removes it', async () => {
    await deploy('patched', 'rgb');
    assert.equal((await server.client.getDeployment('patched')).preprocess, null);
    assert.deepEqual(await seen('patched', PNG.file), nchw(PNG.pixels));
    const view = await server.client.patchDeployment('patched', { preprocess: { x: { scale: 2 } } });
    assert.deepEqual(view.preprocess, { x: { scale: 2 } });
    assert.deepEqual(await seen('patched', PNG.file), nchw(PNG.pixels).map((v) => v * 2));
    await refused(server.client.patchDeployment('patched', { preprocess: { y: {} } }), 400, 'REQUEST_INVALID', /preprocess\.y: the model has no input 'y'/);
    assert.equal((await server.client.patchDeployment('patched', { preprocess: null })).preprocess, null);
    assert.deepEqual(await seen('patched', PNG.file), nchw(PNG.pixels));
  });

  it('composes with a script: image() without options follows the block, with options it does as asked', async () => {
    const script = [
      'async function preprocess_files(args) {',
      '  const image = args.raw === "1" ? await args.files.x.image({ layout: "nchw" }) : await args.files.x.image();',
      '  args.X = [{ x: image }];',
      '  return args;',
      '}',
    ].join('\n');
    await deploy('scripted', 'rgb', { x: { scale: 1 / 255, color: 'bgr' } });
    await server.client.patchDeployment('scripted', { script });
    assert.deepEqual(await seen('scripted', PNG.file), nchw(normalised(PNG.pixels, { scale: 1 / 255, bgr: true })).map(Math.fround));
    assert.deepEqual(await seen('scripted', PNG.file, { raw: '1' }), nchw(PNG.pixels));
    // PATCHing the block alone reaches the script's sandboxes.
    await server.client.patchDeployment('scripted', { preprocess: { x: { scale: 2 } } });
    assert.deepEqual(await seen('scripted', PNG.file), nchw(PNG.pixels).map((v) => v * 2));
  });

  it('reads the block a model file implies (WinML metadata_props), shows it in the version, and a new deployment takes it unless it gives its own', async () => {
    const implied = { x: { color: 'bgr', scale: 2 / 255, mean: 1 } };
    const version = await server.client.getVersion('winml');
    assert.deepEqual(version.preprocess, implied);
    assert.deepEqual(version.preprocess_source, { from: 'onnx_metadata_props', reason: "the model's metadata_props say Image.BitmapPixelFormat=Bgr8, Image.NominalPixelRange=Normalized_1_1 (WinML's convention)" });
    assert.equal((await server.client.getVersion('rgb')).preprocess, undefined, 'no metadata, no block');
    const taken = await deploy('winml-svc', 'winml');
    assert.deepEqual(taken.preprocess, implied);
    assert.equal(taken.preprocess_inferred, true);
    const f = Math.fround;
    assert.deepEqual(await seen('winml-svc', PNG.file), nchw(PNG.pixels.map((px) => [px[2]!, px[1]!, px[0]!].map((v) => f(v * f(2 / 255) + f(-1))))));
    const own = await deploy('winml-own', 'winml', { x: { scale: 1 } });
    assert.deepEqual(own.preprocess, { x: { scale: 1 } });
    assert.equal(own.preprocess_inferred, false);
    const dropped = await server.client.patchDeployment('winml-svc', { preprocess: null });
    assert.equal(dropped.preprocess, null);
    assert.equal(dropped.preprocess_inferred, false);
  });

  it('answers 422 INPUT_FILE_UNEXPECTED saying what the field is and what an image input is, without contradiction', async () => {
    await deploy('rows-svc', 'rows');
    const { status, body } = await upload('rows-svc', 'x', PNG.file);
    assert.equal(status, 422);
    assert.equal(body.error.code, 'INPUT_FILE_UNEXPECTED');
    assert.match(body.error.message, /^file 'x' cannot be fed without a script: input 'x' is float16 \[-1,3\], not an image input \(expected \[N,C,H,W\] \(C of 1, 3 or 4\), \[N,H,W,C\] or \[N,H,W\] of float32, float16, float64 or uint8/);
    const other = await upload('rgb-svc', 'photo', PNG.file);
    assert.equal(other.status, 422);
    assert.match(other.body.error.message, /the model has no input 'photo'; its image input is 'x': send the file under that name/);
  });
});
