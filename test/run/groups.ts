import { readdirSync } from 'node:fs';

/**
 * `npm test` runs the test files of test/unit/ and test/integration/ in a few processes, one per
 * group below, instead of one process per file: each process pays for Node, tsx and loading src/
 * (the front and the client, isolated-vm, sharp and jimp, tfjs) before its first test, about half a
 * second of CPU per unit file and a second per integration file, which on two cores was a third of
 * the run. A group file (test/run/<folder>-<group>.test.ts) imports its files in name order; their
 * describe blocks run one after another in that process, as they do within a file.
 *
 * Each folder's last group has no pattern: it takes every file no other group of the folder names,
 * so a new test file is never left out. Any test file still runs alone:
 *   node --no-node-snapshot --import tsx --test test/unit/frame.test.ts
 */
const GROUPS = {
  unit: [
    ['sandbox', /^(sandbox-|script-template\.)/],
    ['models', /^(keras|tfjs-|onnx-runtime\.|pool\.)/],
    ['rest', null],
  ],
  // Two groups of about the same length, so that two processes run them side by side.
  integration: [
    ['a', /^(hostile-scripts|worker-crash|restart|kill-restart|shutdown|uploads|errors|bad-input-table|console-api)\./],
    ['b', null],
  ],
} as const satisfies Record<string, readonly (readonly [string, RegExp | null])[]>;

type Folder = keyof typeof GROUPS;

/** The test files of `folder` that belong to `group`. */
export function groupFiles(folder: Folder, group: string): string[] {
  const groups: readonly (readonly [string, RegExp | null])[] = GROUPS[folder];
  const named = groups.filter(([, pattern]) => pattern !== null);
  const entry = groups.find(([name]) => name === group);
  if (entry === undefined) throw new Error(`no group ${group} in ${folder}`);
  const files = readdirSync(new URL(`../${folder}/`, import.meta.url)).filter((f) => f.endsWith('.test.ts')).sort();
  const pattern = entry[1];
  return pattern === null ? files.filter((f) => !named.some(([, p]) => p!.test(f))) : files.filter((f) => pattern.test(f));
}

/** Imports the group's test files, registering their tests in this process. */
export async function runGroup(folder: Folder, group: string): Promise<void> {
  for (const file of groupFiles(folder, group)) await import(new URL(`../${folder}/${file}`, import.meta.url).href);
}
