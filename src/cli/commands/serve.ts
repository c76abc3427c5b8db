import { Option, type Command } from 'commander';
import { CONFIG_KEYS, flagOf } from '../../config.js';
import type { Streams } from '../output.js';

/**
 * `inferbox serve`: the server, as `npm start` runs it, with the same flags and environment
 * (docs/config.md). The flags are declared here for --help and handed to the server's own parser.
 */
export function registerServe(program: Command, _io: Streams): void {
  const serve = program
    .command('serve')
    .summary('start the inferbox server (what npm start runs)')
    .description('Start the server: the REST API and the web console. Each flag overrides its environment variable (docs/config.md); SIGTERM or Ctrl-C drains and stops it.');
  const flags: { option: Option; flag: string }[] = [];
  for (const [key, spec] of Object.entries(CONFIG_KEYS)) {
    const flag = flagOf(spec.env);
    const option = new Option(`--${flag} <value>`, `${key} (env ${spec.env}, default ${JSON.stringify(spec.default)})`);
    serve.addOption(option);
    flags.push({ option, flag });
  }
  serve.action(async (options: Record<string, string | undefined>) => {
    const argv: string[] = [];
    for (const { option, flag } of flags) {
      const value = options[option.attributeName()];
      if (value !== undefined) argv.push(`--${flag}`, value);
    }
    // Loaded only here: the other commands never load the server.
    const { serve: start } = await import('../../main.js');
    await start(argv, process.env);
  });
}
