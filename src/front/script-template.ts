/**
 * The starting script for a model version (GET .../versions/{v}/script-template): comments name
 * every input and output with its dtype and shape, and each hook is a stub that changes nothing,
 * so saving the template as it is behaves like having no script. Pure: no I/O, no sandbox.
 */
import type { TensorSpec } from '../worker/runtimes/types.js';

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
  return `${name}  ${spec.dtype.padEnd(7)}  ${describeShape(spec)}`;
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

/**
 * Generated JavaScript for a model version: inputs and outputs named in comments, stubs for
 * init, preprocess_files, prepare and postprocess documenting the DaaS order of calls.
 * @example generateScriptTemplate({ name: 'keras-iris', version: '1', inputs, outputs })
 */
export function generateScriptTemplate(model: ScriptTemplateModel): string {
  const record = `{ ${model.inputs.map((s) => `${JSON.stringify(commentSafe(s.name))}: ${exampleValue(s)}`).join(', ')} }`;
  const outputNames = model.outputs.filter((s) => s.dtype !== null).map((s) => JSON.stringify(commentSafe(s.name)));
  const hasFree = [...model.inputs, ...model.outputs].some((s) => s.shape?.includes(-1) === true);
  const firstInput = model.inputs[0] === undefined ? '"input"' : JSON.stringify(commentSafe(model.inputs[0].name));
  const firstOutput = outputNames[0] ?? '"output"';
  const lines = [
    `// Custom script for model ${JSON.stringify(commentSafe(model.name))}, version ${commentSafe(model.version)}.`,
    '// Every function here is optional and, as generated, changes nothing: edit the ones you need and',
    '// delete the rest. Functions may be async.',
    '//',
    ...specLines('Inputs (one record of args.X gives a value for each)', model.inputs),
    ...specLines('Outputs (postprocess receives them in this order)', model.outputs),
    ...(hasFree ? ['//   -1 marks a free dimension (usually the batch).'] : []),
    '//',
    '// A prediction runs, in order:',
    '//   1. preprocess_files(args)  only when the request uploaded files (multipart form)',
    '//   2. prepare(args)           (`preprocess` is accepted as an alias) returns args with args.X',
    '//   3. the model runs once per record of args.X',
    '//   4. postprocess(outputs)    once per record, with that record\'s raw outputs',
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
    '/**',
    ' * Turns uploaded files into records. Called only when the request carried files.',
    ' * args.files[field] is { name, type, size, bytes: Uint8Array } for each uploaded form field;',
    ` * set args.X to the records the model should see, e.g. args.X = [{ ${firstInput}: tensor(values, shape) }].`,
    ' */',
    'async function preprocess_files(args) {',
    '  return args;',
    '}',
    '',
    '/**',
    ' * Shapes the request before the model runs. args.X is a list of records (a leading batch',
    ' * dimension of 1 may be left out of each value), e.g.',
    ` *   [${commentSafe(record)}]`,
    ' * Return args. Call fail("why") to reject bad input: the caller gets 422 SCRIPT_REJECTED.',
    ' */',
    'function prepare(args) {',
    '  return args;',
    '}',
    '',
    '/**',
    ` * Turns one record's raw outputs into its answer. outputs holds one value per output, in order: [${outputNames.join(', ')}].`,
    ' * Return an array to zip it with the output names, or an object to answer it as it is, e.g.',
    ` *   return [argmax(outputs[0])];  // -> { ${firstOutput}: <index of the largest value> }`,
    ' */',
    'function postprocess(outputs) {',
    '  return outputs;',
    '}',
    '',
  ];
  return lines.join('\n');
}
