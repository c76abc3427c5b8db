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
 * awaiting `model.run` or `file.image`) and every sandbox a memory limit (approximate, MB). Past
 * either, the call fails with SCRIPT_TIMEOUT / SCRIPT_MEMORY_LIMIT and the sandbox is rebuilt
 * (init runs again).
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

/**
 * What `model.run` and `file.image` reject with: an `Error` carrying the server's error code and,
 * for codes that have them, the same `details` a request without a script gets in its error body.
 * Uncaught, the request fails with that code and those details. The server keeps its own copy:
 * changing `code` or `details` before rethrowing does not change the answer, and an error the script
 * builds itself (even with `code` and `details` set) fails the request as SCRIPT_FAILED.
 * @example
 * try { await model.run({ float_input: [1, 2, 3] }); }
 * catch (e) { const { code, details } = e as InferboxHostError; } // "INPUT_SHAPE_MISMATCH", { input: "float_input", expected: [1, 4], got: [3] }
 */
interface InferboxHostError extends Error {
  /** The server's error code, e.g. "INPUT_SHAPE_MISMATCH", "INPUT_IMAGE_INVALID", "SCRIPT_FAILED". */
  code: string;
  /**
   * What the code's entry in docs/errors.md lists: `{ input }` (plus `expected` and `got` for a
   * plain shape mismatch) for INPUT_* errors of the model, `{ field }` for INPUT_IMAGE_* errors.
   * Absent when the error has none, or when its JSON is over 4 KB. A copy: the script may change it.
   */
  details?: Record<string, unknown>;
}

interface InferboxModel extends InferboxModelInfo {
  /**
   * Runs the model once on the host. Resolves to `{ outputName: nested arrays }`. Rejects with an
   * InferboxHostError: `code` is the server's error code (e.g. "INPUT_SHAPE_MISMATCH"), `details`
   * its details (e.g. `{ input, expected, got }`); if the script does not catch it, the request fails
   * with that same code and details. At most 64 calls may be in flight at once: the 65th throws
   * (code "SCRIPT_FAILED") before it starts; pass several records to one call instead.
   * @example const out = await model.run({ dense_1_input: [[5.7, 4.4, 1.5, 0.4]] });
   */
  run(feeds: InferboxFeeds): Promise<Record<string, unknown>>;
}

/**
 * How `file.image(options)` decodes and shapes an image. The steps run in this order:
 * decode -> grayscale -> resize -> invert -> (v * scale - mean) / std -> channel order -> layout.
 * An unknown key or a bad value rejects with code "SCRIPT_FAILED", naming the option.
 */
interface InferboxImageOptions {
  /** One luma channel instead of RGB (alpha is dropped). @defaultValue false */
  readonly grayscale?: boolean;
  /** Keep the alpha channel: RGBA, 4 channels (opaque images get 255). @defaultValue false (alpha dropped) */
  readonly alpha?: boolean;
  /**
   * Target width in pixels, 1..16384. With only one of width/height, fit "fill" keeps the other side
   * as it is and any other fit scales it to keep the aspect ratio. @defaultValue the image's own width
   */
  readonly width?: number;
  /** Target height in pixels, 1..16384. @defaultValue the image's own height */
  readonly height?: number;
  /**
   * How the image fits width x height (sharp's `fit`): "fill" stretches, "contain" letterboxes (black
   * bars), "cover" crops to fill, "inside"/"outside" keep the aspect ratio within/around the box.
   * @defaultValue "fill"
   */
  readonly fit?: 'fill' | 'contain' | 'cover' | 'inside' | 'outside';
  /** Channel order of colour images; alpha stays last. @defaultValue "rgb" */
  readonly channels?: 'rgb' | 'bgr';
  /**
   * Memory layout of `data` and the matching `shape`: "hwc" [h, w, c], "chw" [c, h, w]; "nhwc" and
   * "nchw" add a leading batch dimension of 1. @defaultValue "hwc"
   */
  readonly layout?: 'hwc' | 'chw' | 'nhwc' | 'nchw';
  /**
   * Element type: "float32" (a Float32Array), "float16" (a Uint16Array of IEEE half floats' raw
   * bits, what a float16 input takes), or "uint8" for the raw 0..255 pixels (a Uint8Array; scale,
   * mean and std are then not allowed). @defaultValue "float32"
   */
  readonly dtype?: 'float32' | 'float16' | 'uint8';
  /** 255 - v, before scaling: for white-on-black models fed black-on-white images. @defaultValue false */
  readonly invert?: boolean;
  /** Multiplies every 0..255 value, e.g. 1 / 255. @defaultValue 1 */
  readonly scale?: number;
  /**
   * Subtracted after scaling: one number, or one per channel (1 to 4 values in output channel
   * order; a short list repeats its last value). @defaultValue 0
   */
  readonly mean?: number | readonly number[];
  /** Divides after the mean: one number or one per channel, like `mean`. @defaultValue 1 */
  readonly std?: number | readonly number[];
}

