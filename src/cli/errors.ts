import { CommanderError } from 'commander';
import { ApiError, ConnectionError } from '../client/errors.js';
import { note, type Streams } from './output.js';

/** Exit codes (docs/cli.md#exit-codes). */
export const EXIT = {
  ok: 0,
  /** The server answered an error (ApiError), or something unexpected failed. */
  refused: 1,
  /** Bad command line: unknown command or flag, missing argument, unreadable file, bad JSON or CSV. */
  usage: 2,
  /** The server could not be reached. */
  connect: 3,
} as const;

/** A mistake in the command line or its files, found before anything is sent: exit 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/**
 * Prints `error: ...` on stderr and answers the exit code. A server error reads
 * `error: CODE: message`, then the field it names (`details.field`), then what a script printed
 * (`details.stdout`/`details.stderr`), tagged as with `--debug`.
 */
export function report(streams: Streams, err: unknown): number {
  if (err instanceof CommanderError) {
    // commander printed its own "error: ..." line (or the help) already.
    return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
  }
  if (err instanceof ApiError) {
    const field = typeof err.details?.field === 'string' ? ` (field: ${err.details.field})` : '';
    note(streams, `error: ${err.code}: ${err.message}${field}`);
    for (const name of ['stdout', 'stderr'] as const) {
      const lines = err.details?.[name];
      if (Array.isArray(lines)) for (const line of lines) note(streams, `[script ${name}] ${String(line)}`);
    }
    return EXIT.refused;
  }
  if (err instanceof ConnectionError) {
    note(streams, `error: ${err.message}`);
    return EXIT.connect;
  }
  if (err instanceof UsageError) {
    note(streams, `error: ${err.message}`);
    return EXIT.usage;
  }
  note(streams, `error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  return EXIT.refused;
}
