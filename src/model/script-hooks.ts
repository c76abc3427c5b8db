/**
 * The functions of a custom script that inferbox calls by itself, in the order of one prediction:
 * the one list, kept the way fastify keeps lib/hooks.js. The worker's flow plan, the names a flow's
 * errors use, the rule that hooks are not callable by URL and the script template's order comment
 * all derive from it. Pure: the front, the worker and the sandbox build may all import it.
 *
 * Adding a hook: add it here, give the predict flow its step (planFlow below and the prelude's flow
 * in sandbox/prelude/), and a stub in src/front/script-template.ts; see docs/architecture.md.
 */

import { HOOK } from './hook-names.js';

export { HOOK };

export interface ScriptHook {
  readonly name: string;
  /** Names accepted for the same hook, e.g. DaaS scripts that call prepare "preprocess". */
  readonly aliases: readonly string[];
  /** When it runs, as the script template and the docs say it. */
  readonly runs: string;
  /** Where in a prediction: once per sandbox, before the model runs, or after it (per record). */
  readonly phase: 'once' | 'before-model' | 'after-model';
  /** The name its argument goes by in stubs and the template. */
  readonly argument: 'ctx' | 'args' | 'outputs';
  /** Stubs make it `async`: it usually awaits (file.image()). */
  readonly async: boolean;
}

export const SCRIPT_HOOKS = [
  { name: HOOK.init, aliases: [], runs: 'once per sandbox, before its first call (and again when the sandbox is rebuilt)', phase: 'once', argument: 'ctx', async: false },
  { name: HOOK.preprocessFiles, aliases: [], runs: 'only when the request uploaded files (multipart form)', phase: 'before-model', argument: 'args', async: true },
  { name: HOOK.prepare, aliases: [HOOK.prepareAlias], runs: 'returns args with args.X', phase: 'before-model', argument: 'args', async: false },
  { name: HOOK.postprocess, aliases: [], runs: "once per record, with that record's raw outputs", phase: 'after-model', argument: 'outputs', async: false },
] as const satisfies readonly ScriptHook[];

/** The function that, when a script defines it, takes over a whole predict call from the hooks. */
export const PREDICT_FUNCTION = 'predict';

/** Every name the flow calls by itself (hooks and their aliases): these are not callable by URL. */
export const HOOK_FUNCTIONS: ReadonlySet<string> = new Set(SCRIPT_HOOKS.flatMap((h) => [h.name, ...h.aliases]));

/** Which hooks of the predict flow one request runs (see sandbox/prelude/flow.ts). */
export interface FlowPlan {
  /** Run preprocess_files first (the request carries files and the script defines it). */
  readonly files: boolean;
  /** "prepare", "preprocess" (its alias) or null. */
  readonly prepare: 'prepare' | 'preprocess' | null;
  readonly postprocess: boolean;
}

/** The plan of one predict call, from the functions the script defines and whether files came. */
export function planFlow(functions: ReadonlySet<string>, hasFiles: boolean): FlowPlan {
  return {
    files: hasFiles && functions.has(HOOK.preprocessFiles),
    prepare: functions.has(HOOK.prepare) ? HOOK.prepare : functions.has(HOOK.prepareAlias) ? HOOK.prepareAlias : null,
    postprocess: functions.has(HOOK.postprocess),
  };
}

/** The functions a plan runs, in order: what a flow's failures name, e.g. "prepare() → postprocess()". */
export function flowSteps(plan: FlowPlan): string[] {
  return [plan.files ? HOOK.preprocessFiles : null, plan.prepare, plan.postprocess ? HOOK.postprocess : null].filter((f) => f !== null);
}
