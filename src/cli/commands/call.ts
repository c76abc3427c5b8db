import { Option, type Command } from 'commander';
import type { PredictResponse } from '../../api/types.js';
import type { Context } from '../context.js';
import { collect, dataArgs, fileFields } from '../inputs.js';
import { result, scriptOutput } from '../output.js';

/** The flags every call command takes for its request body. */
export interface CallFlags {
  data?: string;
  file?: string[];
}

/** Adds --data and --file to a call command. */
export function callOptions(command: Command): Command {
  return command
    .addOption(new Option('-d, --data <json>', 'the arguments, as curl takes a body: JSON text, @file or @- (stdin); {"args": {...}} or the args themselves ({"X": [...]})'))
    .addOption(new Option('-f, --file <input=path>', 'a file sent as a multipart part under that name, e.g. Input3=digit.png (repeatable)').argParser(collect));
}

/** The call's args and files from its flags (files checked readable). */
export function callInput(flags: CallFlags): { args?: Record<string, unknown>; files?: Record<string, string> } {
  const args = flags.data !== undefined ? dataArgs(flags.data) : undefined;
  const files = fileFields(flags.file);
  return { ...(args !== undefined ? { args } : {}), ...(files !== undefined ? { files } : {}) };
}

/** Multipart text fields carrying `args` (the server parses the `args` field as JSON). */
export function argsFields(args: Record<string, unknown> | undefined): Record<string, string> {
  return args !== undefined && Object.keys(args).length > 0 ? { args: JSON.stringify(args) } : {};
}

/** A call's answer: `--json` as it came; otherwise the result, and what a script printed on stderr. */
export function showCall(ctx: Context, answer: PredictResponse): void {
  ctx.show(answer, () => result(answer.result));
  if (!ctx.json) scriptOutput(ctx.io, answer);
}
