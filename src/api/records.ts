import { ServeError } from '../errors.js';

/**
 * The layouts of `args.X` (and of a publish's `x_test`): a list of records (`[{ input: value }]`),
 * a split table (`{ columns, data }`), or a list of plain rows as numpy's `X_test.tolist()` has
 * them. A row is the single input's value for one record (`[5.1, 3.5, 1.4, 0.2]` for an input of
 * shape [-1,4], a nested 28x28 list for [-1,28,28]) or, for a model with several inputs, the list
 * of per-input values in input order (as Keras' multi-input `predict` takes them). Rows and records
 * may be mixed. Results go back as records for both lists, as `{ columns, data }` for a split table.
 */
export type Orientation = 'records' | 'split';
/** One record: input name -> value (nested arrays, a scalar, a typed array or { data, shape }). */
export type Record_ = Readonly<Record<string, unknown>>;

export interface NormalizedX {
  readonly records: readonly Record_[];
  readonly orientation: Orientation;
}

/** What normalizeX needs of a model's inputs to map plain rows (a TensorSpec fits). */
export interface RowInput {
  readonly name: string;
  readonly shape: readonly number[] | null;
}

const isRow = (v: unknown): v is ArrayLike<unknown> => Array.isArray(v) || (ArrayBuffer.isView(v) && !(v instanceof DataView));

/** How many values one record holds for an input: its shape without a leading batch dimension. */
function valuesPerRecord(input: RowInput): number | null {
  const shape = input.shape;
  if (shape === null) return null;
  const rest = shape.length > 0 && (shape[0] === -1 || shape[0] === 1) ? shape.slice(1) : shape;
  return rest.some((d) => d === -1) ? null : rest.reduce((n, d) => n * d, 1);
}

const described = (inputs: readonly RowInput[]) => inputs.map((i) => `'${i.name}' ${i.shape === null ? '' : `[${i.shape.join(',')}]`}`.trim()).join(', ');

/**
 * A plain row as a record. For several inputs a row is one value per input, in input order; a row
 * of scalars is refused unless every input holds a single value per record, since it could as well
 * be one input's values (a client that forgot the other inputs) and a guess would answer wrong.
 */
function rowRecord(row: ArrayLike<unknown>, inputs: readonly RowInput[] | undefined, at: string): Record_ {
  if (inputs === undefined || inputs.length === 0) {
    throw new ServeError('REQUEST_INVALID', `${at} must be an object mapping input names to values`, { field: at });
  }
  if (inputs.length === 1) return { [inputs[0]!.name]: row };
  const order = inputs.map((i) => i.name).join(', ');
  const form = `send each row as [${order}] (one value per input, in input order) or as a record { ${inputs.map((i) => `"${i.name}": ...`).join(', ')} }`;
  if (!Array.isArray(row)) {
    throw new ServeError('REQUEST_INVALID', `${at} is a flat typed array, but the model has ${inputs.length} inputs (${described(inputs)}): ${form}`, { field: at });
  }
  const scalars = row.every((v) => v === null || typeof v !== 'object');
  if (row.length !== inputs.length || (scalars && !inputs.every((i) => valuesPerRecord(i) === 1))) {
    const what = `a row of ${row.length}${scalars ? ' plain' : ''} value${row.length === 1 ? '' : 's'}`;
    throw new ServeError('REQUEST_INVALID', `${at} is ${what}, but the model has ${inputs.length} inputs (${described(inputs)}): ${form}`, { field: at });
  }
  return Object.fromEntries(inputs.map((input, j) => [input.name, row[j]]));
}

/**
 * Accepts the layouts of `X` (see above). `inputs` are the model's, to map plain rows; `what` names
 * the field in messages (`args.X`, `x_test`).
 */
export function normalizeX(x: unknown, inputs?: readonly RowInput[], what = 'args.X'): NormalizedX {
  if (Array.isArray(x)) {
    const records = x.map((r: unknown, i): Record_ => {
      if (isRow(r)) return rowRecord(r, inputs, `${what}[${i}]`);
      if (r === null || typeof r !== 'object') {
        const expected = inputs === undefined ? 'an object mapping input names to values' : 'a record { input: value } or a row (a list)';
        throw new ServeError('REQUEST_INVALID', `${what}[${i}] must be ${expected}`, { field: what });
      }
      return r as Record_;
    });
    return { records, orientation: 'records' };
  }
  if (x !== null && typeof x === 'object' && 'columns' in x && 'data' in x) {
    const { columns, data } = x as { columns: unknown; data: unknown };
    if (!Array.isArray(columns) || !columns.every((c) => typeof c === 'string')) {
      throw new ServeError('REQUEST_INVALID', `${what}.columns must be an array of input names`, { field: what });
    }
    if (!Array.isArray(data)) throw new ServeError('REQUEST_INVALID', `${what}.data must be an array of rows`, { field: what });
    const records = data.map((row, i) => {
      if (!Array.isArray(row) || row.length !== columns.length) {
        throw new ServeError('REQUEST_INVALID', `${what}.data[${i}] must be an array of ${columns.length} values, one per column`, { field: what });
      }
      return Object.fromEntries(columns.map((c, j) => [c, row[j]]));
    });
    return { records, orientation: 'split' };
  }
  throw new ServeError('REQUEST_INVALID', `${what} must be a list of records [{ input: value }], a list of rows [[...]] or a split table { columns, data }`, { field: what });
}

/** Shapes results the way the request came: records, or `{ columns, data }`. */
export function orient(results: readonly Record_[], orientation: Orientation): unknown {
  if (orientation === 'records') return results;
  const columns = [...new Set(results.flatMap((r) => Object.keys(r)))];
  return { columns, data: results.map((r) => columns.map((c) => r[c] ?? null)) };
}

