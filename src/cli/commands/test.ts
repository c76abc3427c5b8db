import type { Command } from 'commander';
import { contextOf } from '../context.js';
import { clip, note, type Streams } from '../output.js';
import { argsFields, callInput, callOptions, showCall, type CallFlags } from './call.js';

export function registerTest(program: Command, io: Streams): void {
  callOptions(
    program
      .command('test')
      .summary('run a model version on data, without deploying it')
      .description(
        'Run a model version on --data or --file (POST /api/v1/test). Without either, on the version\'s stored sample (the first row of its x_test, else zeros of each input\'s shape): the payload the SDK\'s testEndpoint answers.',
      )
      .argument('<model>', 'the model name')
      .option('-v, --version <version>', 'the model version', 'latest'),
  ).action(async (model: string, flags: CallFlags & { version: string }, command: Command) => {
    const ctx = contextOf(command, io);
    const { args, files } = callInput(flags);
    let answer;
    if (files !== undefined) {
      answer = await ctx.client.testFiles(model, flags.version, files, argsFields(args));
    } else if (args !== undefined) {
      answer = await ctx.client.test({ ...args, X: args.X, model_name: model, model_version: flags.version });
    } else {
      const endpoint = await ctx.client.testEndpoint(model, flags.version);
      if (!ctx.json) note(io, `testing ${model} version ${endpoint.payload.args.model_version} on ${clip(endpoint.payload.args.X)}`);
      answer = await ctx.client.test(endpoint.payload.args);
    }
    showCall(ctx, answer);
  });
}
