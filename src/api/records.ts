import { ServeError } from '../errors.js';

/**
 * The two DaaS layouts of `args.X`: a list of records (`[{ input: value }]`) or a split table
 * (`{ columns, data }`). Results go back in the layout the request used.
 */
export type Orientation = 'records' | 'split';
/** One record: input name -> value (nested arrays, a scalar, a typed array or { data, shape }). */
export type Record_ = Readonly<Record<string, unknown>>;

export interface NormalizedX {
  readonly records: readonly Record_[];
  readonly orientation: Orientation;
}

/** Accepts the two DaaS layouts of `X`. */
export function normalizeX(x: unknown): NormalizedX {
  if (Array.isArray(x)) {
    x.forEach((r, i) => {
      if (r === null || typeof r !== 'object' || Array.isArray(r)) {
        throw new ServeError('REQUEST_INVALID', `args.X[${i}] must be an object mapping input names to values`);
      }
    });
    return { records: x as Record_[], orientation: 'records' };
  }
  if (x !== null && typeof x === 'object' && 'columns' in x && 'data' in x) {
    const { columns, data } = x as { columns: unknown; data: unknown };
    if (!Array.isArray(columns) || !columns.every((c) => typeof c === 'string')) {
      throw new ServeError('REQUEST_INVALID', 'args.X.columns must be an array of input names');
    }
    if (!Array.isArray(data)) throw new ServeError('REQUEST_INVALID', 'args.X.data must be an array of rows');
    const records = data.map((row, i) => {
      if (!Array.isArray(row) || row.length !== columns.length) {
        throw new ServeError('REQUEST_INVALID', `args.X.data[${i}] must be an array of ${columns.length} values, one per column`);
      }
      return Object.fromEntries(columns.map((c, j) => [c, row[j]]));
    });
    return { records, orientation: 'split' };
  }
  throw new ServeError('REQUEST_INVALID', 'args.X must be a list of records [{ input: value }] or a split table { columns, data }');
}

/** Shapes results the way the request came: records, or `{ columns, data }`. */
export function orient(results: readonly Record_[], orientation: Orientation): unknown {
  if (orientation === 'records') return results;
  const columns = [...new Set(results.flatMap((r) => Object.keys(r)))];
  return { columns, data: results.map((r) => columns.map((c) => r[c] ?? null)) };
}

