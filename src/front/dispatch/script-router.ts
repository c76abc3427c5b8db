import { createHash } from 'node:crypto';
import type { Config } from '../../config.js';
import { ServeError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { InvokeArgs, InvokeResult, ModelRef, ScriptHandle, ScriptLimits, ScriptRef } from '../../protocol/messages.js';
import type { DeploymentRecord } from '../../store/index.js';
import { runnableScript } from './transpile-script.js';
import type { CrashVerdict, WorkerPool } from './worker-pool.js';
import { PREDICT_FUNCTION } from '../../model/index.js';

/** Crashes of workers with a script's call in flight before the script is refused. */
export const QUARANTINE_AFTER_CRASHES = 2;

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/**
 * The args of a predict call without files travel as JSON text, which the worker passes into the
 * sandbox's flow as it is. Other functions get objects: the worker would only parse the text to
 * encode it again for Sandbox.call.
 */
const argsFor = (call: ScriptCall): InvokeArgs | string => (call.fn === PREDICT_FUNCTION && call.args.files === undefined ? JSON.stringify(call.args) : call.args);

export interface ScriptCall {
  readonly model: ModelRef;
  readonly fn: string;
  readonly args: InvokeArgs;
}

/**
 * The front's side of custom scripts: where each deployment's sandboxes live, building them before
 * a switch, routing calls to them, and quarantining scripts that keep crashing their workers.
 * Inline script tests run on the scratch worker, so a hostile script under test costs no service.
 */
/** Where a deployment's calls go; computed once per stored record (records are replaced on change). */
interface Route {
  readonly modelKey: string;
  readonly scriptSha: string;
  readonly hosts: readonly number[];
  /** Per hosting worker: the full ref, and the handle invokes send. */
  readonly refs: ReadonlyMap<number, { full: ScriptRef; light: ScriptHandle }>;
  readonly verdict: CrashVerdict;
}

export class ScriptRouter {
  /** script sha256 -> pids of the workers that died with one of its calls in flight */
  private readonly crashes = new Map<string, Set<number>>();
  /** Hashing and placement are not redone per request: the hot path only looks the route up. */
  private readonly routes = new WeakMap<DeploymentRecord, Route>();

  constructor(
    private readonly workers: WorkerPool,
    private readonly config: Config,
    private readonly log: Logger,
  ) {}

  limitsOf(record: Pick<DeploymentRecord, 'limits'>): ScriptLimits {
    const { sandbox } = this.config;
    return {
      timeoutMs: record.limits.timeoutMs ?? sandbox.timeoutMs,
      memoryLimitMb: record.limits.memoryLimitMb ?? sandbox.memoryLimitMb,
      maxLogLines: sandbox.maxLogLines,
      maxLogBytes: sandbox.maxLogBytes,
      maxResultBytes: record.limits.maxResultBytes ?? sandbox.maxResultBytes,
    };
  }

  /** Replicas per serving worker: spread evenly, starting at a worker picked by the name. */
  placement(name: string, replicas: number): Map<number, number> {
    const n = this.workers.size;
    const offset = Number.parseInt(sha256(name).slice(0, 8), 16) % n;
    const out = new Map<number, number>();
    for (let r = 0; r < replicas; r++) {
      const worker = (offset + r) % n;
      out.set(worker, (out.get(worker) ?? 0) + 1);
    }
    return out;
  }

  private refFor(owner: string, text: string, limits: ScriptLimits, model: ModelRef, replicas: number): ScriptRef {
    // The replica count is part of the revision, so a PATCH of replicas alone builds the new number.
    const revision = sha256(JSON.stringify({ text, limits, model: model.key, replicas })).slice(0, 32);
    // Workers get JavaScript: TypeScript's types are stripped here, lines kept (transpile-script.ts).
    return { owner, revision, text: runnableScript(text), limits, replicas };
  }

  /** Builds a deployment's sandboxes on every worker that hosts them; SCRIPT_INVALID if any fails. */
  async prepare(record: DeploymentRecord, model: ModelRef): Promise<readonly string[]> {
    if (record.script === null) return [];
    this.assertNotQuarantined(record.script);
    const limits = this.limitsOf(record);
    const answers = await Promise.all(
      [...this.placement(record.name, record.replicas)].map(([worker, replicas]) =>
        this.workers.request<{ functions: string[] }>({ t: 'prepare', model, script: this.refFor(record.name, record.script!, limits, model, replicas) }, { worker, onCrash: this.verdict(record.script!) }),
      ),
    );
    return answers[0]?.functions ?? [];
  }

  /** Validates a script (compile + init) on the scratch worker and answers its functions. */
  async check(text: string, model: ModelRef, limits: ScriptLimits): Promise<readonly string[]> {
    const ref = this.refFor('', text, limits, model, 1);
    const answer = await this.workers.request<{ functions: string[] }>(
      { t: 'prepare', model, script: { ...ref, owner: `test:${ref.revision}` } },
      { worker: this.workers.scratchIndex, onCrash: this.verdict(text) },
    );
    return answer.functions;
  }

  /** A call on a deployment with a script, on one of the workers hosting its sandboxes. */
  invoke(record: DeploymentRecord, call: ScriptCall): Promise<InvokeResult> {
    const route = this.routeFor(record, call.model);
    this.assertNotQuarantined(record.script!, route.scriptSha);
    const worker = route.hosts.length === 1 ? route.hosts[0]! : this.workers.leastBusy(route.hosts);
    const { full, light } = route.refs.get(worker)!;
    const options = { worker, onCrash: route.verdict };
    const sent = { t: 'invoke' as const, ...call, args: argsFor(call) };
    return this.workers.request<InvokeResult>({ ...sent, script: light }, options).catch((err: unknown) => {
      if (!(err instanceof ServeError && err.code === 'SCRIPT_NOT_LOADED')) throw err;
      return this.workers.request<InvokeResult>({ ...sent, script: full }, options);
    });
  }

  private routeFor(record: DeploymentRecord, model: ModelRef): Route {
    const cached = this.routes.get(record);
    if (cached?.modelKey === model.key) return cached;
    const text = record.script!;
    const placement = this.placement(record.name, record.replicas);
    const limits = this.limitsOf(record);
    // Each hosting worker gets its own replica count, so its own revision.
    const refs = new Map(
      [...placement].map(([w, replicas]) => {
        const full = this.refFor(record.name, text, limits, model, replicas);
        return [w, { full, light: { owner: full.owner, revision: full.revision } }];
      }),
    );
    const route: Route = { modelKey: model.key, scriptSha: sha256(text), hosts: [...placement.keys()], refs, verdict: this.verdict(text) };
    this.routes.set(record, route);
    return route;
  }

  /** An inline script under test, on the scratch worker. */
  invokeInline(text: string, limits: ScriptLimits, call: ScriptCall): Promise<InvokeResult> {
    this.assertNotQuarantined(text);
    const ref = this.refFor('', text, limits, call.model, 1);
    return this.workers.request<InvokeResult>(
      { t: 'invoke', ...call, args: argsFor(call), script: { ...ref, owner: `test:${ref.revision}` } },
      { worker: this.workers.scratchIndex, onCrash: this.verdict(text) },
    );
  }

  /** Frees a deployment's sandboxes on every worker. */
  async drop(name: string): Promise<void> {
    await this.workers.broadcast({ t: 'drop', owner: name });
  }

  /** After a change: frees the sandboxes on workers that no longer host the deployment (or all, with no script). */
  async dropStale(record: DeploymentRecord): Promise<void> {
    const hosts = record.script === null ? new Set<number>() : new Set(this.placement(record.name, record.replicas).keys());
    const stale = Array.from({ length: this.workers.size }, (_, i) => i).filter((i) => !hosts.has(i));
    await Promise.all(stale.map((worker) => this.workers.request({ t: 'drop', owner: record.name }, { worker }).catch(() => undefined)));
  }

  /** What a deployment's sandboxes are doing, for its page: none, running, or quarantined after crashes. */
  stateOf(record: Pick<DeploymentRecord, 'script'>): { state: 'none' | 'running' | 'quarantined'; crashes: number } {
    if (record.script === null) return { state: 'none', crashes: 0 };
    const crashes = this.crashes.get(sha256(record.script))?.size ?? 0;
    return { state: crashes >= QUARANTINE_AFTER_CRASHES ? 'quarantined' : 'running', crashes };
  }

  private assertNotQuarantined(text: string, sha = sha256(text)): void {
    const crashes = this.crashes.get(sha)?.size ?? 0;
    if (crashes >= QUARANTINE_AFTER_CRASHES) {
      throw new ServeError('SCRIPT_QUARANTINED', `this script crashed its runtime worker ${crashes} times and is quarantined; change the script to lift it`);
    }
  }

  private verdict(text: string): CrashVerdict {
    return ({ pid, code, signal }) => {
      const key = sha256(text);
      const pids = this.crashes.get(key) ?? new Set<number>();
      pids.add(pid);
      this.crashes.set(key, pids);
      this.log.error({ script: key.slice(0, 12), workerPid: pid, code, signal, crashes: pids.size }, 'a runtime worker died during a script call');
      return new ServeError(
        'SCRIPT_CRASHED',
        `the runtime worker died (${signal ?? `exit code ${code}`}) while running this script (crash ${pids.size} of ${QUARANTINE_AFTER_CRASHES} before quarantine); a common cause is one allocation far over the sandbox memory limit`,
      );
    };
  }
}