/** A decoded image: flat row-major pixels with their shape (see `layout`). */
interface InferboxImage<T extends Float32Array | Uint16Array | Uint8Array = Float32Array | Uint16Array | Uint8Array> {
  data: T;
  shape: number[];
}

/**
 * One uploaded file, as `args.files[field]`. Read-only and frozen; the bytes stay in the sandbox.
 *
 * A file is usable in the call that receives the request's args: `preprocess_files`, or when the
 * script defines none, `prepare`/`preprocess`, `predict` or a function called by URL. Whatever a
 * function returns is copied out of the sandbox, and a file in it becomes the plain data
 * `{ name, type, size }`, without bytes or methods (so does `JSON.stringify(file)`). Hence
 * `prepare` after `preprocess_files` sees that summary, not the file: turn files into tensors in
 * `preprocess_files`.
 * @example
 * async function preprocess_files(args) {
 *   const digit = await args.files.digit.image({ grayscale: true, width: 28, height: 28, layout: 'nchw' });
 *   args.X = [{ Input3: digit }];   // { data: Float32Array(784), shape: [1, 1, 28, 28] }
 *   return args;                     // args.files leaves as { digit: { name, type, size } }
 * }
 */
interface InferboxFile {
  /** The form field it came under: its key in `args.files`. */
  readonly field: string;
  /** The file name the client sent; "" when none. */
  readonly name: string;
  /** The MIME type the client sent, e.g. "image/png"; "" when none. Not checked against the bytes. */
  readonly type: string;
  /** Size in bytes. */
  readonly size: number;
  /** The file's bytes: a new copy on every call, which the script may change freely. */
  bytes(): Uint8Array;
  /** The bytes decoded as UTF-8 (like TextDecoder: a leading BOM dropped, invalid bytes as U+FFFD). */
  text(): string;
  /**
   * Decodes the file on the host (PNG, JPEG, WebP, GIF, TIFF, AVIF; BMP through a fallback decoder)
   * and shapes it as `options` ask. The typed array comes in as a typed array, never as JSON.
   * Decoding time does not count against the call's time limit. A sandbox decodes two images at a
   * time; further image() calls wait their turn (so `Promise.all` over many files is fine).
   *
   * Rejects with an InferboxHostError whose `code` says why (`details`: `{ field }` for the
   * INPUT_IMAGE_* codes); uncaught, the request fails with that code and details:
   * - "INPUT_IMAGE_INVALID" (422): not an image that can be read (corrupt, text, unknown format);
   * - "INPUT_IMAGE_TOO_LARGE" (422): more pixels than the server's limits.maxImagePixels, or a
   *   decoded tensor over half the sandbox memory limit (ask for a smaller width/height or uint8);
   * - "SCRIPT_FAILED": a bad option, or image() called after the script's call ended.
   * Without options, for a file under an input the deployment's preprocess block names: what the
   * pipeline without a script feeds that input (its size, channels, layout and dtype, block applied).
   * @example const { data, shape } = await args.files.photo.image({ width: 224, height: 224, layout: 'nchw', scale: 1 / 255 });
   */
  image(): Promise<InferboxImage>;
  image<O extends InferboxImageOptions>(options: O): Promise<InferboxImage<O['dtype'] extends 'uint8' ? Uint8Array : O['dtype'] extends 'float16' ? Uint16Array : Float32Array>>;
  /** `{ name, type, size }`: what JSON.stringify and copying out of the sandbox keep of a file. */
  toJSON(): { name: string; type: string; size: number };
}

/**
 * What `preprocess_files`, `prepare`/`preprocess`, `predict` and functions called by URL receive:
 * the request's `args` (a copy: change it and return it).
 */
interface InferboxArgs {
  /** Records (a list of `{ inputName: values }`) or a split table, as the caller sent them. */
  X?: unknown;
  /** Uploaded files by form field, when the request was multipart/form-data with files. */
  files?: Record<string, InferboxFile>;
  [key: string]: unknown;
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
