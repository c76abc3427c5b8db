/**
 * Builds dist/sandbox/prelude.js, the prelude every script isolate runs before the user's script,
 * from the modules in sandbox/prelude/ (type-checked separately: tsc -p sandbox/tsconfig.json).
 *
 * The host (the worker's sandbox-host/isolate.ts) compiles the file as ONE classic script and takes its
 * completion value as the setup function. esbuild bundles the modules as ESM (scope-hoisted: one
 * flat scope, no module runtime) and this script wraps that body in a function expression called
 * at once, which returns the entry's default export:
 *
 *   (function () { "use strict"; <the modules, in import order>; return inferboxPrelude; })();
 *
 * so the program's completion value is the setup function and no module binding becomes a global
 * the user's script could reach. esbuild's other formats do not fit: 'iife' drops the exports, and
 * 'iife' with globalName declares a global and adds __export/__toCommonJS helpers.
 *
 * The build then checks the result instead of trusting it:
 * - no esbuild runtime helper (__defProp, __spreadValues, __publicField, ...): with target es2022
 *   none is needed, and a helper would be code reading a global at call time, after the script
 *   may have patched it, which the captured built-ins of intrinsics.ts exist to prevent;
 * - in a fresh context, the program evaluates to an 8-parameter function and defines no global.
 */
import { build } from 'esbuild';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';

const here = dirname(fileURLToPath(import.meta.url));
const root = dirname(here);
const outFile = join(root, 'dist', 'sandbox', 'prelude.js');

const fail = (message) => {
  console.error(`sandbox/build.mjs: ${message}`);
  process.exit(1);
};

const result = await build({
  entryPoints: [join(here, 'prelude', 'main.ts')],
  bundle: true,
  format: 'esm',
  target: 'es2022', // what V8 in isolated-vm runs natively: nothing is down-levelled, so no helpers
  platform: 'neutral', // no Node or browser built-ins to resolve: the isolate has neither
  tsconfig: join(here, 'tsconfig.json'),
  charset: 'utf8',
  legalComments: 'none',
  write: false,
  logLevel: 'warning',
});
const esm = result.outputFiles[0].text;

// The entry's default export is the last statement of the ESM output; it becomes the return value.
const exported = /\nexport \{\n {2}([\w$]+) as default\n\};\n$/.exec(esm);
if (exported === null) fail('expected the bundle to end with `export { <setup> as default };` (did esbuild change its output?)');
// The /* @__PURE__ */ marks are tree-shaking hints for a minifier; nothing reads them here.
const body = esm.slice(0, exported.index).replaceAll('/* @__PURE__ */ ', '');
if (/^(import|export)\b/m.test(body)) fail('the bundle still has an import or export statement');

const helper = /\b__(?!proto__\b)[A-Za-z]\w*/.exec(body);
if (helper !== null) fail(`the bundle contains the esbuild helper ${helper[0]}: something needed down-levelling; keep target es2022 and avoid the syntax`);

const source = [
  '// The inferbox sandbox prelude, built by sandbox/build.mjs from sandbox/prelude/*.ts: do not edit.',
  '// Its completion value is the setup function (sandbox/prelude/main.ts) the host calls once.',
  '(function () {',
  '"use strict";',
  body.trimEnd(),
  `return ${exported[1]};`,
  '})();',
  '',
].join('\n');

// The contract, checked where it is cheap: the completion value, and no global left behind.
const context = vm.createContext({});
const before = vm.runInContext('Object.getOwnPropertyNames(globalThis).join()', context);
const setup = new vm.Script(source, { filename: 'inferbox:prelude' }).runInContext(context);
if (typeof setup !== 'function' || setup.length !== 8) fail('the bundle does not evaluate to the 8-parameter setup function');
if (vm.runInContext('Object.getOwnPropertyNames(globalThis).join()', context) !== before) fail('evaluating the bundle defined a global');

await mkdir(dirname(outFile), { recursive: true });
await writeFile(outFile, source);
