import { after } from 'node:test';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { ServeError } from '../../src/errors.js';
import type { Logger } from '../../src/log.js';
import { decodeToTensor, decodeToTensorNow } from '../../src/worker/images/index.js';
import {
  CallPacer,
  Sandbox,
  SandboxReplica,
  type EntryMode,
  type HostBridge,
  type SandboxLimits,
  type SandboxOptions,
  type ScriptModelInfo,
} from '../../src/worker/sandbox-host/index.js';

/**
 * Small memory and log limits keep hostile-script tests fast. The time limit is roomy: a test that
 * is not about it never meets it, even on a machine so loaded that a few milliseconds of script
 * take hundreds. Tests of the time limit run into it on purpose, with TIGHT_LIMITS.
 */
export const TEST_LIMITS: SandboxLimits = { timeoutMs: 2000, memoryLimitMb: 32, maxLogLines: 50, maxLogBytes: 4096, maxResultBytes: 8 * 2 ** 20 };

/** For tests whose script runs into the time limit: each stop costs one limit, so it is short. */
export const TIGHT_LIMITS: SandboxLimits = { ...TEST_LIMITS, timeoutMs: 150 };

export const IRIS_MODEL: ScriptModelInfo = {
  name: 'keras-iris',
  version: '1',
  inputs: [{ name: 'dense_1_input', dtype: 'float32', shape: [-1, 4] }],
  outputs: [{ name: 'dense_4', dtype: 'float32', shape: [-1, 3] }],
};

/** A real pino logger writing JSON lines into memory. */
export function memoryLogger(): { log: Logger; entries: () => Record<string, unknown>[] } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter((l) => l !== ''));
      done();
    },
  });
  return { log: pino({ level: 'debug' }, sink), entries: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

/** A bridge that answers like an iris model (three probabilities per fed row) and decodes images for real. */
export const irisBridge: HostBridge = {
  async runModel(feeds) {
    const rows = feeds['dense_1_input'];
    if (!Array.isArray(rows)) throw new ServeError('INPUT_MISSING', "input 'dense_1_input' has no value");
    return { dense_4: rows.map(() => [0.1, 0.7, 0.2]) };
  },
  decodeImage: (bytes, options, file, sandbox) => decodeToTensor(bytes, options, file, { maxPixels: 40_000_000, sandbox }),
  decodeImageNow: (bytes, options, file, sandbox) => decodeToTensorNow(bytes, options, file, { maxPixels: 40_000_000, sandbox }),
};

/** Both ways a call enters an isolate (see src/worker/sandbox-host/pacer.ts), for suites that run under each. */
export const ENTRY_MODES: readonly EntryMode[] = ['sync', 'async'];

/**
 * Options of a test sandbox. Its calls enter synchronously unless `overrides.pacer` says otherwise:
 * most tests are about what a call does, not how it enters; the suites about limits and the flow
 * run under both modes (ENTRY_MODES), and sandbox-pacing.test.ts tests the adaptive pacer itself.
 */
export function sandboxOptions(script: string, overrides: Partial<SandboxOptions> = {}): SandboxOptions {
  return { script, limits: TEST_LIMITS, model: IRIS_MODEL, bridge: irisBridge, log: memoryLogger().log, pacer: new CallPacer({ mode: 'sync' }), ...overrides };
}

export function createTestSandbox(script: string, overrides: Partial<SandboxOptions> = {}): Promise<Sandbox> {
  return Sandbox.create(sandboxOptions(script, overrides));
}

export function createTestReplica(script: string, overrides: Partial<SandboxOptions> = {}): Promise<SandboxReplica> {
  return SandboxReplica.create(sandboxOptions(script, overrides));
}

/** Runs `work` and returns the ServeError it throws, failing if it resolves or throws anything else. */
export async function serveErrorOf(work: Promise<unknown>): Promise<ServeError> {
  try {
    await work;
  } catch (err) {
    if (err instanceof ServeError) return err;
    throw err;
  }
  throw new Error('expected a ServeError, but the call succeeded');
}

/** The stdout/stderr a sandbox error carries. */
export function outputOf(err: ServeError): { stdout: string[]; stderr: string[] } {
  const details = (err.details ?? {}) as { stdout?: string[]; stderr?: string[] };
  return { stdout: details.stdout ?? [], stderr: details.stderr ?? [] };
}

/**
 * A factory for the current describe block: every sandbox (or replica) it makes is disposed when
 * the block ends. Call it inside `describe`.
 */
export function disposedAfter<T extends { dispose(): void }>(create: (script: string) => Promise<T>): (script: string) => Promise<T> {
  const made: T[] = [];
  after(() => made.forEach((m) => m.dispose()));
  return async (script) => {
    const item = await create(script);
    made.push(item);
    return item;
  };
}

