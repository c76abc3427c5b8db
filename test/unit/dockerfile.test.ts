import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { CONFIG_KEYS } from '../../src/config.js';
import { startTestServer } from '../helpers/server.js';

/**
 * The Dockerfile, checked without a Docker engine (none where it was written): its stages, its
 * user, the node flag, the health check, and that everything it copies and runs exists here. What
 * a real `docker build` would add is the network (npm ci) and the native builds.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PACKAGE = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string>; engines: { node: string } };

interface Instruction {
  readonly op: string;
  readonly args: string;
  readonly line: number;
}

/** Instructions with their continuation lines joined and comments dropped (the parser's own rules, for what this file uses). */
function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending: { text: string; line: number } | null = null;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line.startsWith('#') || (line === '' && pending === null)) return;
    const continued = line.endsWith('\\');
    const body = continued ? line.slice(0, -1) : line;
    pending = pending === null ? { text: body, line: i + 1 } : { text: `${pending.text} ${body}`, line: pending.line };
    if (continued) return;
    const match = /^(\S+)\s*(.*)$/s.exec(pending.text.trim());
    if (match !== null) out.push({ op: match[1]!.toUpperCase(), args: match[2]!.trim(), line: pending.line });
    pending = null;
  });
  return out;
}

interface Stage {
  readonly from: string;
  readonly name: string | undefined;
  readonly body: Instruction[];
}

function stagesOf(instructions: Instruction[]): Stage[] {
  const stages: Stage[] = [];
  for (const ins of instructions) {
    if (ins.op === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      assert.ok(m, `FROM line ${ins.line}: ${ins.args}`);
      stages.push({ from: m[1]!, name: m[2], body: [] });
    } else {
      assert.ok(stages.length > 0, `${ins.op} before any FROM (line ${ins.line})`);
      stages.at(-1)!.body.push(ins);
    }
  }
  return stages;
}

/** COPY's flags, sources and destination (shell form; the JSON form is not used here). */
function parseCopy(args: string): { from: string | undefined; sources: string[]; dest: string } {
  const words = args.split(/\s+/);
  const flags = words.filter((w) => w.startsWith('--'));
  const rest = words.filter((w) => !w.startsWith('--'));
  const from = flags.find((f) => f.startsWith('--from='))?.slice('--from='.length);
  return { from, sources: rest.slice(0, -1), dest: rest.at(-1)! };
}

