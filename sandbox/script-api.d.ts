/**
 * The contract custom scripts are written against: every global the sandbox gives a script.
 * Mirrored in docs/scripts.md. There is nothing else: no `require`, `process`, `Buffer`, `fs`,
 * network or timers. `WebAssembly`, `SharedArrayBuffer` and `Atomics` are removed.
 *
 * A script defines top-level functions, all optional; any of them may be `async`:
 * @example
 * function init(ctx) { console.log('serving', ctx.model.name, ctx.model.version); }
 * async function preprocess_files(args) { return args; }   // only when the request carried files
 * function prepare(args) { return args; }                    // `preprocess` is accepted as an alias
 * function postprocess(outputs) { return [argmax(outputs.dense)]; }
 * async function predict(args) { return postprocess(await model.run(args.X[0])); }
 *
 * Limits: every call has a time limit (`timeoutMs`, counting time in the script, not time spent
 * awaiting `model.run`) and every sandbox a memory limit (approximate, MB). Past either, the call
 * fails with SCRIPT_TIMEOUT / SCRIPT_MEMORY_LIMIT and the sandbox is rebuilt (init runs again).
 */

/** Numbers nested to any depth, e.g. `[[5.1, 3.5, 1.4, 0.2]]`. */
type InferboxNested = number | readonly InferboxNested[];

/** Typed arrays that cross the sandbox boundary as typed arrays (copied, never as JSON). */
type InferboxTypedArray =
  | Float32Array
  | Float64Array
  | Int8Array
  | Uint8Array
  | Uint8ClampedArray
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array;

/** Flat or nested numbers. */
type InferboxArrayLike = readonly InferboxNested[] | InferboxTypedArray;

/** A flat buffer with its row-major shape, as `tensor()` builds it. */
interface InferboxTensor<T extends readonly number[] | InferboxTypedArray = readonly number[] | InferboxTypedArray> {
  readonly data: T;
  readonly shape: readonly number[];
}

/** One named input or output of the model. */
interface InferboxTensorSpec {
  readonly name: string;
  /** "float32", "int64", ...; null for a value that is not a tensor. */
  readonly dtype: string | null;
  /** -1 marks a free dimension; null when unknown. */
  readonly shape: readonly number[] | null;
}

/** What `init(ctx)` receives as `ctx.model`, and what the global `model` carries. */
interface InferboxModelInfo {
  readonly name: string;
  readonly version: string;
  readonly inputs: readonly InferboxTensorSpec[];
  readonly outputs: readonly InferboxTensorSpec[];
}

/** `{ inputName: nested numbers | { data, shape } }`; values are copied to the host. */
type InferboxFeeds = Readonly<Record<string, InferboxNested | readonly InferboxNested[] | InferboxTensor>>;

interface InferboxModel extends InferboxModelInfo {
  /**
   * Runs the model once on the host. Resolves to `{ outputName: nested arrays }`. Rejects with an
   * `Error` whose `code` is the server's error code (e.g. "INPUT_SHAPE_MISMATCH"); if the script does
   * not catch it, the request fails with that same code.
   * @example const out = await model.run({ dense_1_input: [[5.7, 4.4, 1.5, 0.4]] });
   */
  run(feeds: InferboxFeeds): Promise<Record<string, unknown>>;
}

interface InferboxInitContext {
  readonly model: InferboxModelInfo;
}

/**
 * Captured per request: `log`, `info`, `debug`, `dir` go to `stdout`, `warn`, `error`, `trace`,
 * `assert` to `stderr`. Arguments are formatted like Node's (`%s %d %i %f %j %o %O %%` in a first
 * string argument; objects inspected to depth 2, cycles as `[Circular]`, typed arrays summarised).
 * Output past the request's budget (lines and bytes) is dropped after one
 * `[inferbox] output truncated: ...` line.
 */
interface InferboxConsole {
  log(...args: unknown[]): void;
  info(...args: unknown[]): void;
  debug(...args: unknown[]): void;
  dir(value: unknown): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
  trace(...args: unknown[]): void;
  assert(condition: unknown, ...args: unknown[]): void;
}

declare var console: InferboxConsole;

/** The model this script serves; `model.run(feeds)` runs it. */
declare var model: InferboxModel;

/**
 * Rejects the request as bad input: the caller gets 422 SCRIPT_REJECTED with `message`.
 * @example if (!args.X?.length) fail('X must hold at least one record');
 */
declare function fail(message: string): never;

/**
 * Index of the largest value. A nested array of one row (`[[0.1, 0.9]]`) gives that row's index;
 * several rows give one index per row. A `{ data, shape }` works along its last dimension.
 * @example argmax([0.1, 0.7, 0.2]) // 1
 */
declare function argmax(values: InferboxArrayLike | InferboxTensor): number | number[];

/**
 * Numerically stable softmax along the last dimension. Keeps the input's form: a typed array gives
 * the same typed array type, nested arrays give nested arrays.
 */
declare function softmax<T extends InferboxArrayLike>(values: T): T extends InferboxTypedArray ? T : number[] | number[][];

/**
 * The `k` largest values, largest first (ties: lower index first). One row (flat, or nested of one
 * row) gives one list; several rows give one list per row.
 * @example topk([0.1, 0.7, 0.2], 2) // [{ index: 1, value: 0.7 }, { index: 2, value: 0.2 }]
 */
declare function topk(values: InferboxArrayLike, k?: number): { index: number; value: number }[] | { index: number; value: number }[][];

/**
 * Nests flat (or nested, flattened first) values into `shape`; one dimension may be -1 (inferred).
 * Throws a RangeError when the sizes do not match.
 * @example reshape([1, 2, 3, 4], [2, -1]) // [[1, 2], [3, 4]]
 */
declare function reshape(values: InferboxArrayLike, shape: readonly number[]): InferboxNested;

/**
 * A flat tensor `{ data, shape }` (nested arrays are flattened, typed arrays kept); one dimension may
 * be -1. Throws a RangeError when the data does not fill the shape exactly.
 * @example tensor(new Float32Array(784), [1, 28, 28, 1])
 */
declare function tensor<T extends InferboxArrayLike>(data: T, shape: readonly number[]): InferboxTensor<T extends InferboxTypedArray ? T : number[]>;
