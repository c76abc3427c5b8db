/**
 * Each script hook's name as a constant; script-hooks.ts builds the hook list from them. The
 * sandbox prelude (sandbox/prelude/flow.ts, main.ts) imports only this file, so even the code
 * inside isolates spells no hook name of its own, and its bundle carries no more than these
 * strings, read from a frozen object a hostile script cannot change.
 */
export const HOOK = Object.freeze({ init: 'init', preprocessFiles: 'preprocess_files', prepare: 'prepare', prepareAlias: 'preprocess', postprocess: 'postprocess' } as const);
