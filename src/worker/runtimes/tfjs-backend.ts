import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type * as TF from '@tensorflow/tfjs';
import { registerKerasImageLayers } from './keras-image-layers.js';

/** The @tensorflow/tfjs namespace, loaded on first use (importing it costs ~0.6 s and ~60 MB). */
export type Tfjs = typeof TF;

/** tfjs backends in the order we prefer them: native TensorFlow, then WebAssembly, then plain JS. */
export type TfjsBackendKind = 'tensorflow' | 'wasm' | 'cpu';

export interface TfjsBackend {
  readonly tf: Tfjs;
  readonly kind: TfjsBackendKind;
  /** What runs tfjs models, e.g. "tfjs 4.22.0 (wasm, simd)"; shown in metadata and /healthz. */
  readonly name: string;
  /** Why each backend before the chosen one was passed over, e.g. "tensorflow: Cannot find module ...". */
  readonly skipped: readonly string[];
}

export const DEFAULT_BACKEND_ORDER: readonly TfjsBackendKind[] = ['tensorflow', 'wasm', 'cpu'];

const require = createRequire(import.meta.url);
const TFJS_VERSION = (require('@tensorflow/tfjs/package.json') as { version: string }).version;

// tfjs keeps one engine per process with one active backend, so the choice is made once per process
// and shared: a second caller with another order gets the backend that is already running.
let started: Promise<TfjsBackend> | undefined;
let active: TfjsBackend | undefined;

/**
 * Picks and initialises the tfjs backend (once per process) and returns the tfjs namespace with it.
 * @param order backends to try, first that works wins; `cpu` always works.
 * @example const { tf, name } = await initTfjsBackend(); // name: "tfjs 4.22.0 (wasm, simd)"
 */
export function initTfjsBackend(order: readonly TfjsBackendKind[] = DEFAULT_BACKEND_ORDER): Promise<TfjsBackend> {
  started ??= chooseBackend(order).then(
    (backend) => (active = backend),
    (err: unknown) => {
      started = undefined; // let a later load try again rather than caching the failure
      throw err;
    },
  );
  return started;
}

/** The running backend's name, or what will be tried when no tfjs model has been loaded yet. */
export function tfjsBackendName(): string {
  return active?.name ?? `tfjs ${TFJS_VERSION} (not started: loads on the first tfjs model)`;
}

async function chooseBackend(order: readonly TfjsBackendKind[]): Promise<TfjsBackend> {
  const tf = await import('@tensorflow/tfjs');
  // PROD silences tfjs's console banners ("looks like you are running TensorFlow.js in Node.js"),
  // which would otherwise land in the worker's log stream.
  tf.enableProdMode();
  registerKerasImageLayers(tf);
  const skipped: string[] = [];
  for (const kind of order) {
    try {
      const name = await startBackend(tf, kind);
      if (name !== null) return { tf, kind, name, skipped };
      skipped.push(`${kind}: tfjs could not initialise it`);
    } catch (err) {
      skipped.push(`${kind}: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
    }
  }
  throw new Error(`no tfjs backend could start (${skipped.join('; ')})`);
}

/** Starts one backend; the name on success, null when tfjs reports it could not. */
async function startBackend(tf: Tfjs, kind: TfjsBackendKind): Promise<string | null> {
  switch (kind) {
    case 'tensorflow': {
      // An optionalDependency that needs libtensorflow at install time; absent on most machines.
      // The specifier is a variable so TypeScript does not require the package to be installed.
      const nodePackage = '@tensorflow/tfjs-node';
      await import(nodePackage);
      // A tfjs-node with its own nested copy of tfjs registers on another engine: not usable here.
      if (tf.findBackend('tensorflow') === null) throw new Error('tfjs-node registered with a different copy of tfjs');
      return (await tf.setBackend('tensorflow')) ? `tfjs-node ${TFJS_VERSION} (tensorflow)` : null;
    }
    case 'wasm': {
      const wasm = await import('@tensorflow/tfjs-backend-wasm');
      // The .wasm binaries ship inside the package; point tfjs at them instead of a CDN.
      wasm.setWasmPaths(join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + '/');
      if (!(await tf.setBackend('wasm'))) return null;
      const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
      const threads = await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT');
      const features = [simd ? 'simd' : null, threads ? 'threads' : null].filter((f) => f !== null);
      return `tfjs ${TFJS_VERSION} (${['wasm', ...features].join(', ')})`;
    }
    case 'cpu':
      return (await tf.setBackend('cpu')) ? `tfjs ${TFJS_VERSION} (cpu)` : null;
  }
}
