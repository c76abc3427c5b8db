import { Command } from 'commander';
import { PACKAGE_VERSION } from '../package-info.js';
import { registerDelete } from './commands/delete.js';
import { registerDeploy } from './commands/deploy.js';
import { registerDeployments } from './commands/deployments.js';
import { registerLabels } from './commands/labels.js';
import { registerModels } from './commands/models.js';
import { registerPredict } from './commands/predict.js';
import { registerPublish } from './commands/publish.js';
import { registerScript } from './commands/script.js';
import { registerServe } from './commands/serve.js';
import { registerTest } from './commands/test.js';
import { globalOptions } from './context.js';
import { report } from './errors.js';
import type { Streams } from './output.js';

/** The `inferbox` command line (docs/cli.md). */
export function createProgram(io: Streams): Command {
  const program = new Command('inferbox')
    .description('Publish, test, deploy and call models on an inferbox server, or start one (inferbox serve).')
    .version(PACKAGE_VERSION, '-V, --version', 'print the inferbox version')
    // Program flags stop at the command's name: `inferbox test iris --version 2` is the model's version.
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
    })
    .showHelpAfterError('(add --help for usage)')
    .addHelpText('after', '\nServer and token: --url and --token, or INFERBOX_URL and INFERBOX_TOKEN. Exit codes: 0 ok, 1 the server refused, 2 usage, 3 cannot connect.');
  globalOptions(program);

  registerServe(program, io);
  registerPublish(program, io);
  registerModels(program, io);
  registerTest(program, io);
  registerScript(program, io);
  registerDeploy(program, io);
  registerDeployments(program, io);
  registerLabels(program, io);
  registerPredict(program, io);
  registerDelete(program, io);

  // Every command that calls the server takes the global flags after its name too.
  const leaves = (c: Command): Command[] => (c.commands.length === 0 ? [c] : c.commands.flatMap(leaves));
  for (const command of program.commands.flatMap(leaves)) if (command.name() !== 'serve') globalOptions(command);
  return program;
}

/** Runs one command line (without `node` and the script) and answers the exit code. */
export async function run(argv: readonly string[], io: Streams): Promise<number> {
  try {
    await createProgram(io).parseAsync([...argv], { from: 'user' });
    return 0;
  } catch (err) {
    return report(io, err);
  }
}
