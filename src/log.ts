import { pino, type DestinationStream, type Logger as PinoLogger } from 'pino';

export type Logger = PinoLogger;

/** Paths never written to the log: tokens travel in these. */
export const REDACT_PATHS = ['req.headers.authorization', 'headers.authorization', 'token', 'access_token', 'adminToken'];

/**
 * The one logger factory. Tests pass an in-memory destination and assert on the JSON lines.
 */
export function createLogger(options: { level: string; name?: string }, destination?: DestinationStream): Logger {
  return pino(
    {
      level: options.level,
      base: options.name === undefined ? { pid: process.pid } : { pid: process.pid, proc: options.name },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    },
    destination,
  );
}
