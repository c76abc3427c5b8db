import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ApiError } from '../../src/client/index.js';
import { fixtureFile, IRIS_ONNX } from '../helpers/fixtures.js';
import { stringLabelPipelineOnnx } from '../helpers/onnx-models.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

/**
 * Records and values per call (#14): refused with 413 in the front before any worker work, set per
 * deployment under a server cap; a call within them runs in slices and answers as small calls do.
 * The server runs with small limits so the calls stay light: 2,000 records and 8,000 values (2,000
 * iris records of 4 values), deployments up to 5,000 records and 20,000 values.
 */
const MAX_RECORDS = 2000;
const MAX_ELEMENTS = 4 * MAX_RECORDS;
const RECORDS_CAP = 5000;
const ELEMENTS_CAP = 20_000;

/** `n` iris records, varied so that the answers differ. */
function irisRecords(n: number, from = 0): { float_input: number[] }[] {
  return Array.from({ length: n }, (_, k) => {
    const i = from + k;
    return { float_input: [4.3 + (i % 37) / 10, 2 + (i % 23) / 10, 1 + (i % 59) / 10, 0.1 + (i % 25) / 10] };
  });
}

/** Same answers, floats within 1e-5 relative: a batch's rows may be computed by other kernels than one row's. */
function assertSameAnswers(actual: unknown, expected: unknown, path = 'result'): void {
  if (typeof expected === 'number' && typeof actual === 'number') {
    assert.ok(Math.abs(actual - expected) <= 1e-5 * Math.max(1, Math.abs(expected)), `${path}: ${actual} vs ${expected}`);
  } else if (Array.isArray(expected)) {
    assert.ok(Array.isArray(actual) && actual.length === expected.length, `${path}: lengths differ`);
    expected.forEach((e, i) => assertSameAnswers((actual as unknown[])[i], e, `${path}[${i}]`));
  } else if (expected !== null && typeof expected === 'object') {
    assert.deepEqual(Object.keys(actual as object), Object.keys(expected), `${path}: keys differ`);
    for (const [k, e] of Object.entries(expected)) assertSameAnswers((actual as Record<string, unknown>)[k], e, `${path}.${k}`);
  } else {
    assert.equal(actual, expected, path);
  }
}

function isTooLarge(limit: string, message: RegExp) {
  return (e: ApiError) => {
    assert.equal(e.status, 413);
    assert.equal(e.code, 'REQUEST_TOO_LARGE');
    assert.match(e.message, message);
    assert.equal(e.details?.limit, limit);
    return true;
  };
}

