/**
 * Errors the sandbox makes, and `failure`: any thrown value described as a 'rejected' or 'threw'
 * envelope. Every property of a thrown value is read here, inside the call's time limit, because
 * an exception that escaped to the host would be read by isolated-vm (user getters,
 * Error.prepareStackTrace) with no timeout. Which errors are ours is kept in weak collections,
 * not on the errors, so a script cannot forge or strip the marks.
 */
import type { PreludeEnvelope } from './api.js';
import { scriptFrames, takeLogs } from './console.js';
import { inspectValue } from './format.js';
import {
  ErrorCtor, isObjectLike, JSONParse, ObjectDefineProperty, StringCtor, StringSlice, WeakMapGet, WeakMapSet, WeakSetAdd, WeakSetHas,
} from './intrinsics.js';

/** Errors thrown by fail(): the script's deliberate refusal, answered as 'rejected' with no stack. */
const rejections = new WeakSet<object>();
/** Errors of failed host calls (model.run, image): their server code, kept where the script cannot change it. */
const bridgeCodes = new WeakMap<object, string>();
/** Their details as the host gave them (JSON text), kept the same way: the script's copy is `err.details`. */
const bridgeDetails = new WeakMap<object, string>();
/** Failures of the flow's own steps (not of a script function): the host's code, no stack report. */
const flowFailures = new WeakSet<object>();

/**
 * A failed host call as the script sees it: an Error with the server's code, and its details (e.g.
 * `{ input, expected, got }`) when the host gave some as JSON text; the script may catch it.
 */
export function bridgeError(code: string, message: string, details?: unknown): Error {
  const error = new ErrorCtor(message);
  ObjectDefineProperty(error, 'code', { value: code, writable: true, configurable: true, enumerable: true });
  WeakMapSet(bridgeCodes, error, code);
  if (typeof details === 'string') {
    try {
      // The script's own copy, which it may change; the host's text is what travels back.
      ObjectDefineProperty(error, 'details', { value: JSONParse(details), writable: true, configurable: true, enumerable: true });
      WeakMapSet(bridgeDetails, error, details);
    } catch {
      // not JSON: the error goes without details
    }
  }
  return error;
}
export function flowFailure(code: string, message: string, details?: unknown): Error {
  const error = bridgeError(code, message, details);
  WeakSetAdd(flowFailures, error);
  return error;
}
/** The script's `fail(message)` global. */
export function fail(message: unknown): never {
  const error = new ErrorCtor(StringCtor(message));
  WeakSetAdd(rejections, error);
  throw error;
}
function cap(s: string, max: number): string {
  return s.length > max ? `${StringSlice(s, 0, max)}…` : s;
}

/** What `e`, thrown or rejected by the script (or by the flow), tells the host. Never throws. */
export function failure(e: unknown): PreludeEnvelope {
  try {
    if (isObjectLike(e) && WeakSetHas(rejections, e)) {
      return { kind: 'rejected', message: cap(StringCtor((e as Error).message), 4000), logs: takeLogs() };
    }
  } catch {
    // a rejection whose message cannot be read is described like any other throw
  }
  let name = 'Error';
  let message = 'the script threw a value that could not be described';
  let frames = '';
  let code: string | null = null;
  let details: string | null = null;
  try {
    if (isObjectLike(e)) {
      code = WeakMapGet(bridgeCodes, e) ?? null;
      details = WeakMapGet(bridgeDetails, e) ?? null;
    }
    if (e instanceof ErrorCtor) {
      name = cap(StringCtor(e.name), 200);
      message = cap(StringCtor(e.message), 4000);
      const stack = e.stack;
      if (typeof stack === 'string') frames = scriptFrames(stack);
    } else {
      message = cap(inspectValue(e, 4000), 4000);
    }
  } catch {
    // keep the generic description
  }
  const report = frames === '' ? `${name}: ${message}` : `${name}: ${message}\n${frames}`;
  return { kind: 'threw', name, message, report: isObjectLike(e) && WeakSetHas(flowFailures, e) ? '' : report, code, details, logs: takeLogs() };
}