/** .dockerignore patterns as regular expressions over context-relative paths (`*`, `**`, plain names). */
function ignoreMatchers(text: string): RegExp[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((pattern) => {
      assert.ok(!pattern.startsWith('!'), `negated .dockerignore patterns are not checked by this test: ${pattern}`);
      const source = pattern
        .replace(/[.+^${}()|[\]]/g, '\\$&')
        .replace(/\*\*\//g, '\u0000')
        .replace(/\*/g, '[^/]*')
        .replace(/\u0000/g, '(?:.*/)?');
      // A pattern that names a folder excludes everything under it.
      return new RegExp(`^${source}(?:/.*)?$`);
    });
}

/** Exec-form arguments (`["node", "-e", "..."]`) of CMD, ENTRYPOINT or HEALTHCHECK ... CMD. */
function execForm(args: string): string[] {
  const parsed = JSON.parse(args) as unknown;
  assert.ok(Array.isArray(parsed) && parsed.every((a) => typeof a === 'string'), `not exec form: ${args}`);
  return parsed as string[];
}

const DOCKERFILE = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
const INSTRUCTIONS = parseDockerfile(DOCKERFILE);
const STAGES = stagesOf(INSTRUCTIONS);
const BUILD = STAGES[0]!;
const RUNTIME = STAGES.at(-1)!;
const ops = (stage: Stage, op: string) => stage.body.filter((i) => i.op === op);
const envOf = (stage: Stage): Record<string, string> =>
  Object.fromEntries(ops(stage, 'ENV').flatMap((i) => [...i.args.matchAll(/(\w+)=("[^"]*"|\S*)/g)].map((m) => [m[1]!, m[2]!.replace(/^"|"$/g, '')])));

describe('Dockerfile (structural: no Docker engine here)', () => {
  it('has a build stage with the C++ toolchain that runs npm ci, the build and a prune, and a slim runtime stage', () => {
    assert.equal(STAGES.length, 2);
    assert.equal(BUILD.name, 'build');
    assert.equal(RUNTIME.name, 'runtime');
    // The image's Node is the one package.json's engines allow.
    assert.match(PACKAGE.engines.node, />=20 <21/);
    for (const stage of STAGES) assert.match(stage.from, /^node:20-/);
    assert.match(RUNTIME.from, /-slim$/);
    const buildRuns = ops(BUILD, 'RUN').map((i) => i.args).join('\n');
    for (const tool of ['python3', 'make', 'g++']) assert.ok(buildRuns.includes(` ${tool}`), `the build stage installs ${tool} (isolated-vm's node-gyp build)`);
    assert.match(buildRuns, /\bnpm ci\b/);
    assert.match(buildRuns, /\bnpm prune --omit=dev\b/);
    const runtimeRuns = ops(RUNTIME, 'RUN').map((i) => i.args).join('\n');
    assert.doesNotMatch(runtimeRuns, /\bnpm (ci|install)\b|apt-get install/, 'the runtime stage installs nothing: it copies what the build stage made');
  });

  it('calls only npm scripts that package.json has', () => {
    const called = [...INSTRUCTIONS.filter((i) => i.op === 'RUN').map((i) => i.args).join('\n').matchAll(/\bnpm run (\S+)/g)].map((m) => m[1]!);
    assert.ok(called.includes('build'));
    for (const script of called) assert.ok(script in PACKAGE.scripts, `npm run ${script}: no such script in package.json`);
  });

  it('copies only paths that exist in the repository and that .dockerignore lets into the context', () => {
    const ignored = ignoreMatchers(readFileSync(join(ROOT, '.dockerignore'), 'utf8'));
    const buildWorkdir = ops(BUILD, 'WORKDIR').at(-1)?.args;
    assert.equal(buildWorkdir, '/app');
    const inBuildStage = new Set<string>();
    for (const ins of ops(BUILD, 'COPY')) {
      const copy = parseCopy(ins.args);
      assert.equal(copy.from, undefined, `line ${ins.line}: the build stage copies from the context`);
      for (const source of copy.sources) {
        assert.ok(existsSync(join(ROOT, source)), `COPY ${source} (line ${ins.line}): not in the repository`);
        const hit = ignored.find((re) => re.test(source));
        assert.equal(hit, undefined, `COPY ${source} (line ${ins.line}): excluded by .dockerignore (${String(hit)})`);
        inBuildStage.add(copy.sources.length === 1 && copy.dest !== './' ? copy.dest.replace(/^\.\//, '') : source);
      }
    }
    // What the build stage makes: npm ci's node_modules and the build's dist/.
    const made = new Set([...inBuildStage, 'node_modules', 'dist']);
    const runtimeCopies = ops(RUNTIME, 'COPY').map((i) => parseCopy(i.args));
    assert.ok(runtimeCopies.length > 0);
    for (const copy of runtimeCopies) {
      assert.equal(copy.from, 'build', 'the runtime stage takes files only from the build stage');
      for (const source of copy.sources) {
        const rel = source.replace(/^\/app\//, '');
        assert.ok(made.has(rel), `COPY --from=build ${source}: the build stage neither copies nor makes it`);
      }
    }
    // The runtime needs package.json (the package root and version are read from it) and the entry.
    assert.ok(runtimeCopies.some((c) => c.sources.includes('/app/package.json')));
    assert.ok(existsSync(join(ROOT, 'src', 'main.ts')), 'dist/src/main.js is built from src/main.ts');
    for (const excluded of ['node_modules', 'dist', 'data', '.git', 'test/fixtures/x']) {
      assert.ok(
        ignored.some((re) => re.test(excluded)),
        `.dockerignore keeps ${excluded} out of the context`,
      );
    }
  });

  it('runs as a non-root user, node --no-node-snapshot on the built entry', () => {
    const users = ops(RUNTIME, 'USER');
    assert.ok(users.length > 0, 'the runtime stage sets USER');
    const user = users.at(-1)!.args.split(':')[0]!;
    assert.ok(user !== 'root' && user !== '0', `USER ${user}`);
    const entry = ops(RUNTIME, 'ENTRYPOINT').at(-1) ?? ops(RUNTIME, 'CMD').at(-1);
    assert.ok(entry, 'ENTRYPOINT or CMD');
    assert.ok(users.at(-1)!.line < entry.line, 'USER comes before the entry point');
    assert.deepEqual(execForm(entry.args), ['node', '--no-node-snapshot', 'dist/src/main.js']);
  });

  it('exposes the HTTP port it listens on (and the gRPC port), declares the data directory a volume, takes secrets at run time', () => {
    const env = envOf(RUNTIME);
    for (const name of Object.keys(env)) {
      if (name === 'NODE_ENV') continue;
      assert.ok(
        Object.values(CONFIG_KEYS).some((k) => k.env === name),
        `ENV ${name}: not a config key (src/config.ts)`,
      );
    }
    assert.equal(env.PORT, '8080');
    assert.equal(env.HOST, '0.0.0.0');
    const exposed = ops(RUNTIME, 'EXPOSE').flatMap((i) => i.args.split(/\s+/));
    assert.ok(exposed.includes(env.PORT!));
    assert.ok(exposed.includes('8081'));
    const volumes = ops(RUNTIME, 'VOLUME').flatMap((i) => execForm(i.args));
    assert.deepEqual(volumes, [env.INFERBOX_DATA]);
    // Documented for `docker run -e`, never given a value in the image.
    for (const secret of ['INFERBOX_ADMIN_TOKEN', 'INFERBOX_DATABASE_URL']) {
      assert.ok(DOCKERFILE.includes(secret), `the Dockerfile names ${secret}`);
      assert.equal(env[secret], undefined, `${secret} is not baked into the image`);
    }
  });

  it('health-checks /readyz, and its command passes against a ready server and fails without one', async () => {
    const check = ops(RUNTIME, 'HEALTHCHECK');
    assert.equal(check.length, 1);
    const m = /^(.*?)\bCMD\s+(\[.*\])$/s.exec(check[0]!.args);
    assert.ok(m, `HEALTHCHECK ... CMD [exec form]: ${check[0]!.args}`);
    const argv = execForm(m[2]!);
    assert.ok(argv.join(' ').includes('/readyz'));
    assert.equal(argv[0], 'node', 'the slim image has no curl or wget');
    const run = (port: number) =>
      promisify(execFile)(process.execPath, argv.slice(1), { env: { ...process.env, PORT: String(port) } }).then(
        () => 0,
        (err: { code?: number }) => err.code ?? -1,
      );
    const server = await startTestServer({ env: { INFERBOX_WORKERS_COUNT: '1' } });
    try {
      assert.equal(await run(server.port), 0);
    } finally {
      await server.close();
    }
    assert.equal(await run(server.port), 1, 'nothing listening: unhealthy');
  });
});
