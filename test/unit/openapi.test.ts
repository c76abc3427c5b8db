/**
 * GET /openapi.json (#16): every route the front's routers register is in it, it has the structure
 * OpenAPI 3.1 requires, and every request example of docs/api/*.md is a request it describes, with
 * a JSON body its schema accepts when the page shows the call succeeding.
 *
 * ajv is not a direct dependency, so the examples are validated with the zod schemas the document
 * is generated from (the document holds their z.toJSONSchema output; it is checked to be exactly
 * that), and the document's structure is checked here against the parts of the spec it uses.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Router } from '@koa/router';
import { z } from 'zod';
import { loadConfig } from '../../src/config.js';
import { appRouters, createApp } from '../../src/front/app.js';
import { CallStats } from '../../src/front/call-stats.js';
import type { AppDeps } from '../../src/front/deps.js';
import { DeploymentPlacer } from '../../src/front/dispatch/deployment-placer.js';
import { ScriptRouter } from '../../src/front/dispatch/script-router.js';
import { WorkerPool } from '../../src/front/dispatch/worker-pool.js';
import { MIDDLEWARE_ROUTES, openApiDocument, openApiPath, ROUTE_DOCS } from '../../src/front/openapi.js';
import { createLogger } from '../../src/log.js';
import { workerConfigFrom } from '../../src/protocol/worker-config.js';
import { openFsStore } from '../../src/store/index.js';
import { DOC_BASE_URL, parseCurl, parseDoc } from '../helpers/doc-exchanges.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];

/** "METHOD /path" of every route the routers register (HEAD comes with GET; middleware layers have no method). */
function registered(routers: readonly Router[]): Set<string> {
  const keys = new Set<string>();
  for (const router of routers) {
    for (const layer of router.stack) {
      for (const method of layer.methods) if (METHODS.includes(method)) keys.add(`${method} ${layer.path}`);
    }
  }
  return keys;
}

/** The parts of OpenAPI 3.1 the document uses, as the spec defines them. */
const MediaType = z.object({ schema: z.record(z.string(), z.unknown()) });
const Response = z.object({ description: z.string(), content: z.record(z.string().regex(/^[a-z]+\/[a-z0-9.+*-]+$/), MediaType).optional() }).strict();
const Parameter = z.object({ name: z.string().min(1), in: z.enum(['query', 'header', 'path', 'cookie']), required: z.boolean().optional(), description: z.string().optional(), schema: z.record(z.string(), z.unknown()) }).strict();
const Operation = z
  .object({
    operationId: z.string().regex(/^[A-Za-z0-9_]+$/),
    summary: z.string().min(1),
    tags: z.array(z.string()).optional(),
    security: z.array(z.record(z.string(), z.array(z.string()))).optional(),
    parameters: z.array(Parameter).optional(),
    requestBody: z.object({ required: z.boolean().optional(), content: z.record(z.string(), MediaType) }).strict().optional(),
    responses: z.record(z.string().regex(/^([1-5]\d\d|default)$/), Response).refine((r) => Object.keys(r).length > 0, 'at least one response'),
  })
  .strict();
const Document = z
  .object({
    openapi: z.string().regex(/^3\.1\.\d+$/),
    info: z.object({ title: z.string().min(1), version: z.string().min(1), description: z.string().optional() }).strict(),
    servers: z.array(z.object({ url: z.string() })).optional(),
    tags: z.array(z.object({ name: z.string() })).optional(),
    paths: z.record(z.string().regex(/^\//), z.partialRecord(z.enum(['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace']), Operation)),
    components: z.object({
      securitySchemes: z.record(z.string(), z.object({ type: z.enum(['apiKey', 'http', 'mutualTLS', 'oauth2', 'openIdConnect']), scheme: z.string().optional(), description: z.string().optional() })),
      schemas: z.record(z.string(), z.record(z.string(), z.unknown())),
    }),
  })
  .strict();

type Doc = z.infer<typeof Document>;

/** Every `$ref` in the document, wherever it is. */
function refsIn(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) for (const v of value) refsIn(v, out);
  else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === '$ref' && typeof v === 'string') out.push(v);
      else refsIn(v, out);
    }
  }
  return out;
}

