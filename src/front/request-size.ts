import type { Config } from '../config.js';
import { ServeError } from '../errors.js';
import type { DeploymentRecord } from '../store/index.js';

/**
 * What one call may carry, checked in the front right after the body is parsed and before any
 * worker message (#14): a call's cost grows with its records and values, and a 16 MB body of
 * 493,446 iris records once took 35.6 s and held other deployments' calls for seconds.
 */
export interface RequestSizeLimits {
  readonly maxRecords: number;
  /** The name to raise: a config key, or the deployment's own field. */
  readonly recordsLimit: string;
  readonly maxElements: number;
  readonly elementsLimit: string;
}

/** The server-wide limits: for `POST /api/v1/test`, a publish's x_test and deployments that set none. */
export function serverSizeLimits(config: Config): RequestSizeLimits {
  return { maxRecords: config.limits.maxRecords, recordsLimit: 'limits.maxRecords', maxElements: config.limits.maxElements, elementsLimit: 'limits.maxElements' };
}

/** A deployment's own `max_records` / `max_elements` where it set them, else the server's. */
export function deploymentSizeLimits(record: DeploymentRecord, config: Config): RequestSizeLimits {
  const server = serverSizeLimits(config);
  const { maxRecords, maxElements } = record.limits;
  return {
    maxRecords: maxRecords ?? server.maxRecords,
    recordsLimit: maxRecords === undefined ? server.recordsLimit : 'max_records',
    maxElements: maxElements ?? server.maxElements,
    elementsLimit: maxElements === undefined ? server.elementsLimit : 'max_elements',
  };
}

/**
 * Records in `X` as the layouts of api/records.ts have them: a list's length (records or plain
 * rows, one record each), a split table's rows. Any other value (a script's own argument) holds no
 * records; its values still count.
 */
export function countRecords(x: unknown): number {
  if (Array.isArray(x)) return x.length;
  if (x !== null && typeof x === 'object' && 'data' in x && Array.isArray((x as { data: unknown }).data)) return (x as { data: unknown[] }).data.length;
  return 0;
}

/**
 * Every scalar in a parsed JSON value (numbers, strings, booleans, nulls), typed arrays by length.
 * Iterative: the value comes from a client.
 */
export function countElements(value: unknown): number {
  let n = 0;
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (v === null || typeof v !== 'object') {
      n++;
    } else if (Array.isArray(v)) {
      // Tensors are arrays of numbers: count a row's scalars here rather than one stack entry each.
      for (let i = 0; i < v.length; i++) {
        const child: unknown = v[i];
        if (child !== null && typeof child === 'object') stack.push(child);
        else n++;
      }
    } else if (ArrayBuffer.isView(v)) {
      n += v instanceof DataView ? v.byteLength : (v as unknown as ArrayLike<unknown>).length;
    } else {
      for (const key in v) stack.push((v as Record<string, unknown>)[key]); // parsed JSON: own keys only
    }
  }
  return n;
}

/**
 * Throws 413 REQUEST_TOO_LARGE when the call's `X` holds more records, or its arguments more
 * values, than `limits` allow. Uploaded files (`args.files`) are bounded by the file limits instead.
 * `what` names the records' field in messages (`args.X`, `x_test`).
 */
export function checkRequestSize(args: Readonly<Record<string, unknown>>, limits: RequestSizeLimits, what = 'args.X'): void {
  const records = countRecords(args.X);
  if (records > limits.maxRecords) {
    throw new ServeError('REQUEST_TOO_LARGE', `${what} holds ${records} records, over the limit of ${limits.maxRecords} per call (${named(limits.recordsLimit)})`, {
      limit: limits.recordsLimit,
      max: limits.maxRecords,
      records,
    });
  }
  let elements = 0;
  for (const key of Object.keys(args)) if (key !== 'files') elements += countElements(args[key]);
  if (elements > limits.maxElements) {
    const where = what === 'args.X' ? 'args hold' : `${what} holds`;
    throw new ServeError('REQUEST_TOO_LARGE', `${where} ${elements} values, over the limit of ${limits.maxElements} per call (${named(limits.elementsLimit)})`, {
      limit: limits.elementsLimit,
      max: limits.maxElements,
      elements,
    });
  }
}

/** A config key as it is; a deployment's own field as whose it is (its callers may not know it). */
function named(limit: string): string {
  return limit.startsWith('limits.') ? limit : `the deployment's ${limit}`;
}
