/**
 * The starting script for a model version (GET .../versions/{v}/script-template): comments name
 * every input and output with its dtype and shape, and each hook is a stub that changes nothing,
 * so saving the template as it is behaves like having no script. Pure: no I/O, no sandbox.
 */
import { imageLayoutOf, imageOptionsOf, SCRIPT_HOOKS, type ScriptHook, type TensorSpec } from '../model/index.js';

export interface ScriptTemplateModel {
  readonly name: string;
  readonly version: string;
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
}

/** Example values are written out up to this many numbers; bigger inputs are described instead. */
const MAX_EXAMPLE_NUMBERS = 8;

/** Text safe inside // and /* *\/ comments: one line, no comment terminator. */
function commentSafe(text: string): string {
  return text.replace(/[\r\n\u2028\u2029]+/g, ' ').replace(/\*\//g, '*\\/');
}

function describeShape(spec: TensorSpec): string {
  if (spec.shape === null) return 'shape unknown';
  if (spec.shape.length === 0) return 'scalar';
  return `[${spec.shape.join(', ')}]`;
}

function describeSpec(spec: TensorSpec, width: number): string {
  const name = commentSafe(spec.name).padEnd(width);
  if (spec.dtype === null) return `${name}  not a tensor${spec.kind === undefined ? '' : ` (${commentSafe(spec.kind)})`}, not passed to postprocess`;
  const classes = spec.classes === undefined ? '' : `  one { class: probability } per row, classes ${commentSafe(spec.classes.join(', '))}`;
  return `${name}  ${spec.dtype.padEnd(7)}  ${describeShape(spec)}${classes}`;
}

/** Options for `file.image()` that shape an upload like an image-shaped input. */
interface ImageInput {
  readonly spec: TensorSpec;
  readonly options: string;
  /** What image() answers with those options, for the comment. */
  readonly answer: string;
}

/**
 * The image() options the pipeline without a script uses for this input (src/model/image-layout.ts,
 * the rule both processes share), or null when the input is not image-shaped.
 */
function imageInputOf(spec: TensorSpec): ImageInput | null {
  const layout = imageLayoutOf(spec);
  if (layout === null) return null;
  const o = imageOptionsOf(spec, layout);
  const options = [
    ...(o.grayscale ? ['grayscale: true'] : o.alpha ? ['alpha: true'] : []),
    ...(o.width !== undefined ? [`width: ${o.width}`] : []),
    ...(o.height !== undefined ? [`height: ${o.height}`] : []),
    `layout: '${o.layout}'`,
    ...(o.dtype ? [`dtype: '${o.dtype}'`] : []),
  ];
  const h = o.height ?? 'h';
  const w = o.width ?? 'w';
  const dims = o.layout === 'nchw' ? [1, layout.channels, h, w] : o.layout === 'nhwc' ? [1, h, w, layout.channels] : [1, h, w];
  const count = typeof h === 'number' && typeof w === 'number' ? dims.reduce<number>((n, d) => n * (d as number), 1) : null;
  const array = spec.dtype === 'uint8' ? 'Uint8Array' : spec.dtype === 'float16' ? 'Uint16Array' : 'Float32Array';
  return { spec, options: `{ ${options.join(', ')} }`, answer: `{ data: ${array}(${count ?? '...'}), shape: [${dims.join(', ')}] }` };
}

const isIdentifier = (name: string) => /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(name);

/** `args.files.name` when the name is an identifier, else `args.files["na me"]`. */
function fileAccess(name: string): string {
  return isIdentifier(name) ? `args.files.${name}` : `args.files[${JSON.stringify(name)}]`;
}

/**
 * preprocess_files: for each image-shaped input, decodes a file sent under its name as the pipeline
 * without a script would (so the template still answers like no script); otherwise a stub that
 * shows bytes() and text().
 */
function preprocessFilesLines(inputs: readonly TensorSpec[]): string[] {
  const images = inputs.map(imageInputOf).filter((x): x is ImageInput => x !== null);
  const header = [
    '/**',
    ' * Turns uploaded files into records. Called only when the request carried files.',
    ' * args.files[field] is a file for each uploaded form field: name, type, size (bytes), and',
    ' * bytes() (a Uint8Array copy), text() (UTF-8), await image(options) (decoded on the host).',
  ];
  if (images.length === 0) {
    const first = inputs[0] === undefined ? 'input' : commentSafe(inputs[0].name);
    return [
      ...header,
      ' * Set args.X to the records the model should see, e.g. for a CSV upload under "data":',
      ' *   const rows = args.files.data.text().trim().split("\\n");',
      ` *   args.X = rows.map((row) => ({ ${JSON.stringify(first)}: row.split(",").map(Number) }));`,
      ' * or read raw bytes with args.files.data.bytes().',
      ' */',
      'async function preprocess_files(args) {',
      '  return args;',
      '}',
    ];
  }
  const body = images.flatMap(({ spec, options, answer }) => {
    const key = isIdentifier(spec.name) ? spec.name : JSON.stringify(spec.name);
    return [
      `  if (${fileAccess(spec.name)} !== undefined) {`,
      `    // ${commentSafe(answer)}`,
      `    const image = await ${fileAccess(spec.name)}.image(${options});`,
      '    const [first, ...rest] = args.X ?? [];',
      `    args.X = [{ ...first, ${key}: image }, ...rest];`,
      '  }',
    ];
  });
  return [
    ...header,
    ' * As generated, a file under an image input\'s name is decoded and resized to that input (raw',
    ` * 0..255 pixels) and joins the first record${images.length === 1 ? ', as without a script' : ''}. Add options as the model needs,`,
    " * e.g. scale: 1 / 255, invert: true, mean/std, channels: 'bgr' (see docs/scripts.md#files).",
    " * A deployment's preprocess block (docs/uploads.md) declares those instead; image() without",
    ' * options then feeds what the block says for that input.',
    ' */',
    'async function preprocess_files(args) {',
    ...body,
    '  return args;',
    '}',
  ];
}

/**
 * A zero-filled example value for one record, or a description of it. A leading batch dimension
 * (-1 or 1) is left out, as records may; other free dimensions are taken as 1.
 */
function exampleValue(spec: TensorSpec): string {
  if (spec.dtype === null || spec.shape === null) return 'null';
  const shape = spec.shape.length > 1 && (spec.shape[0] === -1 || spec.shape[0] === 1) ? spec.shape.slice(1) : spec.shape;
  const dims = shape.map((d) => (d < 0 ? 1 : d));
  const count = dims.reduce((n, d) => n * d, 1);
  const zero = spec.dtype === 'string' ? '""' : spec.dtype === 'bool' ? 'false' : '0';
  if (count > MAX_EXAMPLE_NUMBERS) return `<${dims.join('x')} ${spec.dtype} values>`;
  const build = (level: number): string =>
    level === dims.length ? zero : `[${Array.from({ length: dims[level]! }, () => build(level + 1)).join(', ')}]`;
  return build(0);
}

function specLines(title: string, specs: readonly TensorSpec[]): string[] {
  if (specs.length === 0) return [`// ${title}: none declared by the model file.`];
  const width = Math.max(...specs.map((s) => commentSafe(s.name).length));
  return [`// ${title}:`, ...specs.map((s) => `//   ${describeSpec(s, width)}`)];
}

/** The DaaS order of a prediction's hooks (src/model/script-hooks.ts), the model run between its phases. */
function predictOrderLines(): string[] {
  const step = (h: ScriptHook) => {
    const alias = h.aliases.length > 0 ? `(${h.aliases.map((a) => `\`${a}\``).join(', ')} is accepted as an alias) ` : '';
    return `${`${h.name}(${h.argument})`.padEnd(23)} ${alias}${h.runs}`;
  };
  const steps = [
    ...SCRIPT_HOOKS.filter((h) => h.phase === 'before-model').map(step),
    'the model runs once per record of args.X',
    ...SCRIPT_HOOKS.filter((h) => h.phase === 'after-model').map(step),
  ];
  return steps.map((line, i) => `//   ${i + 1}. ${line}`);
}

