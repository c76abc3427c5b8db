import { createHash } from 'node:crypto';
import type { Config } from '../../config.js';
import { ServeError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { InvokeArgs, InvokeRequest, InvokeResult, ModelRef, ScriptHandle, ScriptLimits, ScriptRef } from '../../protocol/messages.js';
import type { DeploymentRecord } from '../../store/index.js';
import { runnableScript } from './transpile-script.js';
import type { Placement } from './placement.js';
import type { CrashVerdict, Outgoing, WorkerPool } from './worker-pool.js';
import { PREDICT_FUNCTION, type PreprocessBlock } from '../../model/index.js';

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
  /** The deployment's dynamic batching, for its flow's model step. */
  readonly batching?: InvokeRequest['batching'];
}

/** Where a deployment's calls go; computed once per stored record and placement (both are replaced on change). */
interface Route {
  readonly modelKey: string;
  readonly placement: Placement;
  readonly scriptSha: string;
  /** Per hosting worker: the full ref, and the handle invokes send. */
  readonly refs: ReadonlyMap<number, { full: ScriptRef; light: ScriptHandle }>;
  readonly verdict: CrashVerdict;
}

/** The invoke for one worker: `msg` names the revision, `full` carries the text for a worker that lacks it. */
export interface ScriptMessages {
  readonly msg: InvokeMessage;
  readonly full: InvokeMessage;
  readonly onCrash: CrashVerdict;
}

type InvokeMessage = Extract<Outgoing, { t: 'invoke' }>;

/**
 * The front's side of custom scripts: building each deployment's sandboxes on the workers it is
 * placed on (placement.ts) before a switch, the messages that route calls to them, and quarantining
 * scripts that keep crashing their workers. Inline script tests run on the scratch worker, so a
 * hostile script under test costs no service.
 */
export class ScriptRouter {
  /** script sha256 -> pids of the workers that died with one of its calls in flight */
  private readonly crashes = new Map<string, Set<number>>();
  /** Hashing and refs are not redone per request: the hot path only looks the route up. */
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

  private refFor(owner: string, text: string, limits: ScriptLimits, model: ModelRef, replicas: number, preprocess?: PreprocessBlock): ScriptRef {
    // The replica count is part of the revision, so a PATCH of replicas alone builds the new number;
    // the preprocess block too, as the sandboxes' image() defaults follow it.
    const revision = sha256(JSON.stringify({ text, limits, model: model.key, replicas, ...(preprocess ? { preprocess } : {}) })).slice(0, 32);
    // Workers get JavaScript: TypeScript's types are stripped here, lines kept (transpile-script.ts).
    return { owner, revision, text: runnableScript(text), limits, replicas, ...(preprocess ? { preprocess } : {}) };
  }

  /**
   * Builds a deployment's sandboxes on every worker of its placement (or only on `only`), as many on
   * each as the placement says; SCRIPT_INVALID if any fails.
   */
  async prepare(record: DeploymentRecord, model: ModelRef, placement: Placement, only?: number): Promise<readonly string[]> {
    if (record.script === null) return [];
    this.assertNotQuarantined(record.script);
    const limits = this.limitsOf(record);
    const answers = await Promise.all(
      placement.workers
        .map((worker, i) => [worker, placement.sandboxes[i]!] as const)
        .filter(([worker]) => only === undefined || worker === only)
        .map(([worker, replicas]) =>
          this.workers.request<{ functions: string[] }>({ t: 'prepare', model, script: this.refFor(record.name, record.script!, limits, model, replicas, record.preprocess) }, { worker, onCrash: this.verdict(record.script!) }),
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

  /**
   * A call on a deployment with a script, for one of the workers its placement names (picked by the
   * worker pool when it takes the request). SCRIPT_QUARANTINED when the script is quarantined.
   */
  messagesFor(record: DeploymentRecord, placement: Placement, call: ScriptCall, worker: number): ScriptMessages {
    const route = this.routeFor(record, call.model, placement);
    this.assertNotQuarantined(record.script!, route.scriptSha);
    const refs = route.refs.get(worker);
    if (refs === undefined) throw new ServeError('INTERNAL', `worker ${worker} does not host deployment "${record.name}"`);
    const sent = { t: 'invoke' as const, ...call, args: argsFor(call) };
    return { msg: { ...sent, script: refs.light }, full: { ...sent, script: refs.full }, onCrash: route.verdict };
  }

  private routeFor(record: DeploymentRecord, model: ModelRef, placement: Placement): Route {
    const cached = this.routes.get(record);
    if (cached?.modelKey === model.key && cached.placement === placement) return cached;
    const text = record.script!;
    const limits = this.limitsOf(record);
    // Each hosting worker gets its own replica count, so its own revision.
    const refs = new Map(
      placement.workers.map((w, i) => {
        const full = this.refFor(record.name, text, limits, model, placement.sandboxes[i]!, record.preprocess);
        return [w, { full, light: { owner: full.owner, revision: full.revision } }];
      }),
    );
    const route: Route = { modelKey: model.key, placement, scriptSha: sha256(text), refs, verdict: this.verdict(text) };
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
  async dropStale(record: DeploymentRecord, placement: Placement): Promise<void> {
    const hosts = new Set(record.script === null ? [] : placement.workers);
    const stale = Array.from({ length: this.workers.size }, (_, i) => i).filter((i) => !hosts.has(i));
    await Promise.all(stale.map((worker) => this.workers.request({ t: 'drop', owner: record.name }, { worker }).catch(() => undefined)));
  }

  /** What a deployment's sandboxes are doing, for its page: none, running, or quarantined after crashes. */
  stateOf(record: Pick<DeploymentRecord, 'script'>): { state: 'none' | 'running' | 'quarantined'; crashes: number } {
    if (record.script === null) return { state: 'none', crashes: 0 };
    const crashes = this.crashes.get(sha256(record.script))?.size ?? 0;
    return { state: crashes >= QUARANTINE_AFTER_CRASHES ? 'quarantined' : 'running', crashes };
  }

  isQuarantined(text: string): boolean {
    return (this.crashes.get(sha256(text))?.size ?? 0) >= QUARANTINE_AFTER_CRASHES;
  }

  assertNotQuarantined(text: string, sha?: string): void {
    // Called on every call of a script deployment: hash its text only once some script has crashed.
    if (this.crashes.size === 0) return;
    const crashes = this.crashes.get(sha ?? sha256(text))?.size ?? 0;
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
