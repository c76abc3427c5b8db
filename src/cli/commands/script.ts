import { readFile, writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Command } from 'commander';
import type { PredictResponse } from '../../api/types.js';
import { ApiError } from '../../client/errors.js';
import { contextOf } from '../context.js';
import { UsageError } from '../errors.js';
import { readText } from '../inputs.js';
import { note, print, type Streams } from '../output.js';
import { callInput, callOptions, showCall, type CallFlags } from './call.js';

const enc = encodeURIComponent;

export function registerScript(program: Command, io: Streams): void {
  const script = program
    .command('script')
    .summary('a model version\'s custom script: template, pull, push, test')
    .description('Work on the JavaScript (or TypeScript) script a model version runs around inference (docs/scripts.md).');

  script
    .command('template')
    .description('Print a starting script generated for the version: its inputs and outputs, and every hook.')
    .argument('<model>', 'the model name')
    .option('-v, --version <version>', 'the model version', 'latest')
    .action(async (model: string, flags: { version: string }, command: Command) => {
      const ctx = contextOf(command, io);
      const text = await ctx.client.scriptTemplate(model, flags.version);
      print(io, text);
    });

  script
    .command('pull')
    .description('Print the version\'s saved script, or write it to <file>.')
    .argument('<model>', 'the model name')
    .argument('[file]', 'where to write it (default: stdout)')
    .option('-v, --version <version>', 'the model version', 'latest')
    .action(async (model: string, file: string | undefined, flags: { version: string }, command: Command) => {
      const ctx = contextOf(command, io);
      const text = await ctx.client.getScript(model, flags.version);
      if (text === null) throw new ApiError(404, 'SCRIPT_NOT_FOUND', `model "${model}" version ${flags.version} has no saved script`);
      if (file === undefined) return print(io, text);
      try {
        await writeFile(file, text.endsWith('\n') ? text : `${text}\n`);
      } catch (err) {
        throw new UsageError(`cannot write ${file}: ${(err as Error).message}`);
      }
      if (!ctx.json) note(io, `wrote the script of ${model} version ${flags.version} to ${file}`);
    });

  script
    .command('push')
    .description('Check a script (JavaScript or TypeScript) and save it with the version; a script that cannot run is refused (SCRIPT_INVALID).')
    .argument('<model>', 'the model name')
    .argument('<file>', 'the script file (- for stdin)')
    .option('-v, --version <version>', 'the model version', 'latest')
    .action(async (model: string, file: string, flags: { version: string }, command: Command) => {
      const ctx = contextOf(command, io);
      const text = readText(file, 'script push');
      const answer = await ctx.client.saveScript(model, flags.version, text);
      ctx.show(
        answer,
        () => `saved ${file === '-' ? 'the script' : basename(file)} with ${answer.model_name} version ${answer.model_version}: ${answer.bytes} bytes, functions ${answer.functions.join(', ') || '(none)'}`,
      );
    });

  callOptions(
    script
      .command('test')
      .description('Run a script once on the version, without saving or deploying it: <file>, or the saved script without one; with --data and/or --file.')
      .argument('<model>', 'the model name')
      .argument('[file]', 'the script file (default: the saved script)')
      .option('-v, --version <version>', 'the model version', 'latest')
      .option('--function <name>', 'the function to call', 'predict'),
  ).action(async (model: string, file: string | undefined, flags: CallFlags & { version: string; function: string }, command: Command) => {
    const ctx = contextOf(command, io);
    const text = file !== undefined ? readText(file, 'script test') : undefined;
    const { args, files } = callInput(flags);
    let answer: PredictResponse;
    if (files === undefined) {
      answer = await ctx.client.testScript(model, flags.version, { ...(text !== undefined ? { script: text } : {}), fn: flags.function, args: args ?? {} });
    } else {
      // A form with every arg (the SDK's testScript sends only X beside files).
      const form = new FormData();
      form.set('function', flags.function);
      if (text !== undefined) form.set('script', text);
      if (args !== undefined && Object.keys(args).length > 0) form.set('args', JSON.stringify(args));
      for (const [field, path] of Object.entries(files)) form.set(field, new Blob([await readFile(path)]), basename(path));
      answer = await ctx.client.request('POST', `/api/v1/models/${enc(model)}/versions/${enc(flags.version)}/script/test`, form);
    }
    showCall(ctx, answer);
  });
}
