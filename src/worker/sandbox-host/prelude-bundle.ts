import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where `npm run build` (sandbox/build.mjs) writes the bundled prelude, relative to the package root. */
const PRELUDE_PATH = join('dist', 'sandbox', 'prelude.js');

let cached: string | undefined;

/** The package root: the nearest folder above this module holding a package.json (src/ and dist/src/ alike). */
function findPackageRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}

/**
 * The prelude's source (sandbox/prelude/ bundled by sandbox/build.mjs into dist/sandbox/prelude.js),
 * read once per process. Its completion value is the setup function isolate.ts calls.
 */
export function loadPreludeSource(): string {
  if (cached !== undefined) return cached;
  const root = findPackageRoot(dirname(fileURLToPath(import.meta.url)));
  const path = join(root, PRELUDE_PATH);
  if (!existsSync(path)) {
    throw new Error(`the sandbox prelude ${path} is missing: run npm run build`);
  }
  cached = readFileSync(path, 'utf8');
  return cached;
}
