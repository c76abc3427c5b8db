import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, Secret, Service } from 'kubernetes-models/v1';
import { parseAllDocuments } from 'yaml';
import { CONFIG_KEYS } from '../../src/config.js';
import { startTestServer } from '../helpers/server.js';

/**
 * deploy/k8s/: every object validated against the official Kubernetes schemas that
 * kubernetes-models ships (types, required fields, enums; they let unknown fields through, so the
 * cross-checks below name the fields that matter), then checked against each other and against
 * the server: labels and selectors, ports, probes on real routes, Secret and ConfigMap keys.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DIR = join(ROOT, 'deploy', 'k8s');
const PACKAGE = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };

/** The kinds the manifests use, by apiVersion and kind. A new kind must be added here to be validated. */
const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'v1/Secret': Secret,
  'v1/ConfigMap': ConfigMap,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'apps/v1/StatefulSet': StatefulSet,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
};

// YAML objects are `any` here: the schema validation and the checks below are what type them.
type Obj = { apiVersion: string; kind: string; metadata: { name: string; labels?: Record<string, string> }; [k: string]: any };

interface Loaded {
  readonly file: string;
  readonly obj: Obj;
}

function loadAll(): Loaded[] {
  const files = readdirSync(DIR).filter((f) => /\.ya?ml$/.test(f)).sort();
  assert.ok(files.length > 0, `no YAML in ${DIR}`);
  return files.flatMap((file) =>
    parseAllDocuments(readFileSync(join(DIR, file), 'utf8')).map((doc) => {
      assert.deepEqual(doc.errors, [], `${file}: YAML errors`);
      assert.deepEqual(doc.warnings, [], `${file}: YAML warnings`);
      return { file, obj: doc.toJS() as Obj };
    }),
  );
}

const ALL = loadAll();
const ofKind = (kind: string) => ALL.filter((l) => l.obj.kind === kind).map((l) => l.obj);
const one = (kind: string, name: string): Obj => {
  const found = ofKind(kind).filter((o) => o.metadata.name === name);
  assert.equal(found.length, 1, `exactly one ${kind} ${name}`);
  return found[0]!;
};
const WORKLOADS = [...ofKind('Deployment'), ...ofKind('StatefulSet')];
const INFERBOX = one('Deployment', 'inferbox');
const CONTAINER = (INFERBOX.spec.template.spec.containers as any[]).find((c) => c.name === 'inferbox');

const matches = (selector: Record<string, string>, labels: Record<string, string> | undefined) =>
  Object.entries(selector).every(([k, v]) => labels?.[k] === v);

/** Kubernetes quantities as numbers: cores for CPU ("2", "500m"), bytes for memory ("2Gi", "256Mi"). */
function quantity(q: string | number): number {
  const m = /^(\d+(?:\.\d+)?)(m|Ki|Mi|Gi|Ti)?$/.exec(String(q));
  assert.ok(m, `quantity ${q}`);
  const unit = { m: 1e-3, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40 }[m[2] as 'm'] ?? 1;
  return Number(m[1]) * unit;
}

/** The environment a container gets: its env entries and its ConfigMaps' keys. */
function envNames(container: any): string[] {
  const fromMaps = ((container.envFrom ?? []) as any[]).flatMap((e) => (e.configMapRef ? Object.keys(one('ConfigMap', e.configMapRef.name).data ?? {}) : []));
  return [...((container.env ?? []) as any[]).map((e) => e.name as string), ...fromMaps];
}

