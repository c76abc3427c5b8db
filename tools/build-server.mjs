/**
 * Compiles the server (src/, but not the browser code in src/console/) to dist/src/: one .js file
 * per .ts file, same layout, import specifiers untouched. esbuild only strips types, in about a
 * fifth of a second, so `npm start` can build on every start; type errors are `npm run typecheck`'s
 * job (tsc), which `npm test` runs.
 */
import { build } from 'esbuild';
import { existsSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'src');
const out = join(root, 'dist', 'src');

const entries = (await readdir(src, { recursive: true, withFileTypes: true }))
  .filter((e) => e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts'))
  .map((e) => join(e.parentPath, e.name))
  .filter((path) => relative(src, path).split(sep)[0] !== 'console');

await build({
  entryPoints: entries,
  outdir: out,
  outbase: src,
  bundle: false,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: 'linked',
  logLevel: 'warning',
});

// A file deleted or moved in src/ must not live on in dist/src/, where a stale import could still
// find it. Removed after the build, file by file, so a server running from dist/ never sees a gap.
for (const e of await readdir(out, { recursive: true, withFileTypes: true })) {
  if (!e.isFile()) continue;
  const path = join(e.parentPath, e.name);
  const source = join(src, relative(out, path)).replace(/\.js(\.map)?$/, '.ts');
  if (!existsSync(source)) await rm(path);
}
