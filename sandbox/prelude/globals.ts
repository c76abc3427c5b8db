/**
 * The globals the sandbox gives a script (script-api.d.ts): console, model, fail and the tensor
 * helpers, installed once by setup before the script runs; WebAssembly, SharedArrayBuffer and
 * Atomics are removed (docs/scripts.md promises scripts neither). Then every global is remembered,
 * so load.ts can tell a script's own top-level functions from the sandbox's.
 */
import { scriptConsole } from './console.js';
import { fail } from './errors.js';
import { runOnHost } from './host-calls.js';
import {
  ArrayIsArray, G, isObjectLike, MapCtor, MapGet, MapHas, MapSet, ObjectDefineProperty, ObjectFreeze, ObjectGetOwnPropertyNames,
  ObjectKeys, PromiseCtor, TypeErrorCtor,
} from './intrinsics.js';
import { helpers } from './tensor.js';

const freezeSpec = (s: InferboxTensorSpec) =>
  ObjectFreeze({ name: s.name, dtype: s.dtype, shape: s.shape === null ? null : ObjectFreeze(s.shape.slice()) });

/** The script's `model`: frozen, so a script cannot redirect another of its calls by patching it. */
export function createScriptModel(info: InferboxModelInfo): InferboxModel {
  const modelInfo = {
    name: info.name,
    version: info.version,
    inputs: ObjectFreeze(info.inputs.map(freezeSpec)),
    outputs: ObjectFreeze(info.outputs.map(freezeSpec)),
  };
  return ObjectFreeze({
    ...modelInfo,
    run(feeds: InferboxFeeds): Promise<Record<string, unknown>> {
      if (!isObjectLike(feeds) || ArrayIsArray(feeds)) {
        return new PromiseCtor((_, reject) => reject(new TypeErrorCtor('model.run(feeds): feeds must be an object { inputName: values }')));
      }
      return runOnHost(feeds);
    },
  });
}

/** Every global as it was once the sandbox's own were installed (before the script ran). */
const baseline = new MapCtor<string, unknown>();

/** Called once by setup, before the script's top level runs. */
export function installGlobals(scriptModel: InferboxModel): void {
  const globals: Record<string, unknown> = { console: scriptConsole, model: scriptModel, fail, ...helpers };
  for (const key of ObjectKeys(globals)) ObjectDefineProperty(G, key, { value: globals[key], writable: true, configurable: true, enumerable: false });
  for (const key of ['WebAssembly', 'SharedArrayBuffer', 'Atomics']) delete G[key];
  for (const key of ObjectGetOwnPropertyNames(G)) MapSet(baseline, key, G[key]);
}

/** Whether `value` is what global `name` held before the script ran (so not a function of the script's). */
export function isSandboxGlobal(name: string, value: unknown): boolean {
  return MapHas(baseline, name) && MapGet(baseline, name) === value;
}