describe('records and values per call (#14)', () => {
  let server: TestServer;
  let iris: string;
  before(async () => {
    server = await startTestServer({
      env: {
        INFERBOX_WORKERS_COUNT: '1',
        INFERBOX_LIMITS_MAX_RECORDS: String(MAX_RECORDS),
        INFERBOX_LIMITS_MAX_ELEMENTS: String(MAX_ELEMENTS),
        INFERBOX_LIMITS_MAX_RECORDS_CAP: String(RECORDS_CAP),
        INFERBOX_LIMITS_MAX_ELEMENTS_CAP: String(ELEMENTS_CAP),
      },
    });
    await server.client.publishModel({ name: 'iris', files: [fixtureFile(IRIS_ONNX)] });
    await server.client.publishModel({ name: 'pipeline', files: [{ name: 'pipeline.onnx', data: stringLabelPipelineOnnx() }] });
    iris = (await server.client.createDeployment({ deployment_name: 'iris', model_name: 'iris' })).access_token;
  });
  after(() => server.close());

  it('answers 413 REQUEST_TOO_LARGE naming limits.maxRecords for one record too many, in either layout and in a form field', async () => {
    const records = irisRecords(MAX_RECORDS + 1);
    const message = new RegExp(`^args\\.X holds ${MAX_RECORDS + 1} records, over the limit of ${MAX_RECORDS} per call \\(limits\\.maxRecords\\)$`);
    await assert.rejects(server.client.predict('iris', { X: records }, { token: iris }), (e: ApiError) => {
      isTooLarge('limits.maxRecords', message)(e);
      assert.deepEqual(e.details, { limit: 'limits.maxRecords', max: MAX_RECORDS, records: MAX_RECORDS + 1 });
      return true;
    });
    const split = { columns: ['float_input'], data: records.map((r) => [r.float_input]) };
    await assert.rejects(server.client.predict('iris', { X: split }, { token: iris }), isTooLarge('limits.maxRecords', message));
    await assert.rejects(server.client.predictForm('iris', { X: JSON.stringify(records) }, {}, { token: iris }), isTooLarge('limits.maxRecords', message));
  });

  it('answers 413 naming limits.maxElements when the records fit but the values do not', async () => {
    // 2,000 records of 4 values are exactly 8,000: one more value anywhere in args is over.
    await assert.rejects(
      server.client.predict('iris', { X: irisRecords(MAX_RECORDS), threshold: 0.5 }, { token: iris }),
      (e: ApiError) => {
        isTooLarge('limits.maxElements', new RegExp(`^args hold ${MAX_ELEMENTS + 1} values, over the limit of ${MAX_ELEMENTS} per call \\(limits\\.maxElements\\)$`))(e);
        assert.deepEqual(e.details, { limit: 'limits.maxElements', max: MAX_ELEMENTS, elements: MAX_ELEMENTS + 1 });
        return true;
      },
    );
    const wide = [{ float_input: Array.from({ length: MAX_ELEMENTS + 1 }, () => 1) }];
    await assert.rejects(server.client.predict('iris', { X: wide }, { token: iris }), isTooLarge('limits.maxElements', /args hold 8001 values/));
  });

  it('serves a call exactly at both limits, one answer per record', async () => {
    const answer = await server.client.predict('iris', { X: irisRecords(MAX_RECORDS) }, { token: iris });
    assert.equal((answer.result as unknown[]).length, MAX_RECORDS);
  });

  it('refuses before the worker: a script that rejects every call is never reached', async () => {
    const script = "function prepare(args) { fail('the script ran'); }";
    const token = (await server.client.createDeployment({ deployment_name: 'iris-rejects', model_name: 'iris', script })).access_token;
    await assert.rejects(server.client.predict('iris-rejects', { X: irisRecords(MAX_RECORDS + 1) }, { token }), isTooLarge('limits.maxRecords', /holds 2001 records/));
    await assert.rejects(server.client.predict('iris-rejects', { X: irisRecords(1) }, { token }), (e: ApiError) => e.code === 'SCRIPT_REJECTED');
  });

  it("honours a deployment's own max_records and max_elements, below and above the server's default", async () => {
    const created = await server.client.createDeployment({ deployment_name: 'iris-small', model_name: 'iris', max_records: 10, max_elements: 30 });
    assert.equal(created.max_records, 10);
    assert.equal(created.max_elements, 30);
    const token = created.access_token;
    await assert.rejects(server.client.predict('iris-small', { X: irisRecords(11) }, { token }), (e: ApiError) => {
      isTooLarge('max_records', /^args\.X holds 11 records, over the limit of 10 per call \(the deployment's max_records\)$/)(e);
      assert.deepEqual(e.details, { limit: 'max_records', max: 10, records: 11 });
      return true;
    });
    await assert.rejects(server.client.predict('iris-small', { X: irisRecords(8) }, { token }), isTooLarge('max_elements', /^args hold 32 values, over the limit of 30 per call \(the deployment's max_elements\)$/));
    assert.equal(((await server.client.predict('iris-small', { X: irisRecords(7) }, { token })).result as unknown[]).length, 7);

    // Raised above the server's default (within the cap): a call the default refuses is served here.
    const patched = await server.client.patchDeployment('iris-small', { max_records: RECORDS_CAP, max_elements: ELEMENTS_CAP });
    assert.equal(patched.max_records, RECORDS_CAP);
    assert.equal(patched.max_elements, ELEMENTS_CAP);
    const many = irisRecords(MAX_RECORDS + 500);
    assert.equal(((await server.client.predict('iris-small', { X: many }, { token })).result as unknown[]).length, MAX_RECORDS + 500);
    await assert.rejects(server.client.predict('iris', { X: many }, { token: iris }), isTooLarge('limits.maxRecords', /holds 2500 records/));

    // A deployment without its own limits shows the server's.
    const view = await server.client.getDeployment('iris');
    assert.equal(view.max_records, MAX_RECORDS);
    assert.equal(view.max_elements, MAX_ELEMENTS);
  });

  it('refuses max_records and max_elements over the server caps with 400, at deploy and at patch, changing nothing', async () => {
    const invalid = (field: string, cap: number, capKey: string) => (e: ApiError) => {
      assert.equal(e.status, 400);
      assert.equal(e.code, 'REQUEST_INVALID');
      assert.equal(e.message, `${field} must be at most ${cap} (${capKey}), got ${cap + 1}`);
      assert.deepEqual(e.details, { field });
      return true;
    };
    await assert.rejects(server.client.createDeployment({ deployment_name: 'iris-big', model_name: 'iris', max_records: RECORDS_CAP + 1 }), invalid('max_records', RECORDS_CAP, 'limits.maxRecordsCap'));
    await assert.rejects(server.client.createDeployment({ deployment_name: 'iris-big', model_name: 'iris', max_elements: ELEMENTS_CAP + 1 }), invalid('max_elements', ELEMENTS_CAP, 'limits.maxElementsCap'));
    await assert.rejects(server.client.getDeployment('iris-big'), (e: ApiError) => e.code === 'DEPLOYMENT_NOT_FOUND');
    await assert.rejects(server.client.patchDeployment('iris', { max_records: RECORDS_CAP + 1 }), invalid('max_records', RECORDS_CAP, 'limits.maxRecordsCap'));
    await assert.rejects(server.client.patchDeployment('iris', { max_elements: ELEMENTS_CAP + 1 }), invalid('max_elements', ELEMENTS_CAP, 'limits.maxElementsCap'));
    await assert.rejects(server.client.patchDeployment('iris', { max_records: 0 }), (e: ApiError) => e.status === 400 && /max_records/.test(e.message));
    assert.equal((await server.client.getDeployment('iris')).max_records, MAX_RECORDS);
  });

  it('answers a big call as the same records sent in small calls: one model run per record (iris)', async () => {
    const records = irisRecords(MAX_RECORDS);
    const whole = await server.client.predict('iris', { X: records }, { token: iris });
    const pieces: unknown[] = [];
    for (let i = 0; i < records.length; i += 250) pieces.push(...((await server.client.predict('iris', { X: records.slice(i, i + 250) }, { token: iris })).result as unknown[]));
    assertSameAnswers(whole.result, pieces);
  });

  it('answers a big call as small calls when records are stacked into batches, in the split layout, and through a script', async () => {
    const plain = (await server.client.createDeployment({ deployment_name: 'pipeline', model_name: 'pipeline' })).access_token;
    const script = 'function prepare(args) { return args; }\nfunction postprocess(outputs) { return outputs; }';
    const hooked = (await server.client.createDeployment({ deployment_name: 'pipeline-hooks', model_name: 'pipeline', script })).access_token;
    const rows = Array.from({ length: MAX_RECORDS }, (_, i) => [[(i % 41) / 10 - 2, (i % 17) / 4 - 2]]);
    const X = { columns: ['float_input'], data: rows };
    const whole = (await server.client.predict('pipeline', { X }, { token: plain })).result as { columns: string[]; data: unknown[][] };
    assert.equal(whole.data.length, MAX_RECORDS);
    const pieces: unknown[][] = [];
    for (let i = 0; i < rows.length; i += 100) {
      const part = (await server.client.predict('pipeline', { X: { columns: ['float_input'], data: rows.slice(i, i + 100) } }, { token: plain })).result as { columns: string[]; data: unknown[][] };
      assert.deepEqual(part.columns, whole.columns);
      pieces.push(...part.data);
    }
    assertSameAnswers(whole.data, pieces);
    // Through the predict flow of a script (its model step runs sliced too): the same answers.
    const viaScript = (await server.client.predict('pipeline-hooks', { X }, { token: hooked })).result;
    assertSameAnswers(viaScript, whole);
  });

  it('names the record by its index in the call when a later slice holds a bad one', async () => {
    const records: Record<string, unknown>[] = irisRecords(MAX_RECORDS);
    records[1500] = { bogus: [1, 2, 3, 4] };
    await assert.rejects(server.client.predict('iris', { X: records }, { token: iris }), (e: ApiError) => {
      assert.equal(e.status, 422);
      assert.equal(e.code, 'INPUT_UNKNOWN');
      assert.match(e.message, /^record 1500 names input 'bogus'/);
      return true;
    });
  });

  it('applies the server limits to POST /api/v1/test, a script test and a publish\'s x_test, storing nothing', async () => {
    await assert.rejects(server.client.test({ model_name: 'iris', X: irisRecords(MAX_RECORDS + 1) }), isTooLarge('limits.maxRecords', /^args\.X holds 2001 records/));
    const script = 'function prepare(args) { return args; }';
    await assert.rejects(server.client.testScript('iris', 1, { script, args: { X: irisRecords(MAX_RECORDS + 1) } }), isTooLarge('limits.maxRecords', /^args\.X holds 2001 records/));
    const answer = await server.client.test({ model_name: 'iris', X: irisRecords(3) });
    assert.equal((answer.result as unknown[]).length, 3);
    const xTest = irisRecords(MAX_RECORDS + 1);
    await assert.rejects(
      server.client.publishModel({ name: 'iris-eval', files: [fixtureFile(IRIS_ONNX)], xTest, yTest: xTest.map(() => 0) }),
      isTooLarge('limits.maxRecords', /^x_test holds 2001 records, over the limit of 2000 per call \(limits\.maxRecords\)$/),
    );
    await assert.rejects(server.client.getModel('iris-eval'), (e: ApiError) => e.code === 'MODEL_NOT_FOUND');
  });
});
