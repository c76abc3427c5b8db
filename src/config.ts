import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { z } from 'zod';

/**
 * Every configuration key, documented once here and listed in docs/config.md (a test checks that).
 * Precedence: command-line flag > environment variable > default.
 */
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

export const CONFIG_KEYS = {
  /** TCP port the front listens on. @defaultValue 8080 */
  'server.port': { env: 'PORT', schema: int(0, 65535), default: 8080 },
  /** Interface the front binds to. @defaultValue "0.0.0.0" */
  'server.host': { env: 'HOST', schema: z.string().min(1), default: '0.0.0.0' },
  /** Base URL used in `endpoint_url`; when empty it is taken from the request's Host header. */
  'server.publicUrl': { env: 'INFERBOX_PUBLIC_URL', schema: z.string(), default: '' },
  /** Milliseconds SIGTERM waits for in-flight requests before closing anyway. @defaultValue 10000 */
  'server.shutdownGraceMs': { env: 'INFERBOX_SERVER_SHUTDOWN_GRACE_MS', schema: int(0, 600_000), default: 10_000 },
  /**
   * TCP port of the Open Inference Protocol's gRPC server (docs/api/oip.md), on `server.host`; 0
   * picks a free port, -1 turns gRPC off. @defaultValue 8081
   */
  'grpc.port': { env: 'INFERBOX_GRPC_PORT', schema: int(-1, 65535), default: 8081 },
  /** Data directory of the embedded store. @defaultValue "./data" */
  'store.dataDir': { env: 'INFERBOX_DATA', schema: z.string().min(1), default: './data' },
  /**
   * PostgreSQL connection URL (`postgres://user:password@host:5432/db`). When set, models, versions,
   * scripts, deployments and tokens live in that database, shared by every instance that names it,
   * and the data directory keeps only this instance's artifact cache; when empty, the data
   * directory is the store.
   */
  'store.databaseUrl': { env: 'INFERBOX_DATABASE_URL', schema: z.string().refine((v) => v === '' || /^postgres(ql)?:\/\//.test(v), 'must be empty or a postgres:// or postgresql:// URL'), default: '' },
  /** Admin token; when empty, one is generated on first start, stored hashed and printed once. */
  'auth.adminToken': { env: 'INFERBOX_ADMIN_TOKEN', schema: z.string(), default: '' },
  /** Largest JSON request body, in bytes. @defaultValue 16 MiB */
  'limits.maxJsonBytes': { env: 'INFERBOX_LIMITS_MAX_JSON_BYTES', schema: int(1024, 2 ** 31), default: 16 * 2 ** 20 },
  /** Largest file of a model upload (each part of a publish), in bytes. @defaultValue 1 GiB */
  'limits.maxModelBytes': { env: 'INFERBOX_LIMITS_MAX_MODEL_BYTES', schema: int(1024, 2 ** 40), default: 2 ** 30 },
  /** Largest file in a prediction or test upload, in bytes. @defaultValue 20 MiB */
  'limits.maxFileBytes': { env: 'INFERBOX_LIMITS_MAX_FILE_BYTES', schema: int(1, 2 ** 31), default: 20 * 2 ** 20 },
  /** Most files in one multipart request. @defaultValue 16 */
  'limits.maxFiles': { env: 'INFERBOX_LIMITS_MAX_FILES', schema: int(1, 10_000), default: 16 },
  /** Most text fields in one multipart request. @defaultValue 64 */
  'limits.maxFields': { env: 'INFERBOX_LIMITS_MAX_FIELDS', schema: int(1, 10_000), default: 64 },
  /** Largest image a script or the default pipeline may decode, in pixels. @defaultValue 40,000,000 */
  'limits.maxImagePixels': { env: 'INFERBOX_LIMITS_MAX_IMAGE_PIXELS', schema: int(1, 2 ** 31), default: 40_000_000 },
  /**
   * Most records (rows of `args.X`) one call may carry, for deployments that set no `max_records`,
   * and for `POST /api/v1/test` and a publish's `x_test`. Over it: 413, before any worker work.
   * @defaultValue 10000
   */
  'limits.maxRecords': { env: 'INFERBOX_LIMITS_MAX_RECORDS', schema: int(1, 100_000_000), default: 10_000 },
  /** Highest `max_records` a deployment may ask for. @defaultValue 100000 */
  'limits.maxRecordsCap': { env: 'INFERBOX_LIMITS_MAX_RECORDS_CAP', schema: int(1, 100_000_000), default: 100_000 },
  /**
   * Most values (numbers, strings, booleans, nulls) one call's arguments may hold, uploaded files
   * aside, for deployments that set no `max_elements`, and for tests and `x_test`. @defaultValue 4000000
   */
  'limits.maxElements': { env: 'INFERBOX_LIMITS_MAX_ELEMENTS', schema: int(1, 2 ** 31), default: 4_000_000 },
  /** Highest `max_elements` a deployment may ask for. @defaultValue 16000000 */
  'limits.maxElementsCap': { env: 'INFERBOX_LIMITS_MAX_ELEMENTS_CAP', schema: int(1, 2 ** 31), default: 16_000_000 },
  /**
   * The deadline of a call to a deployment (or a test call), from its arrival, in milliseconds, for
   * deployments that set no `request_timeout_ms`. Past it the call is answered 504 DEADLINE_EXCEEDED
   * and its work dropped. A client's `Request-Timeout` header can only shorten it. @defaultValue 60000
   */
  'limits.requestTimeoutMs': { env: 'INFERBOX_LIMITS_REQUEST_TIMEOUT_MS', schema: int(1, 3_600_000), default: 60_000 },
  /** Highest `request_timeout_ms` a deployment may ask for. @defaultValue 300000 */
  'limits.requestTimeoutMsCap': { env: 'INFERBOX_LIMITS_REQUEST_TIMEOUT_MS_CAP', schema: int(1, 3_600_000), default: 300_000 },
  /**
   * Calls of one deployment that may wait in the front for a worker slot, for deployments that set no
   * `max_queue`; one more gets 503 OVERLOADED at once. @defaultValue 256
   */
  'limits.maxQueue': { env: 'INFERBOX_LIMITS_MAX_QUEUE', schema: int(0, 1_000_000), default: 256 },
  /** Highest `max_queue` a deployment may ask for. @defaultValue 10000 */
  'limits.maxQueueCap': { env: 'INFERBOX_LIMITS_MAX_QUEUE_CAP', schema: int(0, 1_000_000), default: 10_000 },
  /** Highest `max_batch_size` (rows per model run) a deployment's dynamic batching may ask for. @defaultValue 256 */
  'limits.maxBatchSizeCap': { env: 'INFERBOX_LIMITS_MAX_BATCH_SIZE_CAP', schema: int(1, 65_536), default: 256 },
  /** Highest `max_delay_us` a deployment's dynamic batching may ask for, in microseconds. @defaultValue 100000 */
  'limits.maxBatchDelayUsCap': { env: 'INFERBOX_LIMITS_MAX_BATCH_DELAY_US_CAP', schema: int(0, 10_000_000), default: 100_000 },
  /** Runtime worker processes; 0 means one per core. @defaultValue 0 */
  'workers.count': { env: 'INFERBOX_WORKERS_COUNT', schema: int(0, 256), default: 0 },
  /** onnxruntime intra-op threads per worker (more hurt p99 on small machines). @defaultValue 1 */
  'workers.intraOpThreads': { env: 'INFERBOX_WORKERS_INTRA_OP_THREADS', schema: int(1, 256), default: 1 },
  /** Milliseconds one request may take inside a worker before it gets 504. @defaultValue 60000 */
  'workers.requestTimeoutMs': { env: 'INFERBOX_WORKERS_REQUEST_TIMEOUT_MS', schema: int(10, 3_600_000), default: 60_000 },
  /** Requests in flight or waiting, across all workers, beyond which new ones get 503 OVERLOADED. @defaultValue 1024 */
  'workers.maxQueue': { env: 'INFERBOX_WORKERS_MAX_QUEUE', schema: int(1, 1_000_000), default: 1024 },
  /** Requests of one deployment in flight on one runtime worker; more wait in the front, in the deployment's own queue. @defaultValue 16 */
  'workers.maxInflightPerDeployment': { env: 'INFERBOX_WORKERS_MAX_INFLIGHT_PER_DEPLOYMENT', schema: int(1, 100_000), default: 16 },
  /** Deployments' requests in flight on one runtime worker, all together; more wait, admitted round robin between deployments. @defaultValue 64 */
  'workers.maxInflightPerWorker': { env: 'INFERBOX_WORKERS_MAX_INFLIGHT_PER_WORKER', schema: int(1, 100_000), default: 64 },
  /** Milliseconds a request waits for a worker to come up (after a crash) before 503. @defaultValue 15000 */
  'workers.startTimeoutMs': { env: 'INFERBOX_WORKERS_START_TIMEOUT_MS', schema: int(100, 600_000), default: 15_000 },
  /** Loaded models each worker keeps. @defaultValue 32 */
  'pool.maxModels': { env: 'INFERBOX_POOL_MAX_MODELS', schema: int(1, 100_000), default: 32 },
  /** Total model file bytes each worker keeps loaded. @defaultValue 4 GiB */
  'pool.maxBytes': { env: 'INFERBOX_POOL_MAX_BYTES', schema: int(1, 2 ** 48), default: 4 * 2 ** 30 },
  /** Default time limit of one script call, in milliseconds. @defaultValue 1000 */
  'sandbox.timeoutMs': { env: 'INFERBOX_SANDBOX_TIMEOUT_MS', schema: int(1, 3_600_000), default: 1000 },
  /** Default memory limit of one sandbox isolate, in MB (approximate, see docs/scripts.md). @defaultValue 128 */
  'sandbox.memoryLimitMb': { env: 'INFERBOX_SANDBOX_MEMORY_LIMIT_MB', schema: int(8, 65_536), default: 128 },
  /** Cap on a deployment's own time limit, in milliseconds. @defaultValue 30000 */
  'sandbox.maxTimeoutMs': { env: 'INFERBOX_SANDBOX_MAX_TIMEOUT_MS', schema: int(1, 3_600_000), default: 30_000 },
  /** Cap on a deployment's own memory limit, in MB. @defaultValue 1024 */
  'sandbox.maxMemoryLimitMb': { env: 'INFERBOX_SANDBOX_MAX_MEMORY_LIMIT_MB', schema: int(8, 65_536), default: 1024 },
  /**
   * Default cap on a script's result, in bytes of its JSON answer; larger results get 413
   * SCRIPT_RESULT_TOO_LARGE from the worker. @defaultValue 8 MiB
   */
  'sandbox.maxResultBytes': { env: 'INFERBOX_SANDBOX_MAX_RESULT_BYTES', schema: int(1024, 2 ** 30), default: 8 * 2 ** 20 },
  /** Cap on a deployment's own result limit (`max_result_bytes`), in bytes. @defaultValue 256 MiB */
  'sandbox.maxResultBytesCap': { env: 'INFERBOX_SANDBOX_MAX_RESULT_BYTES_CAP', schema: int(1024, 2 ** 30), default: 256 * 2 ** 20 },
  /** Lines a script may print in one request before the rest is cut. @defaultValue 1000 */
  'sandbox.maxLogLines': { env: 'INFERBOX_SANDBOX_MAX_LOG_LINES', schema: int(0, 1_000_000), default: 1000 },
  /** Bytes a script may print in one request before the rest is cut. @defaultValue 256 KiB */
  'sandbox.maxLogBytes': { env: 'INFERBOX_SANDBOX_MAX_LOG_BYTES', schema: int(0, 2 ** 30), default: 256 * 1024 },
  /**
   * How script calls enter their isolate: "async" runs every call on the isolate's own thread, so
   * no script can hold a worker's other work (about 80 µs more per call at one request at a time);
   * "adaptive" enters synchronously (3 µs) a sandbox whose recent calls were all quick, which is
   * safe only for trusted scripts: a hostile one can hang its worker (see docs/scripts.md).
   * @defaultValue "async"
   */
  'sandbox.entries': { env: 'INFERBOX_SANDBOX_ENTRIES', schema: z.enum(['async', 'adaptive']), default: 'async' },
  /** Most replicas one deployment may ask for (workers that serve it; with a script, its sandboxes). @defaultValue 16 */
  'sandbox.maxReplicas': { env: 'INFERBOX_SANDBOX_MAX_REPLICAS', schema: int(1, 1024), default: 16 },
  /** pino level: fatal, error, warn, info, debug, trace or silent. @defaultValue "info" */
  'log.level': { env: 'INFERBOX_LOG_LEVEL', schema: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']), default: 'info' },
} as const;

/**
 * A key's flag mirrors its environment variable: INFERBOX_SANDBOX_TIMEOUT_MS -> --sandbox-timeout-ms,
 * PORT -> --port, INFERBOX_DATA -> --data.
 */
export function flagOf(env: string): string {
  return env.replace(/^INFERBOX_/, '').toLowerCase().replace(/_/g, '-');
}

type Keys = typeof CONFIG_KEYS;
type KeyName = keyof Keys;
type Section<K extends string> = K extends `${infer S}.${string}` ? S : never;
type Field<K extends string> = K extends `${string}.${infer F}` ? F : never;
type ValueOf<K extends KeyName> = z.output<Keys[K]['schema']>;

export type Config = {
  readonly [S in Section<KeyName>]: {
    readonly [K in KeyName as Section<K> extends S ? Field<K> : never]: ValueOf<K>;
  };
};

export interface ConfigSources {
  env?: Readonly<Record<string, string | undefined>>;
  argv?: readonly string[];
}

/** Pure: reads only what it is given. Fails listing every bad key at once. */
export function loadConfig({ env = {}, argv = [] }: ConfigSources = {}): Config {
  const options = Object.fromEntries(
    Object.values(CONFIG_KEYS).map((k) => [flagOf(k.env), { type: 'string' as const }]),
  );
  const { values: flags } = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false });
  const out: Record<string, Record<string, unknown>> = {};
  const problems: string[] = [];
  for (const [key, spec] of Object.entries(CONFIG_KEYS)) {
    const flag = flagOf(spec.env);
    const flagValue = flags[flag];
    const raw = typeof flagValue === 'string' ? flagValue : (env[spec.env] ?? spec.default);
    const parsed = (spec.schema as z.ZodType).safeParse(raw);
    const [section, field] = key.split('.') as [string, string];
    if (!parsed.success) {
      const from = typeof flagValue === 'string' ? `--${flag}` : env[spec.env] !== undefined ? spec.env : 'default';
      problems.push(`${key} (${from}=${JSON.stringify(raw)}): ${parsed.error.issues.map((i) => i.message).join('; ')}`);
      continue;
    }
    (out[section] ??= {})[field] = parsed.data;
  }
  if (problems.length > 0) throw new Error(`invalid configuration:\n  ${problems.join('\n  ')}`);
  for (const section of Object.values(out)) Object.freeze(section);
  return Object.freeze(out) as unknown as Config;
}

/** `workers.count` 0 means one worker per core. */
export function workerCount(config: Config): number {
  return config.workers.count > 0 ? config.workers.count : Math.max(1, availableParallelism());
}
