import type { Command } from 'commander';
import { contextOf } from '../context.js';
import { print, type Streams } from '../output.js';

export function registerDelete(program: Command, io: Streams): void {
  const del = program.command('delete').summary('delete a model (or one version) or a deployment').description('Delete a model, one of its versions, or a deployment. Nothing asks for confirmation.');

  del
    .command('model')
    .description('Delete a model and all its versions, or one version with --version (refused with MODEL_IN_USE while a deployment serves it).')
    .argument('<name>', 'the model name')
    .option('-v, --version <version>', 'delete only this version')
    .action(async (name: string, flags: { version?: string }, command: Command) => {
      const ctx = contextOf(command, io);
      if (flags.version !== undefined) await ctx.client.deleteVersion(name, flags.version);
      else await ctx.client.deleteModel(name);
      if (!ctx.json) print(io, flags.version !== undefined ? `deleted model ${name} version ${flags.version}` : `deleted model ${name} (all versions)`);
    });

  del
    .command('deployment')
    .description('Delete a deployment: its token stops working at once.')
    .argument('<name>', 'the deployment name')
    .action(async (name: string, _flags: object, command: Command) => {
      const ctx = contextOf(command, io);
      await ctx.client.deleteDeployment(name);
      if (!ctx.json) print(io, `deleted deployment ${name}`);
    });
}
