import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/**
 * The process split, checked on the import graph (in the spirit of miniflare's shared/ boundary):
 * the front never runs user code or inference, so nothing it loads may come from the worker, and
 * the pure folders stay pure. A failure names the file, the import and the rule it breaks.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function filesUnder(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && /\.tsx?$/.test(e.name) && !e.name.endsWith('.d.ts'))
    .map((e) => relative(ROOT, join(e.parentPath, e.name)).split(sep).join('/'));
}

interface Edge {
  readonly from: string;
  /** Repository-relative path for relative specifiers, else the bare package name (`node:fs`, `zod`). */
  readonly to: string;
}

/** Every import, export-from and dynamic import of a file, as TypeScript's own pre-parser reads them. */
function importsOf(file: string): Edge[] {
  const info = ts.preProcessFile(readFileSync(join(ROOT, file), 'utf8'), true, true);
  return info.importedFiles.map(({ fileName }) => ({
    from: file,
    to: fileName.startsWith('.') ? relative(ROOT, resolve(ROOT, dirname(file), fileName)).split(sep).join('/').replace(/\.js$/, existsSync(join(ROOT, dirname(file), fileName.replace(/\.js$/, '.tsx'))) ? '.tsx' : '.ts') : fileName,
  }));
}

const SRC = filesUnder('src');
const EDGES = [...SRC, ...filesUnder('sandbox')].flatMap(importsOf);
const under = (path: string, ...dirs: string[]) => dirs.some((d) => path === d || path.startsWith(`${d}/`));
/** A path in this repository, as opposed to a package or a Node built-in. */
const inRepo = (to: string) => /^(src|sandbox|test|tools)\//.test(to);

function broken(fromDirs: string[], allowed: (to: string) => boolean): string[] {
  return EDGES.filter((e) => under(e.from, ...fromDirs) && !allowed(e.to)).map((e) => `${e.from} imports ${e.to}`);
}

describe('import boundaries', () => {
  it('reads the tree (a rule over no files proves nothing)', () => {
    for (const dir of ['src/model', 'src/front', 'src/worker', 'src/store', 'src/protocol', 'src/api', 'src/client', 'src/console', 'src/cli']) {
      assert.ok(EDGES.some((e) => under(e.from, dir)), `no imports found under ${dir}`);
    }
    assert.ok(filesUnder('sandbox').length > 0, 'no sandbox sources found');
  });

  it('front, store, protocol, api, client and the shared top-level modules never import worker code', () => {
    const outside = ['src/front', 'src/store', 'src/protocol', 'src/api', 'src/client', 'src/model', 'src/main.ts', 'src/config.ts', 'src/errors.ts', 'src/log.ts', 'src/package-info.ts'];
    assert.deepEqual(broken(outside, (to) => !under(to, 'src/worker', 'sandbox')), []);
  });

  it('the worker never imports the front or the store (it gets paths and refs in messages)', () => {
    assert.deepEqual(broken(['src/worker'], (to) => !under(to, 'src/front', 'src/store', 'src/client')), []);
  });

  it('src/model is pure: it imports only itself', () => {
    assert.deepEqual(broken(['src/model'], (to) => under(to, 'src/model')), []);
  });

  it('the SDK imports only itself, the HTTP contract (src/api) and the pure src/model from the repository', () => {
    assert.deepEqual(broken(['src/client'], (to) => !inRepo(to) || under(to, 'src/client', 'src/api', 'src/model')), []);
  });

  it('the web console (browser code) imports only itself, the HTTP contract (src/api), the pure src/model and the SDK\'s error class', () => {
    assert.deepEqual(broken(['src/console'], (to) => !inRepo(to) || under(to, 'src/console', 'src/api', 'src/model', 'src/client/errors.ts')), []);
  });

  it('the CLI works through the SDK: from the repository only itself, src/client, src/api, src/model, the config table, the package info and (for `serve`) src/main.ts', () => {
    const allowed = ['src/cli', 'src/client', 'src/api', 'src/model', 'src/config.ts', 'src/package-info.ts', 'src/main.ts'];
    assert.deepEqual(broken(['src/cli'], (to) => !inRepo(to) || under(to, ...allowed)), []);
  });

  it('sandbox code (run inside isolates) imports only sandbox code and the pure src/model', () => {
    assert.deepEqual(broken(['sandbox'], (to) => under(to, 'sandbox', 'src/model')), []);
  });

  it('catches a breach: the same check finds the worker\'s real imports of src/model when they are forbidden', () => {
    assert.ok(broken(['src/worker'], (to) => !under(to, 'src/model')).length > 0);
  });
});
