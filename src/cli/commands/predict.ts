import type { Command } from 'commander';
import { contextOf } from '../context.js';
import type { Streams } from '../output.js';
import { argsFields, callInput, callOptions, showCall, type CallFlags } from './call.js';

export function registerPredict(program: Command, io: Streams): void {
  callOptions(
    program
      .command('predict')
      .summary('call a deployment')
      .description(
        'Call a deployment (POST /api/v1/svc/<deployment>/<function>) with --data, --file or both; --token (or INFERBOX_TOKEN) is the deployment\'s token or the admin token.',
      )
      .argument('<deployment>', 'the deployment name')
      .option('--function <name>', 'the function to call: predict, or one the deployment\'s script defines', 'predict')
      .option('--debug', 'show what the script printed (?debug=true)'),
  ).action(async (deployment: string, flags: CallFlags & { function: string; debug?: boolean }, command: Command) => {
    const ctx = contextOf(command, io);
    const { args, files } = callInput(flags);
    const call = { fn: flags.function, ...(flags.debug ? { debug: true } : {}) };
    const answer =
      files !== undefined
        ? await ctx.client.predictFiles(deployment, files, { ...call, fields: argsFields(args) })
        : await ctx.client.predict(deployment, args ?? {}, call);
    showCall(ctx, answer);
  });
}