describe('deploy/k8s manifests', () => {
  it('every object is a known kind and valid against the Kubernetes schema', () => {
    assert.ok(ALL.length >= 8);
    for (const { file, obj } of ALL) {
      const model = MODELS[`${obj.apiVersion}/${obj.kind}`];
      assert.ok(model, `${file}: ${obj.apiVersion} ${obj.kind} is not a kind this test validates`);
      assert.doesNotThrow(() => new model(obj as never).validate(), `${file}: ${obj.kind} ${obj.metadata?.name}`);
      assert.equal(obj.metadata.labels?.['app.kubernetes.io/part-of'], 'inferbox', `${file}: ${obj.kind} ${obj.metadata.name} is labelled part-of inferbox`);
    }
    const names = ALL.map(({ obj }) => `${obj.kind}/${obj.metadata.name}`);
    assert.deepEqual(names, [...new Set(names)], 'no kind and name twice');
    for (const kind of ['Secret', 'ConfigMap', 'Service', 'Deployment', 'StatefulSet', 'HorizontalPodAutoscaler']) assert.ok(ofKind(kind).length > 0, `a ${kind}`);
  });

  it('a bad object fails validation (the validator is live)', () => {
    const broken = structuredClone(INFERBOX);
    broken.spec.template.spec.containers[0].ports[0].containerPort = 'eighty';
    assert.throws(() => new Deployment(broken as never).validate(), /containerPort/);
  });

  it('selectors match the pod labels: workloads, Services, the PodDisruptionBudget', () => {
    for (const w of WORKLOADS) {
      assert.ok(matches(w.spec.selector.matchLabels, w.spec.template.metadata.labels), `${w.kind} ${w.metadata.name}: its selector matches its pods`);
    }
    for (const svc of ofKind('Service')) {
      const selected = WORKLOADS.filter((w) => matches(svc.spec.selector, w.spec.template.metadata.labels));
      assert.equal(selected.length, 1, `Service ${svc.metadata.name} selects the pods of exactly one workload`);
    }
    for (const pdb of ofKind('PodDisruptionBudget')) {
      assert.ok(WORKLOADS.some((w) => matches(pdb.spec.selector.matchLabels, w.spec.template.metadata.labels)), `PodDisruptionBudget ${pdb.metadata.name} selects pods`);
    }
    const sts = one('StatefulSet', 'inferbox-postgres');
    const headless = one('Service', sts.spec.serviceName);
    assert.equal(headless.spec.clusterIP, 'None', "the StatefulSet's serviceName is a headless Service");
  });

  it("each Service port reaches a port of the selected pods' containers; the server listens on the container's http port", () => {
    for (const svc of ofKind('Service')) {
      const workload = WORKLOADS.find((w) => matches(svc.spec.selector, w.spec.template.metadata.labels))!;
      const ports = (workload.spec.template.spec.containers as any[]).flatMap((c) => c.ports ?? []);
      for (const p of svc.spec.ports as any[]) {
        const target = p.targetPort ?? p.port;
        const hit = ports.find((cp) => (typeof target === 'number' ? cp.containerPort === target : cp.name === target));
        assert.ok(hit, `Service ${svc.metadata.name} port ${p.name} -> ${target}: no such container port on ${workload.metadata.name}`);
      }
    }
    const http = (CONTAINER.ports as any[]).find((p) => p.name === 'http');
    // No PORT in the pod: the server's default port, which the image sets too.
    assert.ok(!envNames(CONTAINER).includes('PORT'));
    assert.equal(http.containerPort, CONFIG_KEYS['server.port'].default);
    const exposed = readFileSync(join(ROOT, 'Dockerfile'), 'utf8').match(/^EXPOSE\s+(.+)$/m)![1]!.split(/\s+/).map(Number);
    for (const p of CONTAINER.ports as any[]) assert.ok(exposed.includes(p.containerPort), `container port ${p.containerPort} is EXPOSEd by the Dockerfile`);
  });

  it('probes use named ports of the container and paths the server answers 200 on', async () => {
    const probes = ['startupProbe', 'livenessProbe', 'readinessProbe'].map((k) => [k, CONTAINER[k]] as const);
    for (const [name, probe] of probes) assert.ok(probe?.httpGet, `${name} is an httpGet probe`);
    assert.equal(CONTAINER.readinessProbe.httpGet.path, '/readyz');
    const portNames = (CONTAINER.ports as any[]).map((p) => p.name);
    for (const [name, probe] of probes) assert.ok(portNames.includes(probe.httpGet.port), `${name} port ${probe.httpGet.port}`);
    const server = await startTestServer({ env: { INFERBOX_WORKERS_COUNT: '1' } });
    try {
      for (const [name, probe] of probes) {
        const res = await fetch(`${server.url}${probe.httpGet.path}`);
        assert.equal(res.status, 200, `${name} ${probe.httpGet.path}`);
      }
    } finally {
      await server.close();
    }
  });

  it('every Secret and ConfigMap reference exists, with its key; the pods get only known settings', () => {
    for (const w of WORKLOADS) {
      for (const c of w.spec.template.spec.containers as any[]) {
        for (const e of (c.env ?? []) as any[]) {
          const ref = e.valueFrom?.secretKeyRef;
          if (!ref) continue;
          const secret = one('Secret', ref.name);
          assert.ok(ref.key in { ...secret.data, ...secret.stringData }, `${w.metadata.name}: ${e.name} from Secret ${ref.name} key ${ref.key}: no such key`);
        }
        for (const e of (c.envFrom ?? []) as any[]) if (e.configMapRef) one('ConfigMap', e.configMapRef.name);
      }
    }
    // INFERBOX_DATABASE_URL selects the PostgreSQL store (issue #17, another branch adds the key).
    const known = new Set([...Object.values(CONFIG_KEYS).map((k) => k.env), 'INFERBOX_DATABASE_URL']);
    for (const name of envNames(CONTAINER)) assert.ok(known.has(name), `${name}: not a setting of the server (src/config.ts)`);
    const env = (CONTAINER.env as any[]).map((e) => e.name);
    assert.ok(env.includes('INFERBOX_ADMIN_TOKEN') && env.includes('INFERBOX_DATABASE_URL'));
  });

  it("the database URL in the Secret reaches the PostgreSQL Service with the StatefulSet's user, password and database", () => {
    const secret = one('Secret', 'inferbox').stringData as Record<string, string>;
    const url = new URL(secret['database-url']!);
    const svc = one('Service', url.hostname);
    assert.ok((svc.spec.ports as any[]).some((p) => p.port === Number(url.port)));
    const pg = one('StatefulSet', 'inferbox-postgres').spec.template.spec.containers[0];
    const env = Object.fromEntries((pg.env as any[]).map((e) => [e.name, e.value ?? e.valueFrom]));
    assert.equal(url.username, env.POSTGRES_USER);
    assert.equal(url.pathname, `/${env.POSTGRES_DB}`);
    assert.equal(decodeURIComponent(url.password), secret[env.POSTGRES_PASSWORD.secretKeyRef.key]);
  });

  it('is sized as docs/operations.md says: a worker per core of the CPU limit, memory for the front and every worker', () => {
    const workers = Number(one('ConfigMap', 'inferbox').data.INFERBOX_WORKERS_COUNT);
    const { requests, limits } = CONTAINER.resources;
    assert.equal(workers, quantity(limits.cpu), 'INFERBOX_WORKERS_COUNT = CPU limit in cores');
    assert.ok(quantity(requests.cpu) > 0, 'a CPU request: the HorizontalPodAutoscaler measures utilization against it');
    // docs/benchmarks.md, memory: front ~115 MiB, a worker ~130 MiB with a small model; the scratch
    // worker besides the serving ones; plus each serving worker's pool (file bytes, about as much resident).
    const pool = Number(one('ConfigMap', 'inferbox').data.INFERBOX_POOL_MAX_BYTES);
    const needed = 115 * 2 ** 20 + (workers + 1) * 130 * 2 ** 20 + workers * pool;
    assert.ok(quantity(limits.memory) >= needed, `memory limit ${limits.memory} < ${Math.ceil(needed / 2 ** 20)} MiB`);
    assert.ok(quantity(requests.memory) <= quantity(limits.memory));
    const hpa = one('HorizontalPodAutoscaler', 'inferbox');
    assert.deepEqual(hpa.spec.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: 'inferbox' });
    assert.ok(hpa.spec.minReplicas >= 2 && hpa.spec.minReplicas <= hpa.spec.maxReplicas);
  });

  it('runs the image of this version as the image user, non-root, with an emptyDir data directory', () => {
    assert.equal(CONTAINER.image, `inferbox:${PACKAGE.version}`);
    const pod = INFERBOX.spec.template.spec;
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.equal(pod.securityContext.runAsUser, 1000, 'the node user of the node:20 images (Dockerfile USER node)');
    const mount = (CONTAINER.volumeMounts as any[]).find((m) => m.mountPath === '/data');
    assert.ok(mount, 'INFERBOX_DATA=/data is a volume');
    assert.ok((pod.volumes as any[]).find((v) => v.name === mount.name).emptyDir, 'each pod its own data directory: the data-dir lock never sees two pods');
  });
});
