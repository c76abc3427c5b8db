/**
 * Failures of a sandbox call -> ServeError. Two sources:
 * - the prelude's envelope (the script threw, called fail(), or lacks the function): plain data;
 * - isolated-vm's host-side errors (timeout, memory limit, disposal, copy failures): host Error
 *   objects with string messages. Nothing here reads a value the user's code could have built.
 */
import { ServeError, isErrorCode } from '../../errors.js';
import type { SandboxLimits } from './types.js';

// A type literal (not an interface) so it fits ServeError's details record.
export type CallOutput = {
  stdout: string[];
  stderr: string[];
};

/** How the sandbox itself ended the isolate during a call, if it did. */
export type Ending = 'none' | 'timeout' | 'disposed' | 'memory';

export type EnvelopeFailure =
  | { kind: 'missing' }
  | { kind: 'rejected'; message: string }
  | { kind: 'threw'; name: string; message: string; code: string | null; details: Readonly<Record<string, unknown>> | null };

export function messageOf(err: unknown): string {
  if (err instanceof Error && typeof err.message === 'string') return err.message;
  return typeof err === 'string' ? err : 'unknown error';
}

const TIMED_OUT = /timed out/i;
const MEMORY_LIMIT = /memory limit/i;
const NOT_CLONEABLE = /could not be cloned/i;

/**
 * An isolated-vm error thrown on the host while running `what`: a call ("spin()") or a predict flow
 * ("prepare() → postprocess()").
 */
export function classifyIsolateFailure(
  err: unknown,
  at: { what: string; limits: SandboxLimits; ending: Ending; isolateDisposed: boolean; output: CallOutput },
): ServeError {
  const message = messageOf(err);
  const details = { stdout: at.output.stdout, stderr: at.output.stderr };
  const options = { cause: err };
  if (at.ending === 'timeout' || (at.ending === 'none' && TIMED_OUT.test(message))) {
    return new ServeError('SCRIPT_TIMEOUT', `${at.what} ran past its ${at.limits.timeoutMs} ms time limit`, details, options);
  }
  if (at.ending === 'memory' || MEMORY_LIMIT.test(message) || (at.ending === 'none' && at.isolateDisposed)) {
    const text = `${at.what} reached the sandbox memory limit of ${at.limits.memoryLimitMb} MB`;
    return new ServeError('SCRIPT_MEMORY_LIMIT', text, details, options);
  }
  if (at.ending === 'disposed') {
    return new ServeError('INTERNAL', `the sandbox was disposed while ${at.what} ran`, details, options);
  }
  if (NOT_CLONEABLE.test(message)) {
    return new ServeError('INTERNAL', `the arguments of ${at.what} cannot be copied into the sandbox: ${message}`, details, options);
  }
  // The prelude answers every outcome of a call as an envelope and never throws: what isolated-vm
  // throws besides the limits is a promise the script rejected and left unhandled, which it reports
  // at the end of the entry in place of the call's answer (the message is the script's own).
  return new ServeError('SCRIPT_FAILED', `${at.what} left a rejected promise unhandled: ${message}`, details, options);
}

/**
 * V8's RangeErrors for an allocation the isolate's memory limit refused: isolated-vm's array
 * buffer allocator refuses past the limit (typed arrays, ArrayBuffers; also inside the prelude's
 * own copies), and V8 throws a catchable RangeError instead of disposing the isolate. A script
 * that keeps such memory in a global would then fail every call for ever, so these count as the
 * memory limit. A script that throws this RangeError itself only gets its own isolate replaced.
 */
const ALLOCATION_FAILED = /^Array buffer allocation failed/;

export function isAllocationFailure(failure: { name: string; message: string }): boolean {
  return failure.name === 'RangeError' && ALLOCATION_FAILED.test(failure.message);
}

/** A failed call of `what` as the prelude reported it. `output.stderr` already holds the script's stack. */
export function classifyEnvelope(failure: EnvelopeFailure, what: string, output: CallOutput): ServeError {
  const details = { stdout: output.stdout, stderr: output.stderr };
  switch (failure.kind) {
    case 'missing':
      return new ServeError('FUNCTION_NOT_FOUND', `the script defines no function ${what}`, details);
    case 'rejected':
      return new ServeError('SCRIPT_REJECTED', failure.message, details);
    case 'threw':
      // Only errors made by the bridge carry a code (the prelude brands them); keep the host's code,
      // and its details (as without a script); the call's own output wins over a key of theirs.
      if (failure.code !== null && isErrorCode(failure.code)) return new ServeError(failure.code, failure.message, { ...failure.details, ...details });
      return new ServeError('SCRIPT_FAILED', failure.message, { ...details, errorName: failure.name });
  }
}

const SYNTAX_POSITION = /\s*\[([^\]]*):(\d+):(\d+)\]$/;

/** A compile error of the user's script: "Unexpected token ';' [script.js:2:13]" -> line and column. */
export function classifySyntaxError(err: unknown): ServeError {
  const raw = messageOf(err);
  const match = SYNTAX_POSITION.exec(raw);
  const name = err instanceof Error && typeof err.name === 'string' ? err.name : 'SyntaxError';
  if (match === null) {
    return new ServeError('SCRIPT_INVALID', `${name}: ${raw}`, { stdout: [], stderr: [] }, { cause: err });
  }
  const line = Number(match[2]);
  const column = Number(match[3]);
  const text = `${name} at line ${line}, column ${column}: ${raw.slice(0, match.index)}`;
  return new ServeError('SCRIPT_INVALID', text, { line, column, stdout: [], stderr: [] }, { cause: err });
}

/** The script's top level threw: the prelude caught and described it (name, message, own stack lines). */
export function classifyLoadFailure(thrown: { name: string; message: string; report: string }, output: CallOutput): ServeError {
  const stderr = thrown.report === '' ? output.stderr : [...output.stderr, thrown.report];
  const text = `the script failed while loading: ${thrown.name}: ${thrown.message}`;
  return new ServeError('SCRIPT_INVALID', text, { stdout: output.stdout, stderr, errorName: thrown.name });
}

/** Anything that went wrong while building a sandbox becomes SCRIPT_INVALID, keeping the output. */
export function asInitFailure(err: ServeError): ServeError {
  if (err.code === 'SCRIPT_INVALID') return err;
  return new ServeError('SCRIPT_INVALID', `init(ctx) failed: ${err.message}`, { ...err.details, reason: err.code }, { cause: err });
}
