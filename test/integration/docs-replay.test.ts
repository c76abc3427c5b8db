/**
 * Replays every HTTP exchange of docs/api/*.md against a real server, page by page, each page on a
 * fresh server, in the order the page shows them, and checks that the server answers the status,
 * the headers shown and the same shape of body (see test/helpers/doc-exchanges.ts for what is
 * compared). Also checks that the links of and into docs/api/ resolve.
 *
 * DOCS_REPLAY_UPDATE=1 writes the server's answers into the pages where they differ, instead of
 * failing; DOCS_REPLAY_UPDATE=all rewrites every answer. Then read the diff: the server is the
 * truth, but a changed answer may be a bug.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { STATUS_CODES } from 'node:http';
import { dirname, join, normalize, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  compareJson,
  compareText,
  DOC_BASE_URL,
  fetchInit,
  formatJson,
  keepElisions,
  parseCurl,
  parseDoc,
  TOKEN,
  type Exchange,
  type Step,
} from '../helpers/doc-exchanges.js';
import { ADMIN_TOKEN, startTestServer, type TestServer } from '../helpers/server.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const API_DIR = 'docs/api';
/** In replay order; each page runs on its own fresh server. */
const PAGES = ['README.md', 'models.md', 'test.md', 'scripts.md', 'deployments.md', 'svc.md', 'health-metrics.md', 'oip.md'];
/** Exchanges shown but not replayed (`<!-- replay: skip why -->`), as "file: why". Keep it short. */
const EXPECTED_SKIPS: string[] = [];
/** The fewest exchanges the pages hold: a guard against a parser that silently finds none. */
const MIN_EXCHANGES = 80;
/** DOCS_REPLAY_UPDATE=1 rewrites the answers that differ, =all every answer. */
const UPDATE_ALL = process.env.DOCS_REPLAY_UPDATE === 'all';
const UPDATE = process.env.DOCS_REPLAY_UPDATE === '1' || UPDATE_ALL;

const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface Parsed {
  readonly page: string;
  readonly steps: Step[];
  readonly error: Error | null;
}

const parsed: Parsed[] = PAGES.map((page) => {
  const file = `${API_DIR}/${page}`;
  try {
    return { page, steps: parseDoc(read(file), file), error: null };
  } catch (err) {
    return { page, steps: [], error: err as Error };
  }
});

/** A name for the test: method, path and the status the doc shows. */
function titleOf(step: Exchange): string {
  try {
    const req = parseCurl(step.shell, (name) => (name === 'IB' ? DOC_BASE_URL : `$${name}`), ROOT);
    const path = req.url.replace(DOC_BASE_URL, '');
    return `${step.file}:${step.line} ${req.method} ${path} -> ${step.answer?.status ?? 'skipped'}`;
  } catch {
    return `${step.file}:${step.line}`;
  }
}

/** What the answer block shows for a real answer (update mode). */
function answerText(step: Exchange, res: Response, body: string, json: unknown, baseUrl: string): string {
  const shown = new Map<string, string>();
  for (const [name] of step.answer?.headers ?? []) {
    const value = res.headers.get(name);
    if (value !== null) shown.set(name, value);
  }
  const contentType = res.headers.get('content-type') ?? '';
  if (body !== '' && !contentType.includes('json') && ![...shown.keys()].some((k) => k.toLowerCase() === 'content-type')) shown.set('Content-Type', contentType);
  for (const name of ['WWW-Authenticate', 'Retry-After']) {
    const value = res.headers.get(name);
    if (value !== null && ![...shown.keys()].some((k) => k.toLowerCase() === name.toLowerCase())) shown.set(name, value);
  }
  const lines = [`HTTP/1.1 ${res.status} ${STATUS_CODES[res.status]}`, ...[...shown].map(([k, v]) => `${k}: ${v}`)];
  if (body !== '') {
    let docJson: unknown;
    try {
      docJson = JSON.parse(step.answer?.body ?? '');
    } catch {
      docJson = undefined;
    }
    const text = json !== undefined ? formatJson(keepElisions(docJson, json)) : body.replace(/\n$/, '');
    lines.push('', text.split(baseUrl).join(DOC_BASE_URL));
  }
  return lines.join('\n');
}