function resolve(doc: unknown, ref: string): unknown {
  assert.match(ref, /^#\//, `${ref} is a local reference`);
  return ref
    .slice(2)
    .split('/')
    .reduce<unknown>((node, part) => (node !== null && typeof node === 'object' ? (node as Record<string, unknown>)[part.replace(/~1/g, '/').replace(/~0/g, '~')] : undefined), doc);
}

/** The ROUTE_DOCS key whose path pattern matches a concrete request path. */
function routeOf(method: string, path: string): string | undefined {
  return Object.keys(ROUTE_DOCS).find((key) => {
    const [m, pattern] = key.split(' ') as [string, string];
    const re = new RegExp(`^${pattern.replace(/:[A-Za-z0-9_]+/g, '[^/]+')}/?$`, 'i');
    return m === method && re.test(path);
  });
}

describe('GET /openapi.json (#16)', () => {
  let deps: AppDeps;
  let dataDir: string;
  let server: Server;
  let url: string;
  const doc = openApiDocument();

  before(async () => {
    // The front's real parts, not started: building the routers needs them, running them does not.
    dataDir = await mkdtemp(join(tmpdir(), 'inferbox-openapi-'));
    const config = loadConfig({ env: { INFERBOX_DATA: dataDir, INFERBOX_ADMIN_TOKEN: 'x', INFERBOX_WORKERS_COUNT: '1' } });
    const log = createLogger({ level: 'silent' });
    const store = await openFsStore(dataDir, log);
    const workers = new WorkerPool({ count: 1, config: workerConfigFrom(config), startTimeoutMs: 1000, requestTimeoutMs: 1000, maxQueue: 1, maxInflightPerDeployment: 1, maxInflightPerWorker: 1, log });
    const scripts = new ScriptRouter(workers, config, log);
    const placer = new DeploymentPlacer({ store, workers, scripts, log });
    deps = { config, store, workers, scripts, placer, log, stats: new CallStats(), adminTokenHash: 'x', lifecycle: { draining: false } };
    server = createServer(createApp(deps).callback());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    await rm(dataDir, { recursive: true, force: true });
  });

  it('is served without a token, as JSON, and is the document openApiDocument() builds', async () => {
    const res = await fetch(`${url}/openapi.json`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    assert.deepEqual(await res.json(), JSON.parse(JSON.stringify(doc)));
  });

  it('describes every route the routers register, and no route they do not', () => {
    const { management, svc, oip } = appRouters(deps);
    const routes = registered([...management, svc.router, oip]);
    assert.ok(routes.size >= 25, `found ${routes.size} routes: the walk over the routers' layers works`);
    const documented = new Set(Object.keys(ROUTE_DOCS));
    const missing = [...routes].filter((r) => !documented.has(r));
    assert.deepEqual(missing, [], `routes without a ROUTE_DOCS entry in src/front/openapi.ts (see "Adding a route" in docs/architecture.md): ${missing.join(', ')}`);
    const stale = [...documented].filter((r) => !routes.has(r) && !MIDDLEWARE_ROUTES.has(r));
    assert.deepEqual(stale, [], `ROUTE_DOCS entries without a route: ${stale.join(', ')}`);
    const paths = doc.paths as Record<string, Record<string, unknown>>;
    for (const key of routes) {
      const [method, path] = key.split(' ') as [string, string];
      assert.ok(paths[openApiPath(path)]?.[method.toLowerCase()], `${key} is in the document's paths`);
    }
  });

  it('has the structure of an OpenAPI 3.1 document', () => {
    const parsed = Document.safeParse(doc);
    assert.ok(parsed.success, parsed.success ? '' : JSON.stringify(parsed.error.issues.slice(0, 5), null, 2));
    const d = parsed.data as Doc;
    for (const ref of refsIn(d)) assert.ok(resolve(d, ref) !== undefined, `${ref} resolves`);
    const ids = new Set<string>();
    for (const [path, ops] of Object.entries(d.paths)) {
      const inPath = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]).sort();
      for (const [method, op] of Object.entries(ops)) {
        assert.ok(!ids.has(op.operationId), `operationId ${op.operationId} is unique`);
        ids.add(op.operationId);
        const declared = (op.parameters ?? []).filter((p) => p.in === 'path');
        assert.deepEqual(declared.map((p) => p.name).sort(), inPath, `${method} ${path}: one path parameter per template segment`);
        for (const p of declared) assert.equal(p.required, true, `${method} ${path}: path parameter ${p.name} is required`);
        const names = (op.parameters ?? []).map((p) => `${p.in}:${p.name}`);
        assert.equal(new Set(names).size, names.length, `${method} ${path}: parameters are unique`);
        for (const requirement of op.security ?? []) for (const scheme of Object.keys(requirement)) assert.ok(d.components.securitySchemes[scheme], `${method} ${path}: security scheme ${scheme} is defined`);
        assert.ok(Object.keys(op.responses).some((s) => /^2\d\d$/.test(s)), `${method} ${path}: a success response`);
      }
    }
  });

  it('holds each JSON body schema exactly as z.toJSONSchema makes it from the schema the route parses with', () => {
    const schemas = (doc.components as { schemas: Record<string, unknown> }).schemas;
    for (const [key, route] of Object.entries(ROUTE_DOCS)) {
      if (!route.json) continue;
      const { $schema: _, ...expected } = z.toJSONSchema(route.json.schema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
      assert.deepEqual(schemas[route.json.name], expected, key);
    }
  });

  it('describes every request of the examples in docs/api/*.md, and the JSON body of each one that succeeds is valid', () => {
    const pages = readdirSync(join(ROOT, 'docs/api')).filter((f) => f.endsWith('.md'));
    let checked = 0;
    let validated = 0;
    const problems: string[] = [];
    for (const page of pages) {
      const file = `docs/api/${page}`;
      const vars = new Map<string, string>([['IB', DOC_BASE_URL]]);
      for (const step of parseDoc(readFileSync(join(ROOT, file), 'utf8'), file)) {
        if (step.kind === 'assign') {
          for (const [k, v] of step.vars) vars.set(k, v);
          continue;
        }
        const req = parseCurl(step.shell, (name) => vars.get(name) ?? `$${name}`, ROOT);
        const where = `${file}:${step.line} ${req.method} ${req.url}`;
        const path = new URL(req.url).pathname;
        const key = routeOf(req.method, path);
        const status = step.answer?.status ?? 0;
        if (key === undefined) {
          // A call to a path or method that does not exist, shown for its 404 or 405.
          if (status !== 404 && status !== 405) problems.push(`${where}: no operation in the document`);
          continue;
        }
        checked++;
        const route = ROUTE_DOCS[key]!;
        const type = req.headers.find(([k]) => k.toLowerCase() === 'content-type')?.[1] ?? '';
        if (req.body.kind !== 'data' || !type.includes('json') || route.json === undefined) continue;
        if (status < 200 || status >= 300) continue;
        const parsed = route.json.schema.safeParse(JSON.parse(req.body.data));
        validated++;
        if (!parsed.success) problems.push(`${where}: the body does not match ${route.json.name}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
      }
    }
    assert.deepEqual(problems, []);
    assert.ok(checked >= 80, `checked ${checked} exchanges`);
    assert.ok(validated >= 20, `validated ${validated} JSON bodies`);
  });
});
