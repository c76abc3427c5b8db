/**
 * The prelude: bundled by sandbox/build.mjs into dist/sandbox/prelude.js, compiled once into every
 * isolate and run in its one context before the user's script. Evaluating the bundle runs every
 * module's top level (intrinsics.ts captures the built-ins there) and its completion value is
 * the default export below, the setup function the host calls once (sandbox-host/isolate.ts in
 * the worker). Setup installs the globals of script-api.d.ts and returns the API; only the host
 * holds References to it, and no global leads to it.
 *
 * Rules every module keeps, because user code shares the context:
 * - built-ins are captured before the user script runs (intrinsics.ts), so a script that patches
 *   Array.prototype or Promise.prototype.then can break its own calls but not this plumbing;
 * - everything handed back to the host is "clean": primitives, typed arrays, and objects/arrays
 *   built here with only own data properties (null prototypes), so copying it out of the isolate
 *   never runs user code (isolated-vm copies results outside the call's timeout; copy-out.ts);
 * - no exception escapes to the host: isolated-vm would read its message/stack (user getters,
 *   Error.prepareStackTrace) with no timeout. The API methods below catch whatever they might throw.
 */
import type { EndCall, FlowCall, ImageNow, InferSync, PreludeApi, PreludeEnvelope, PreludeOptions, StartImage, StartInfer, StartRun } from './api.js';
import { configureConsole, resetLogs, takeLogs } from './console.js';
import { settled, settledSafely } from './copy-out.js';
import { failure } from './errors.js';
import { wrapFiles } from './files.js';
import { isThenable, runFlow } from './flow.js';
import { HOOK } from '../../src/model/hook-names.js';
import { createScriptModel, installGlobals } from './globals.js';
import { connectHost, resolveHost, setCallOpen } from './host-calls.js';
import { isObjectLike, JSONParse, PromiseCtor, PromiseThen, ReflectApply } from './intrinsics.js';
import { load, scriptFunctionValue } from './load.js';

let endCall: EndCall;
/** Numbers the calls that answer a promise, so the host matches each end it is told of with its call. */
let callSeq = 0;
/** The call's answer, once its function has answered (see setCallOpen). */
function closed(envelope: PreludeEnvelope): PreludeEnvelope {
  setCallOpen(false);
  return envelope;
}
/**
 * A call whose function answered a promise: its end goes to the host (endCall) when the promise
 * settles, from whichever entry settles it; within the call's own entry when the script's awaits all
 * resolve there (host calls answered inside it, microtasks), so the host waits on no entry of its own.
 */
function pendingEnd(promise: Promise<unknown>, fnName: string): PreludeEnvelope {
  const call = ++callSeq;
  PromiseThen(
    promise,
    (value) => tellEnd(call, settledSafely(fnName, value)),
    (e) => tellEnd(call, settledSafely(fnName, e, true)),
  );
  return { kind: 'pending', call };
}
/** Never throws: a throw here would reject a promise nobody handles, which isolated-vm reports. */
function tellEnd(call: number, envelope: PreludeEnvelope): void {
  try {
    if (call === callSeq) setCallOpen(false);
    endCall(call, envelope);
  } catch {
    try {
      endCall(call, { kind: 'threw', name: 'Error', message: 'the sandbox could not complete the call', report: '', code: null, logs: takeLogs() });
    } catch {
      // the host's deadline ends the call
    }
  }
}

export default function inferboxPrelude(
  info: InferboxModelInfo,
  options: PreludeOptions,
  startRun: StartRun,
  startImage: StartImage,
  inferSync: InferSync,
  startInfer: StartInfer,
  imageNow: ImageNow,
  end: EndCall,
): PreludeApi {
  endCall = end;
  configureConsole(options);
  connectHost(startRun, startImage, inferSync, startInfer, imageNow);
  installGlobals(createScriptModel(info));
  const scriptFilename = options.scriptFilename;

  return {
    dispatch(name, args, lines, bytes, truncated) {
      try {
        resetLogs(lines, bytes, truncated);
        setCallOpen(true);
        let result: unknown;
        try {
          const fn = scriptFunctionValue(name);
          if (typeof fn !== 'function') return closed({ kind: 'missing', logs: takeLogs() });
          if (typeof args === 'string') args = JSONParse(args) as unknown[];
          if (args.length > 0) wrapFiles(args[0]);
          result = ReflectApply(fn, undefined, args);
          if (!isObjectLike(result) || typeof (result as { then?: unknown }).then !== 'function') return closed(settled(name, result));
        } catch (e) {
          return closed(failure(e));
        }
        return pendingEnd(new PromiseCtor<unknown>((resolve) => resolve(result)), name);
      } catch {
        setCallOpen(false);
        return { kind: 'threw', name: 'Error', message: 'the sandbox could not complete the call', report: '', code: null, logs: takeLogs() };
      }
    },
    flow(call) {
      try {
        const c = typeof call === 'string' ? (JSONParse(call) as FlowCall) : call;
        resetLogs(c[1], c[2], c[3]);
        setCallOpen(true);
        let result: unknown;
        try {
          result = runFlow(c[0], c[4], c[5], c[6]);
          if (!isThenable(result)) return closed(settled(HOOK.postprocess, result));
        } catch (e) {
          return closed(failure(e));
        }
        return pendingEnd(result as Promise<unknown>, HOOK.postprocess);
      } catch {
        setCallOpen(false);
        return { kind: 'threw', name: 'Error', message: 'the sandbox could not complete the call', report: '', code: null, logs: takeLogs() };
      }
    },
    drain: takeLogs,
    load: (source, candidates, lines, bytes) => load(source, candidates, lines, bytes, scriptFilename),
    resolveHost,
  };
}