const counts = { replayed: 0, skipped: [] as string[] };

describe('docs/api pages', () => {
  it('are the pages this test replays, and docs/api.md is gone', () => {
    const onDisk = readdirSync(join(ROOT, API_DIR)).filter((f) => f.endsWith('.md')).sort();
    assert.deepEqual(onDisk, [...PAGES].sort());
    assert.equal(existsSync(join(ROOT, 'docs/api.md')), false);
  });

  it('parse: every curl block has its answer', () => {
    for (const p of parsed) assert.equal(p.error, null, `${p.page}: ${p.error?.message}`);
  });

  it('links in docs/api/ and into it resolve, and nothing links to docs/api.md', () => {
    const markdown = [
      'README.md',
      ...readdirSync(join(ROOT, 'docs'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`),
      ...readdirSync(join(ROOT, 'scripts-examples'), { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => `scripts-examples/${d.name}/README.md`),
    ].filter((f) => existsSync(join(ROOT, f)));
    const broken: string[] = [];
    for (const file of markdown) {
      const text = read(file).replace(/^```[\s\S]*?^```/gm, '');
      for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = m[1]!;
        if (/^[a-z]+:/.test(target)) continue;
        const [path, anchor] = target.split('#') as [string, string | undefined];
        const resolved = path === '' ? file : normalize(join(dirname(file), path));
        if (resolved === 'docs/api.md') {
          broken.push(`${file}: ${target} (docs/api.md is now docs/api/)`);
          continue;
        }
        const ours = file.startsWith(`${API_DIR}/`) || resolved.startsWith(API_DIR);
        if (!ours) continue;
        const full = join(ROOT, resolved);
        if (!existsSync(full)) {
          broken.push(`${file}: ${target} (no ${relative(ROOT, full)})`);
          continue;
        }
        if (anchor !== undefined && resolved.endsWith('.md') && !anchorsOf(read(resolved)).has(anchor)) broken.push(`${file}: ${target} (no heading #${anchor} in ${resolved})`);
      }
    }
    assert.deepEqual(broken, []);
  });
});

/** GitHub's heading anchors of a page. */
function anchorsOf(text: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const m of text.replace(/^```[\s\S]*?^```/gm, '').matchAll(/^#{1,6} (.+?)\s*$/gm)) {
    const base = m[1]!
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  }
  return anchors;
}

for (const { page, steps } of parsed) {
  const file = `${API_DIR}/${page}`;
  describe(`${file}, replayed on a fresh server`, () => {
    let server: TestServer;
    const vars = new Map<string, string>();
    /** Token shown in the doc -> token this server answered at the same place. */
    const tokens = new Map<string, string>();
    let lastToken: string | null = null;
    /** Update mode: doc tokens of rewritten answers -> the tokens written in their place. */
    const renamed = new Map<string, string>();
    const updates: { start: number; end: number; text: string }[] = [];

    before(async () => {
      server = await startTestServer();
      vars.set('IB', server.url);
      vars.set('ADMIN', ADMIN_TOKEN);
    });
    after(async () => {
      await server?.close();
      if (!UPDATE || updates.length === 0) return;
      const lines = read(file).split('\n');
      for (const u of updates.sort((a, b) => b.start - a.start)) lines.splice(u.start, u.end - u.start - 1, ...u.text.split('\n'));
      let text = lines.join('\n');
      for (const [doc, real] of renamed) text = text.split(doc).join(real);
      writeFileSync(join(ROOT, file), text);
    });

    const lookup = (name: string): string => {
      const value = vars.get(name);
      if (value === undefined) throw new Error(`$${name} is not set: set it in a \`\`\`sh block of NAME=value lines above`);
      return value;
    };

    for (const step of steps) {
      if (step.kind === 'assign') {
        it(`${file}:${step.line} sets ${step.vars.map(([k]) => k).join(', ')}`, () => {
          for (const [name, value] of step.vars) {
            // The server's own address and admin token replace the page's.
            if (name === 'IB') {
              assert.equal(value, DOC_BASE_URL);
              continue;
            }
            if (name === 'ADMIN') continue;
            if (!TOKEN.test(value)) {
              vars.set(name, value);
              continue;
            }
            let real = tokens.get(value);
            if (real === undefined && UPDATE && lastToken !== null) {
              tokens.set(value, lastToken);
              renamed.set(value, lastToken);
              real = lastToken;
            }
            assert.ok(real !== undefined, `${name}=${value}: no earlier answer on this page showed that token`);
            vars.set(name, real);
          }
        });
        continue;
      }
      if (step.skip !== null) {
        counts.skipped.push(`${page}: ${step.skip}`);
        it(titleOf(step), { skip: step.skip }, () => {});
        continue;
      }
      it(titleOf(step), async () => {
        const answer = step.answer!;
        const req = parseCurl(step.shell, lookup, ROOT);
        assert.ok(req.url.startsWith(`${server.url}/`), `${req.url}: the URL starts with $IB`);
        const res = await fetch(req.url, fetchInit(req, ROOT));
        let body = await res.text();
        if (req.grep !== null) body = body.split('\n').filter((l) => req.grep!.test(l)).join('\n');
        const contentType = res.headers.get('content-type') ?? '';
        const json: unknown = contentType.includes('json') && body !== '' ? JSON.parse(body) : undefined;
        counts.replayed++;

        // What every answer does, whatever the doc shows.
        const requestId = res.headers.get('x-request-id');
        assert.match(requestId ?? '', UUID, 'every answer carries an X-Request-Id');
        if (json !== null && typeof json === 'object' && 'requestId' in json) assert.equal(json.requestId, requestId, 'requestId equals X-Request-Id');

        const problems: string[] = [];
        if (res.status !== answer.status) problems.push(`status: the doc shows ${answer.status}, the server answered ${res.status}: ${body.slice(0, 300)}`);
        for (const [name, value] of answer.headers) {
          const real = res.headers.get(name);
          if (real === null) problems.push(`header ${name}: the server sent none`);
          else if (UUID.test(value) ? !UUID.test(real) : real !== value) problems.push(`header ${name}: the doc shows "${value}", the server sent "${real}"`);
        }
        if (answer.body === '' || body === '') {
          if (answer.body !== body) problems.push(`body: the doc shows ${answer.body === '' ? 'none' : 'one'}, the server answered ${body === '' ? 'none' : body.slice(0, 200)}`);
        } else if (json !== undefined) {
          let doc: unknown;
          try {
            doc = JSON.parse(answer.body);
          } catch (err) {
            problems.push(`body: the server answered JSON, the doc's body does not parse: ${(err as Error).message}`);
          }
          if (doc !== undefined) {
            const cmp = compareJson(doc, json, server.url);
            problems.push(...cmp.problems);
            for (const [d, r] of cmp.tokens) tokens.set(d, r);
            if (UPDATE && (cmp.problems.length > 0 || UPDATE_ALL)) for (const [d, r] of cmp.tokens) renamed.set(d, r);
          }
        } else {
          problems.push(...compareText(answer.body, body));
        }
        if (json !== null && typeof json === 'object' && typeof (json as { access_token?: unknown }).access_token === 'string') lastToken = (json as { access_token: string }).access_token;

        if (UPDATE) {
          if (problems.length > 0 || UPDATE_ALL) updates.push({ start: answer.fenceStart, end: answer.fenceEnd, text: answerText(step, res, body, json, server.url) });
          return;
        }
        assert.deepEqual(problems, [], `${step.file}:${step.line} (${step.heading}) differs from the server's answer; fix the doc, the server is the truth`);
      });
    }
  });
}

describe('docs/api replay totals', () => {
  it(`replays every exchange but the ones listed as skipped`, () => {
    const total = parsed.reduce((n, p) => n + p.steps.filter((s) => s.kind === 'exchange').length, 0);
    assert.deepEqual(counts.skipped, EXPECTED_SKIPS);
    assert.equal(counts.replayed + counts.skipped.length, total, 'an exchange was neither replayed nor skipped (see the failures above)');
    assert.ok(total >= MIN_EXCHANGES, `only ${total} exchanges found in docs/api/*.md`);
  });
});