/**
 * Generated JavaScript for a model version: inputs and outputs named in comments, stubs for
 * init, preprocess_files, prepare and postprocess documenting the DaaS order of calls.
 * @example generateScriptTemplate({ name: 'keras-iris', version: '1', inputs, outputs })
 */
export function generateScriptTemplate(model: ScriptTemplateModel): string {
  const record = `{ ${model.inputs.map((s) => `${JSON.stringify(commentSafe(s.name))}: ${exampleValue(s)}`).join(', ')} }`;
  const outputNames = model.outputs.filter((s) => s.dtype !== null).map((s) => JSON.stringify(commentSafe(s.name)));
  const hasFree = [...model.inputs, ...model.outputs].some((s) => s.shape?.includes(-1) === true);
  const firstOutput = outputNames[0] ?? '"output"';
  const lines = [
    `// Custom script for model ${JSON.stringify(commentSafe(model.name))}, version ${commentSafe(model.version)}.`,
    '// Every function here is optional and, as generated, answers like no script at all: edit the',
    '// ones you need and delete the rest. Functions may be async.',
    '//',
    ...specLines('Inputs (one record of args.X gives a value for each)', model.inputs),
    ...specLines('Outputs (postprocess receives them in this order)', model.outputs),
    ...(hasFree ? ['//   -1 marks a free dimension (usually the batch).'] : []),
    '//',
    '// A prediction runs, in order:',
    ...predictOrderLines(),
    '// Define predict(args) to take over the whole call instead (`await model.run(feeds)` runs the model).',
    '// Any other top-level function is callable as POST /api/v1/svc/{deployment}/{function}.',
    '//',
    '// Globals: console.log/info/debug (-> stdout), console.warn/error (-> stderr), fail(message),',
    '// argmax, softmax, topk, reshape, tensor, and model (name, version, inputs, outputs, run).',
    '// There is no require, process, fs, network or timers. Each call has a time limit and the',
    '// sandbox a memory limit; past either, the call fails and the sandbox is rebuilt (init runs again).',
    '',
    '/**',
    ' * Runs once when the sandbox starts, and again whenever it is rebuilt.',
    ' * ctx.model holds name, version, inputs and outputs ({ name, dtype, shape }).',
    ' */',
    'function init(ctx) {',
    '  // e.g. console.log(`serving ${ctx.model.name} v${ctx.model.version}`);',
    '}',
    '',
    ...preprocessFilesLines(model.inputs),
    '',
    '/**',
    ' * Shapes the request before the model runs. args.X is as the caller sent it: a list of records',
    ' * (a leading batch dimension of 1 may be left out of each value), e.g.',
    ` *   [${commentSafe(record)}]`,
    ' * a split table { columns, data }, or plain rows (one value per input, in input order).',
    ' * Return args. Call fail("why") to reject bad input: the caller gets 422 SCRIPT_REJECTED.',
    ' */',
    'function prepare(args) {',
    '  return args;',
    '}',
    '',
    '/**',
    ` * Turns one record's raw outputs into its answer. outputs holds one value per output, in order: [${outputNames.join(', ')}].`,
    ' * Return an array to zip it with the output names (one item per output), or an object to answer',
    ' * it as it is, e.g.',
    outputNames.length > 1
      ? ` *   return { ${firstOutput}: outputs[0] };  // -> { ${firstOutput}: <its value> }`
      : ` *   return [argmax(outputs[0])];  // -> { ${firstOutput}: <index of the largest value> }`,
    ' */',
    'function postprocess(outputs) {',
    '  return outputs;',
    '}',
    '',
  ];
  return lines.join('\n');
}
