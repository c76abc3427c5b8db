import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { CONFIG_KEYS, flagOf } from '../../src/config.js';
import { ERRORS } from '../../src/errors.js';
import { SOURCE_FORMATS } from '../../src/model/index.js';

/** The docs promise things about the code; these checks keep the two in step. */

const read = (relative: string) => readFileSync(new URL(`../../${relative}`, import.meta.url), 'utf8');

describe('docs/errors.md', () => {
  const text = read('docs/errors.md');
  const headings = [...text.matchAll(/^### (\S+)\s*$/gm)].map((m) => m[1]!);

  it('has a `### CODE` section for every code in ERRORS', () => {
    const missing = Object.keys(ERRORS).filter((code) => !headings.includes(code));
    assert.deepEqual(missing, [], `add a "### CODE" section to docs/errors.md for: ${missing.join(', ')}`);
  });

  it('has no `###` section for a code that is not in ERRORS', () => {
    const unknown = headings.filter((h) => !Object.hasOwn(ERRORS, h));
    assert.deepEqual(unknown, [], `docs/errors.md documents codes that src/errors.ts does not have: ${unknown.join(', ')}`);
  });

  it('documents each code once', () => {
    const repeated = headings.filter((h, i) => headings.indexOf(h) !== i);
    assert.deepEqual(repeated, []);
  });
});

describe('docs/config.md', () => {
  const text = read('docs/config.md');

  it('names the env var and the flag of every key in CONFIG_KEYS', () => {
    const missing: string[] = [];
    for (const [key, spec] of Object.entries(CONFIG_KEYS)) {
      if (!text.includes(`\`${spec.env}\``)) missing.push(`${key}: env ${spec.env}`);
      if (!text.includes(`\`--${flagOf(spec.env)}\``)) missing.push(`${key}: flag --${flagOf(spec.env)}`);
      if (!text.includes(`\`${key}\``)) missing.push(`${key}: key`);
    }
    assert.deepEqual(missing, [], `docs/config.md is missing:\n  ${missing.join('\n  ')}`);
  });
});

describe('README.md', () => {
  const text = read('README.md');

  it('gives the three-command quick start', () => {
    for (const command of ['npm install', 'npm start', 'npm test']) {
      assert.ok(text.includes(command), `README.md should show \`${command}\``);
    }
  });
});

describe('docs/formats.md', () => {
  const headings = [...read('docs/formats.md').matchAll(/^## (.+?)\s*$/gm)].map((m) => m[1]!);

  it('has a `## ` section for every source format of src/model/formats.ts', () => {
    const missing = Object.entries(SOURCE_FORMATS).filter(([, f]) => !headings.includes(f.docsHeading)).map(([name]) => name);
    assert.deepEqual(missing, [], `add a section to docs/formats.md for: ${missing.join(', ')}`);
  });
});
