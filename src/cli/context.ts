import { Option, type Command } from 'commander';
import { Client } from '../client/client.js';
import { print, printJson, type Streams } from './output.js';

export const DEFAULT_URL = 'http://localhost:8080';

/** The global flags: where the server is, the token, the output form. */
export interface GlobalOptions {
  readonly url: string;
  readonly token?: string;
  readonly json?: boolean;
}

const GLOBAL_KEYS = ['url', 'token', 'json'] as const;

/**
 * Adds --url, --token and --json to a command. The program has them (before the command) and so
 * does each command (after it): program options stop at the command's name, so that a command's
 * own flags (e.g. `--version` of a model) never reach the program's.
 */
export function globalOptions(command: Command): Command {
  return command
    .addOption(new Option('--url <url>', 'the inferbox server').env('INFERBOX_URL').default(DEFAULT_URL))
    .addOption(new Option('--token <token>', 'the admin token, or a deployment\'s token for predict').env('INFERBOX_TOKEN'))
    .addOption(new Option('--json', 'print the server\'s JSON answers, for scripts'));
}

/** The global flags of a call: a flag after the command wins, then one before it, then env and defaults. */
export function globalsOf(command: Command): GlobalOptions {
  let root = command;
  while (root.parent) root = root.parent;
  const values: Record<string, unknown> = {};
  for (const key of GLOBAL_KEYS) {
    const from = [command, root].find((c) => c.getOptionValueSource(key) === 'cli') ?? command;
    values[key] = from.getOptionValue(key);
  }
  return values as unknown as GlobalOptions;
}

/** What a command's action works with. */
export interface Context {
  readonly client: Client;
  readonly json: boolean;
  readonly io: Streams;
  /** `--json`: the raw answer; otherwise `human()`'s text, when it has any. */
  show(answer: unknown, human: () => string | undefined): void;
}

export function contextOf(command: Command, io: Streams): Context {
  const globals = globalsOf(command);
  const token = globals.token !== undefined && globals.token !== '' ? globals.token : undefined;
  const client = new Client({ baseUrl: globals.url, ...(token !== undefined ? { token } : {}) });
  const json = globals.json === true;
  return {
    client,
    json,
    io,
    show(answer, human) {
      if (json) return printJson(io, answer);
      const text = human();
      if (text !== undefined && text !== '') print(io, text);
    },
  };
}
