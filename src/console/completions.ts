import type { Completion, CompletionContext, CompletionResult } from '@codemirror/autocomplete';
import { snippetCompletion } from '@codemirror/autocomplete';
import api from 'inferbox:script-api';
import { PREDICT_FUNCTION, SCRIPT_HOOKS } from '../model/script-hooks.js';

/**
 * What the script editor completes: the sandbox's globals (console, model, fail, argmax, ...), the
 * members of what scripts reach through them (`console.`, `model.`, `args.`, `ctx.model.`, a file's
 * `image()`, an image's `data`), the options of `image({ ... })`, and a stub for each hook from
 * the one hook list. Signatures and docs come from sandbox/script-api.d.ts.
 */

type Entry = (typeof api.globals)[number];

const toCompletion = (e: Entry, boost = 0): Completion => ({ label: e.label, type: e.type, detail: e.detail, info: e.info || undefined, boost });

/** An interface's members, its parents' included (InferboxModel extends InferboxModelInfo). */
function membersOf(name: string): Completion[] {
  const iface = api.interfaces[name];
  if (!iface) return [];
  return [...iface.members.map((m) => toCompletion(m)), ...iface.parents.flatMap(membersOf)];
}

/** Receivers by how scripts usually name them, to the interface they hold. */
const RECEIVERS: readonly [RegExp, string][] = [
  [/\bconsole$/, 'InferboxConsole'],
  [/\bctx\.model$/, 'InferboxModelInfo'],
  [/\bmodel$/, 'InferboxModel'],
  [/\b(args|input)$/, 'InferboxArgs'],
  [/\bctx$/, 'InferboxInitContext'],
  [/\bfiles(\.[A-Za-z_$][\w$]*|\[[^\]]+\])$/, 'InferboxFile'],
  [/\b(file|f|upload|photo|digit)$/, 'InferboxFile'],
  [/\b(image|img|pixels|decoded)$/, 'InferboxImage'],
];

/** A stub for each hook (and predict), offered at the start of a line. */
const hookStubs: Completion[] = [
  ...SCRIPT_HOOKS.map((h) => ({ name: h.name, argument: h.argument, async: h.async, info: h.runs })),
  { name: PREDICT_FUNCTION, argument: 'args', async: true, info: 'takes over the whole predict call (await model.run(feeds) runs the model)' },
].map((h) => snippetCompletion(`${h.async ? 'async ' : ''}function ${h.name}(${h.argument}) {\n\t\${}\n}`, { label: h.name, type: 'keyword', detail: 'hook', info: h.info, boost: -1 }));

export function scriptCompletions(context: CompletionContext): CompletionResult | null {
  const line = context.state.doc.lineAt(context.pos);
  const before = line.text.slice(0, context.pos - line.from);
  // Inside `image({ ... })`: the options.
  const options = /\.image\(\{[^}]*?([A-Za-z]*)$/.exec(before);
  if (options) {
    return { from: context.pos - options[1]!.length, options: membersOf('InferboxImageOptions'), validFor: /^\w*$/ };
  }
  // After `receiver.`: its members.
  const member = /([\w$.[\]'"]+)\.([\w$]*)$/.exec(before);
  if (member) {
    const found = RECEIVERS.find(([pattern]) => pattern.test(member[1]!));
    if (!found) return null;
    return { from: context.pos - member[2]!.length, options: membersOf(found[1]), validFor: /^[\w$]*$/ };
  }
  const word = context.matchBefore(/[\w$]+/);
  if (!word || (word.from === word.to && !context.explicit)) return null;
  const atLineStart = before.slice(0, before.length - (word.to - word.from)).trim() === '';
  return { from: word.from, options: [...api.globals.map((g) => toCompletion(g, 1)), ...(atLineStart ? hookStubs : [])], validFor: /^[\w$]*$/ };
}
