import assert from 'node:assert/strict';
import { ServeError } from '../../src/errors.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import h5wasm from 'h5wasm';
import sharp from 'sharp';
import { writeTfjsArtefacts, type ConvertedKerasModel } from '../../src/worker/publish/keras/index.js';
import { tfjsRuntime } from '../../src/worker/runtimes/tfjs.js';
import type { LoadedModel, Tensor } from '../../src/worker/runtimes/types.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));

export const fixture = (relative: string): string => join(FIXTURES, relative);

export const MNIST_H5 = fixture('keras2-mnist-mlp-h5/mnist.h5');
export const REGRESSION_H5 = fixture('keras2-regression-mlp-h5/network.h5');
export const KERAS3_SEQUENTIAL = fixture('keras3-mnist-mlp/mnist-sequential.keras');
export const KERAS3_FUNCTIONAL = fixture('keras3-mnist-mlp/mnist-functional.keras');
export const GRU_DIR = fixture('tfjs-layers-embedding-gru');
export const MATMUL_DIR = fixture('tfjs-graph-matmul');

/** A real handwritten digit (test/fixtures/mnist-png/ps_<d>.png) as 28x28 float32 pixels in 0..1. */
export async function mnistDigit(digit: number): Promise<Tensor<'float32'>> {
  const pixels = await sharp(fixture(`mnist-png/ps_${digit}.png`)).greyscale().raw().toBuffer();
  return { dtype: 'float32', shape: [1, 28, 28], data: Float32Array.from(pixels, (v) => v / 255) };
}

export function float32(shape: number[], values: readonly number[]): Tensor<'float32'> {
  return { dtype: 'float32', shape, data: Float32Array.from(values) };
}

/** A temp directory removed when the test ends. */
export async function tempDir(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'inferbox-tfjs-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Writes converted artefacts to a temp dir and loads them with the tfjs runtime; disposed after the test. */
export async function loadConverted(t: { after(fn: () => Promise<void>): void }, converted: ConvertedKerasModel): Promise<LoadedModel> {
  const dir = await tempDir(t);
  const { mainFile } = await writeTfjsArtefacts(dir, converted);
  const model = await tfjsRuntime.load(dir, mainFile, { intraOpThreads: 1 });
  t.after(() => model.dispose());
  return model;
}

/** The single output of a one-output model run, as plain numbers. */
export async function runOne(model: LoadedModel, input: Tensor): Promise<number[]> {
  const out = await model.run({ [model.inputs[0]!.name]: input });
  return [...(out[model.outputs[0]!.name]!.data as Float32Array)];
}

interface KerasLayerConfig {
  class_name: string;
  config: Record<string, unknown>;
}

/**
 * A copy of a Keras HDF5 file with its root attributes rewritten (h5wasm in memory): `edit` gets the
 * model's layer list (editable in place) and the string attributes (deleting one removes it).
 */
export async function editKerasH5(bytes: Uint8Array, edit: (layers: KerasLayerConfig[], attrs: Record<string, string>) => void): Promise<Uint8Array> {
  const { FS } = await h5wasm.ready;
  const name = `/edit-${process.pid}-${Date.now()}.h5`;
  FS.writeFile(name, Uint8Array.from(bytes)); // a copy: MEMFS would otherwise edit a Buffer's own memory
  const file = new h5wasm.File(name, 'a');
  const attrs: Record<string, string> = {};
  for (const key of ['keras_version', 'backend', 'model_config']) if (key in file.attrs) attrs[key] = String(file.attrs[key]!.value);
  const config = JSON.parse(attrs['model_config']!) as { config: KerasLayerConfig[] | { layers: KerasLayerConfig[] } };
  // Keras 2.0 wrote a Sequential's config as the bare layer list; later versions as { layers }.
  edit(Array.isArray(config.config) ? config.config : config.config.layers, attrs);
  attrs['model_config'] = JSON.stringify(config);
  for (const key of ['keras_version', 'backend', 'model_config']) if (key in file.attrs) file.delete_attribute(key);
  for (const [key, value] of Object.entries(attrs)) file.create_attribute(key, value);
  file.close();
  const edited = FS.readFile(name);
  FS.unlink(name);
  return edited;
}

export function argmax(values: readonly number[]): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}

/** Asserts a ServeError with this code and a message matching `message`. */
export async function rejectsWith(promise: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof ServeError, `expected a ServeError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    assert.match(err.message, message);
    return true;
  });
}
