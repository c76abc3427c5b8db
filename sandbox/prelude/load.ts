/**
 * Runs the user's script and keeps its top-level functions, by name, for dispatch and the flow.
 *
 * The script runs through indirect eval rather than as an isolated-vm Script: then a throw from
 * its top level is caught here instead of being read by isolated-vm outside any time limit.
 * Global eval keeps script semantics (function and var declarations become globals); a trailing
 * expression hands back a getter for each top-level binding, let/const included. The getters are
 * what is kept, so a script that reassigns a top-level function is called at its current value.
 */
import type { PreludeEnvelope } from './api.js';
import { resetLogs, takeLogs } from './console.js';
import { failure } from './errors.js';
import { isSandboxGlobal } from './globals.js';
import { IDENTIFIER, indirectEval, MapCtor, MapGet, MapSet, matches, newList, push, SetAdd, SetCtor, SetHas, StringSplit } from './intrinsics.js';

// Words that cannot follow `() =>` in sloppy or strict code; `__proto__` would set a prototype.
const RESERVED = new SetCtor(StringSplit(
  'break case catch class const continue debugger default delete do else enum export extends false finally for ' +
  'function if import in instanceof new null return super switch this throw true try typeof var void while with ' +
  'implements interface let package private protected public static yield __proto__', ' '));
const fns = new MapCtor<string, () => unknown>();

/** The current value of the script's top-level function `name`, or undefined if load found none. */
export function scriptFunctionValue(name: string): unknown {
  const get = MapGet(fns, name);
  return get === undefined ? undefined : get();
}

export function load(source: string, candidates: string[], lines: number, bytes: number, scriptFilename: string): PreludeEnvelope {
  try {
    resetLogs(lines, bytes, false);
    const wanted = newList<string>();
    const seen = new SetCtor<string>();
    let getters = '';
    for (let i = 0; i < candidates.length; i++) {
      const name = candidates[i]!;
      if (typeof name !== 'string' || !matches(IDENTIFIER, name) || SetHas(RESERVED, name) || SetHas(seen, name)) continue;
      SetAdd(seen, name);
      push(wanted, name);
      getters += `${name}: () => ${name}, `;
    }
    const code = `${source}\n;(() => ({ __proto__: null, ${getters}}))();\n//# sourceURL=${scriptFilename}`;
    let thunks: Record<string, () => unknown>;
    try {
      thunks = indirectEval(code) as Record<string, () => unknown>;
    } catch (e) {
      return failure(e);
    }
    const names = newList<string>();
    for (let i = 0; i < wanted.length; i++) {
      const name = wanted[i]!;
      try {
        const get = thunks[name]!;
        const value = get();
        if (typeof value !== 'function' || isSandboxGlobal(name, value)) continue;
        MapSet(fns, name, get);
        push(names, name);
      } catch {
        // declared but not initialised, or not a binding of the script
      }
    }
    return { kind: 'ok', value: names, logs: takeLogs() };
  } catch {
    return { kind: 'threw', name: 'Error', message: 'the sandbox could not load the script', report: '', code: null, logs: takeLogs() };
  }
}
