/**
 * Builds the web console into dist/console/: index.html, app.js (Preact, CodeMirror and the pages,
 * one bundle) and app.css. Everything is served by inferbox itself; nothing comes from a CDN, so
 * the console works offline. Type-checking is `tsc -p src/console` (npm run typecheck).
 *
 * The script editor completes the sandbox's globals with their signatures and docs. They are read
 * here, at build time, from sandbox/script-api.d.ts (the contract scripts are written against) with
 * the TypeScript compiler API, and reach the bundle as the module `inferbox:script-api`: the editor
 * never drifts from the contract, and the browser downloads a few KB of JSON, not TypeScript.
 *
 * Usage: node src/console/build.mjs [--watch]
 */
import { build, context } from 'esbuild';
import { copyFile, mkdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const outDir = join(root, 'dist', 'console');

/** Completions for the editor: globals, and members of the interfaces scripts reach through them. */
async function scriptApi() {
  const path = join(root, 'sandbox', 'script-api.d.ts');
  const source = ts.createSourceFile(path, await readFile(path, 'utf8'), ts.ScriptTarget.ES2022, true);
  const docOf = (node) =>
    ts
      .getJSDocCommentsAndTags(node)
      .filter(ts.isJSDoc)
      .map((d) => ts.getTextOfJSDocComment(d.comment) ?? '')
      .join('\n')
      .trim();
  const signature = (node) => node.getText(source).replace(/\s+/g, ' ').replace(/;$/, '');
  const globals = [];
  const interfaces = {};
  for (const statement of source.statements) {
    if (ts.isFunctionDeclaration(statement) && statement.name) {
      globals.push({ label: statement.name.text, type: 'function', detail: signature(statement).replace(/^declare function /, ''), info: docOf(statement) });
    } else if (ts.isVariableStatement(statement)) {
      for (const d of statement.declarationList.declarations) {
        globals.push({ label: d.name.getText(source), type: 'variable', detail: d.type ? d.type.getText(source) : '', info: docOf(statement) });
      }
    } else if (ts.isInterfaceDeclaration(statement)) {
      const members = statement.members
        .filter((m) => m.name)
        .map((m) => ({
          label: m.name.getText(source),
          type: ts.isMethodSignature(m) ? 'method' : 'property',
          detail: signature(m).replace(/^readonly /, ''),
          info: docOf(m),
        }));
      const parents = (statement.heritageClauses ?? []).flatMap((h) => h.types.map((t) => t.expression.getText(source)));
      interfaces[statement.name.text] = { members, parents, info: docOf(statement) };
    }
  }
  if (globals.length < 5 || Object.keys(interfaces).length < 5) throw new Error(`read too little from ${path}: is it still the script API?`);
  return { globals, interfaces };
}

const scriptApiPlugin = {
  name: 'inferbox-script-api',
  setup(b) {
    b.onResolve({ filter: /^inferbox:script-api$/ }, () => ({ path: 'script-api', namespace: 'inferbox' }));
    b.onLoad({ filter: /.*/, namespace: 'inferbox' }, async () => ({
      contents: JSON.stringify(await scriptApi()),
      loader: 'json',
      watchFiles: [join(root, 'sandbox', 'script-api.d.ts')],
    }));
  },
};

const options = {
  entryPoints: { app: join(here, 'main.tsx') },
  bundle: true,
  format: 'esm',
  target: 'es2022',
  platform: 'browser',
  outdir: outDir,
  jsx: 'automatic',
  jsxImportSource: 'preact',
  minify: process.env.NOMINIFY ? false : true,
  sourcemap: 'linked',
  legalComments: 'linked',
  loader: { '.css': 'css' },
  plugins: [scriptApiPlugin],
  logLevel: 'warning',
};

await mkdir(outDir, { recursive: true });
await copyFile(join(here, 'index.html'), join(outDir, 'index.html'));
if (process.argv.includes('--watch')) {
  const ctx = await context(options);
  await ctx.watch();
  console.log('src/console/build.mjs: watching; dist/console/ is rebuilt on every change');
} else {
  await build(options);
}
