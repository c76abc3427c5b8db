/**
 * The predict flow in one isolate entry: [preprocess_files ->] prepare -> model -> postprocess.
 * One call per request instead of one per step saves host round trips and copies; steps run
 * synchronously while the script's functions do, and go asynchronous only when one returns a
 * thenable or the host answers the model step later. Failures of the flow's own checks are
 * flowFailures: they carry the host's code and no stack (the script did not throw them).
 */
// The hook names come from the one list (plain frozen strings: see src/model/hook-names.ts).
import { HOOK } from '../../src/model/hook-names.js';
import type { FlowRows, HostFailure } from './api.js';
import { copyOut, copyWasJson } from './copy-out.js';
import { flowFailure } from './errors.js';
import { wrapFiles } from './files.js';
import { inferLater, inferNow } from './host-calls.js';
import {
  ArrayIsArray, ArrayJoin, isObjectLike, JSONParse, JSONStringify, newList, ObjectCreate, ObjectKeys, PromiseCtor, PromiseThen,
  push, ReflectApply, SetAdd, SetCtor, SetHas, StringCtor,
} from './intrinsics.js';
import { scriptFunctionValue } from './load.js';

export const isThenable = (v: unknown): boolean => isObjectLike(v) && typeof (v as { then?: unknown }).then === 'function';
const rethrow = (e: unknown): never => {
  throw e;
};
/** `next(value)` now, or once `value` settles when it is a thenable (the flow then goes on asynchronously). */
function andThen(value: unknown, next: (v: unknown) => unknown): unknown {
  if (!isThenable(value)) return next(value);
  return PromiseThen(new PromiseCtor<unknown>((resolve) => resolve(value)), next, rethrow);
}
function scriptFunction(name: string): (arg: unknown) => unknown {
  const fn = scriptFunctionValue(name);
  if (typeof fn !== 'function') throw flowFailure('FUNCTION_NOT_FOUND', `the script defines no function "${name}"`);
  return fn as (arg: unknown) => unknown;
}
function describe(v: unknown): string {
  if (ArrayIsArray(v)) return 'an array';
  if (typeof v === 'function') return 'a function';
  return typeof v === 'symbol' ? 'a symbol' : StringCtor(v);
}
/** A step before the model must hand on the args object (with X). */
function argsFrom(fnName: string, value: unknown): unknown {
  if (typeof value === 'object' && value !== null && !ArrayIsArray(value)) return value;
  throw flowFailure('SCRIPT_FAILED', `${fnName}(args) must return the args object (with X), got ${describe(value)}`);
}
/** The model step: synchronous inside the host's call when it says so, else an asynchronous host call. */
function runModel(fnName: string, prepared: unknown): unknown {
  const copy = copyOut(fnName, prepared);
  const payload = copyWasJson() ? JSONStringify(copy) : copy;
  const answer = inferNow(payload);
  if (answer === null) return inferLater(payload);
  const rows = (typeof answer === 'string' ? JSONParse(answer) : answer) as FlowRows | HostFailure;
  if ('code' in rows) throw flowFailure(rows.code, rows.message, rows.details);
  return rows;
}
/** postprocess's answer as a result record: an array zips with the output names, an object is kept. */
function toRecord(value: unknown, names: string[]): unknown {
  if (ArrayIsArray(value)) {
    if (value.length !== names.length) {
      const message = `postprocess returned an array of ${value.length} items for ${names.length} output(s) (${ArrayJoin(names, ', ')}); return one item per output, or an object`;
      throw flowFailure('SCRIPT_FAILED', message);
    }
    const record = ObjectCreate(null) as Record<string, unknown>;
    for (let i = 0; i < names.length; i++) record[names[i]!] = value[i];
    return record;
  }
  if (value !== null && typeof value === 'object') return value;
  if (names.length === 1) {
    const record = ObjectCreate(null) as Record<string, unknown>;
    record[names[0]!] = value;
    return record;
  }
  throw flowFailure('SCRIPT_FAILED', `postprocess returned ${describe(value)}; with ${names.length} outputs return an array (one item per output) or an object`);
}
/** Results the way the request came: records, or `{ columns, data }` (as orient in src/api/records.ts). */
function orient(records: unknown[], split: boolean): unknown {
  if (!split) return records;
  const columns = newList<string>();
  const seen = new SetCtor<string>();
  for (let i = 0; i < records.length; i++) {
    const keys = ObjectKeys(records[i] as object);
    for (let k = 0; k < keys.length; k++) {
      if (SetHas(seen, keys[k]!)) continue;
      SetAdd(seen, keys[k]!);
      push(columns, keys[k]!);
    }
  }
  const data = newList<unknown[]>();
  for (let i = 0; i < records.length; i++) {
    const row = newList<unknown>();
    for (let c = 0; c < columns.length; c++) push(row, (records[i] as Record<string, unknown>)[columns[c]!] ?? null);
    push(data, row);
  }
  const table = ObjectCreate(null) as Record<string, unknown>;
  table['columns'] = columns;
  table['data'] = data;
  return table;
}
/** postprocess per row, in order; synchronous until a call returns a thenable, then one row at a time. */
function postprocessRows(rows: unknown, post: (row: unknown) => unknown): unknown {
  const list = rows as unknown[];
  const out = newList<unknown>();
  const from = (start: number): unknown => {
    for (let i = start; i < list.length; i++) {
      const value = ReflectApply(post, undefined, [list[i]]);
      if (isThenable(value)) {
        return andThen(value, (settledValue) => {
          out[i] = settledValue;
          return from(i + 1);
        });
      }
      out[i] = value;
    }
    return out;
  };
  return from(0);
}
/** The flow for one request's `input` (the args, just copied in); its value or a promise of it. */
export function runFlow(input: unknown, files: boolean, prepare: string | null, postprocess: boolean): unknown {
  wrapFiles(input);
  const post = postprocess ? scriptFunction(HOOK.postprocess) : null;
  const first = files ? ReflectApply(scriptFunction(HOOK.preprocessFiles), undefined, [input]) : input;
  return andThen(first, (afterFiles) => {
    const args = files ? argsFrom(HOOK.preprocessFiles, afterFiles) : afterFiles;
    const prepared = prepare === null ? args : ReflectApply(scriptFunction(prepare), undefined, [args]);
    return andThen(prepared, (value) => {
      const step = prepare ?? (files ? HOOK.preprocessFiles : 'args');
      return andThen(runModel(step, argsFrom(step, value)), (answer) => {
        const { rows, names, split } = answer as FlowRows;
        if (post === null) return orient(rows, split);
        return andThen(postprocessRows(rows, post), (values) => {
          const records = newList<unknown>();
          for (let i = 0; i < (values as unknown[]).length; i++) push(records, toRecord((values as unknown[])[i], names));
          return orient(records, split);
        });
      });
    });
  });
}
