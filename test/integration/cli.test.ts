import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { csvTable, dataArgs } from '../../src/cli/inputs.js';
import { ADMIN_TOKEN, startTestServer, type TestServer } from '../helpers/server.js';

/**
 * The `inferbox` command (issue 13, docs/cli.md) as a user runs it: `node bin/inferbox.js ...` in a
 * subprocess against one real server, through the seed's flow (publish with x_test, test on the
 * stored sample, deploy, predict; a scripted MNIST deployment fed a PNG), token rotation, the exit
 * codes, and `inferbox serve`. It runs the built CLI (dist/), which `npm test` builds first.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(ROOT, 'bin/inferbox.js');
const BUILT = join(ROOT, 'dist/src/cli/main.js');
const IRIS = 'test/fixtures/onnx-skl-logreg-iris-zipmap/logreg_iris.onnx';
const MNIST = 'test/fixtures/onnx-mnist8-cntk/mnist-8.onnx';
const MNIST_SCRIPT = 'scripts-examples/mnist-png/script.js';
const PNG_2 = 'test/fixtures/mnist-png/ps_2.png';
const IRIS_SAMPLE = { float_input: [5.1, 3.5, 1.4, 0.2] };

type Json = any;

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** The environment of every run: the test's, without its test-runner and inferbox variables. */
function baseEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !k.startsWith('NODE_TEST') && !k.startsWith('INFERBOX_')) env[k] = v;
  }
  return env;
}

/** Spawns `node bin/inferbox.js ...args` from the repository root and collects its exit code and output. */
function spawnCli(args: readonly string[], env: Record<string, string>, input = ''): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : -1), stdout, stderr }));
    child.stdin.end(input);
  });
}

/** A port nothing listens on: one the OS just handed out and that was closed again. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('the inferbox CLI (bin/inferbox.js) against a real server', () => {
  let server: TestServer;
  let tmp: string;
  /** The server's URL and the admin token, as a user would export them. */
  let env: Record<string, string>;
  let irisToken = '';
  let mnistToken = '';

  const cli = (args: readonly string[], extraEnv: Record<string, string> = {}, input = '') => spawnCli(args, { ...env, ...extraEnv }, input);

  /** Runs a command that must succeed; the failure message shows what it printed. */
  async function ok(args: readonly string[], extraEnv: Record<string, string> = {}): Promise<Run> {
    const run = await cli(args, extraEnv);
    assert.equal(run.code, 0, `inferbox ${args.join(' ')} exited ${run.code}\nstdout: ${run.stdout}\nstderr: ${run.stderr}`);
    return run;
  }

  /** Runs a command with --json and answers its stdout parsed. */
  async function json(args: readonly string[], extraEnv: Record<string, string> = {}): Promise<Json> {
    const run = await ok([...args, '--json'], extraEnv);
    return JSON.parse(run.stdout);
  }

  before(async () => {
    assert.ok(existsSync(BUILT), `${BUILT} is missing: the CLI test runs the built CLI; run \`npm run build\` first (npm test builds before testing)`);
    server = await startTestServer({ env: { INFERBOX_WORKERS_COUNT: '1' } });
    tmp = await mkdtemp(join(tmpdir(), 'inferbox-cli-'));
    env = { ...baseEnv(), INFERBOX_URL: server.url, INFERBOX_TOKEN: ADMIN_TOKEN };
  });
  after(async () => {
    await server?.close();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('publish: a model file with --x-test (a records JSON file), --y-test and --mining-function; --json answers the seed\'s dict', async () => {
    const xTest = join(tmp, 'x_test.json');
    await writeFile(xTest, JSON.stringify([IRIS_SAMPLE]));
    const run = await ok(['publish', IRIS, '--name', 'iris', '--x-test', xTest, '--y-test', '[0]', '--mining-function', 'classification', '--description', 'Iris LR']);
    assert.equal(run.stdout.trim(), 'published iris version 1\nevaluation: accuracy 1 on 1 sample (y_test as labels)');
    assert.deepEqual(await json(['publish', MNIST, '--name', 'mnist']), { model_name: 'mnist', model_version: '1' });
  });

  it('publish: --x-test and --y-test as CSV files (rows of numbers; one column: a flat list of targets), scored at publish', async () => {
    const xTest = join(tmp, 'x_test2.csv');
    const yTest = join(tmp, 'y_test.csv');
    await writeFile(xTest, 'sepal_length,sepal_width,petal_length,petal_width\n5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n');
    await writeFile(yTest, 'species\n0\n2\n');
    const evaluation = { metric: 'accuracy', value: 1, samples: 2, y_test_kind: 'labels' };
    assert.deepEqual(await json(['publish', IRIS, '--name', 'iris-csv', '--x-test', xTest, '--y-test', yTest]), { model_name: 'iris-csv', model_version: '1', evaluation });
    const version = await json(['models', 'iris-csv']);
    assert.deepEqual(version.versions[0].evaluation, { metric: 'accuracy', value: 1, samples: 2, y_test_kind: 'labels' });
  });

  it('models: a table of models; with a name, each version with its inputs and outputs', async () => {
    const list = await ok(['models']);
    const lines = list.stdout.trim().split('\n');
    assert.match(lines[0]!, /^NAME\s+LATEST\s+VERSIONS\s+FORMAT\s+SIZE\s+CREATED\s+DESCRIPTION$/);
    assert.ok(lines.some((l) => /^iris\s+1\s+1\s+onnx\s/.test(l) && l.endsWith('Iris LR')), list.stdout);
    assert.ok(lines.some((l) => /^mnist\s+1\s+1\s+onnx\s/.test(l)), list.stdout);

    const one = await ok(['models', 'iris']);
    assert.match(one.stdout, /^iris version 1 \(latest\)$/m);
    assert.match(one.stdout, /^\s+input\s+float_input\s+float32\s+\[1, 4\]/m);
    assert.match(one.stdout, /^\s+output\s+output_probability\s+float32\s+\[\?, 3\]\s+classes 0, 1, 2$/m);
    assert.match(one.stdout, /^\s+evaluation:\s+accuracy 1 on 1 sample \(y_test as labels\)$/m);

    const raw = await json(['models', 'iris']);
    assert.equal(raw.latest_version, '1');
    assert.deepEqual(raw.versions[0].sample, IRIS_SAMPLE);
    const versions = await json(['versions', 'iris']);
    assert.deepEqual(versions.map((v: Json) => v.model_version), ['1']);
    assert.match((await ok(['versions', 'iris'])).stdout, /^1 \(latest\)\s+onnx\s/m);
  });

  it('test: without data, the stored sample (the SDK\'s testEndpoint payload); with --data, the args given', async () => {
    const stored = await json(['test', 'iris']);
    assert.deepEqual(stored.result[0].output_label, [0]);
    assert.deepEqual(stored.stdout, []);
    const human = await ok(['test', 'iris']);
    assert.match(human.stdout, /^#\s+output_label\s+output_probability$/m);
    assert.match(human.stdout, /^0\s+\[0\]\s+\[\{"0":0\.86/m);
    assert.match(human.stderr, /testing iris version 1 on \[\{"float_input":\[5\.1,3\.5,1\.4,0\.2\]\}\]/);

    const virginica = await json(['test', 'iris', '--version', '1', '--data', '{"X": [{"float_input": [6.7, 3.0, 5.2, 2.3]}]}']);
    assert.deepEqual(virginica.result[0].output_label, [2]);
    const image = await json(['test', 'mnist', '--file', `Input3=${PNG_2}`]);
    const logits: number[] = image.result[0].Plus214_Output_0[0];
    assert.equal(logits.indexOf(Math.max(...logits)), 2);
  });

  it('deploy, then predict with --data as curl takes it: {"args": ...}, the args themselves, or @file', async () => {
    const deployed = await json(['deploy', 'iris', '--name', 'iris-svc']);
    assert.equal(deployed.deployment_name, 'iris-svc');
    assert.equal(deployed.model_version, '1');
    assert.match(deployed.access_token, /^ibx_svc_/);
    assert.equal(deployed.endpoint_url, `${server.url}/api/v1/svc/iris-svc/predict`);
    assert.deepEqual(deployed.payload, { args: { X: [IRIS_SAMPLE] } });
    irisToken = deployed.access_token;

    const body = JSON.stringify(deployed.payload);
    const wrapped = await json(['predict', 'iris-svc', '--data', body, '--token', irisToken]);
    assert.deepEqual(wrapped.result[0].output_label, [0]);
    const bare = await json(['predict', 'iris-svc', '--data', JSON.stringify(deployed.payload.args)], { INFERBOX_TOKEN: irisToken });
    assert.deepEqual(bare, wrapped);
    const file = join(tmp, 'body.json');
    await writeFile(file, body);
    assert.deepEqual(await json(['--token', irisToken, 'predict', 'iris-svc', '--data', `@${file}`]), wrapped);
    const fromStdin = await cli(['predict', 'iris-svc', '--data', '@-', '--json'], { INFERBOX_TOKEN: irisToken }, body);
    assert.equal(fromStdin.code, 0, fromStdin.stderr);
    assert.deepEqual(JSON.parse(fromStdin.stdout), wrapped);

    const human = await ok(['deploy', 'iris', '--name', 'iris-svc-2']);
    assert.match(human.stdout, /^token:\s+ibx_svc_\S+/m);
    assert.match(human.stdout, new RegExp(`^endpoint:\\s+${server.url}/api/v1/svc/iris-svc-2/predict$`, 'm'));
  });

  it('script push of scripts-examples/mnist-png on mnist, deploy --script, predict --file Input3=ps_2.png: the digit 2', async () => {
    const pushed = await ok(['script', 'push', 'mnist', MNIST_SCRIPT]);
    assert.match(pushed.stdout, /^saved script\.js with mnist version 1: \d+ bytes, functions preprocess_files, postprocess$/m);
    const pulled = await ok(['script', 'pull', 'mnist']);
    assert.equal(pulled.stdout.trimEnd(), (await readFile(join(ROOT, MNIST_SCRIPT), 'utf8')).trimEnd());
    const template = await ok(['script', 'template', 'mnist']);
    assert.match(template.stdout, /Input3\s+float32\s+\[1, 1, 28, 28\]/);

    const tested = await json(['script', 'test', 'mnist', '--file', `Input3=${PNG_2}`]);
    assert.deepEqual(tested.result, [{ Plus214_Output_0: 2 }]);

    const deployed = await json(['deploy', 'mnist', '--name', 'mnist-png', '--script']);
    assert.equal(deployed.has_script, true);
    mnistToken = deployed.access_token;

    const human = await ok(['predict', 'mnist-png', '--file', `Input3=${PNG_2}`, '--token', mnistToken]);
    assert.deepEqual(human.stdout.trim().split('\n').map((l) => l.split(/\s+/)), [['#', 'Plus214_Output_0'], ['0', '2']]);
    assert.deepEqual(await json(['predict', 'mnist-png', '--file', `Input3=${PNG_2}`, '--token', mnistToken]), { result: [{ Plus214_Output_0: 2 }] });
  });

  it('deployments and stats, as tables and as JSON', async () => {
    const list = await json(['deployments']);
    assert.deepEqual(list.map((d: Json) => d.deployment_name).sort(), ['iris-svc', 'iris-svc-2', 'mnist-png']);
    const table = await ok(['deployments']);
    assert.match(table.stdout, /^mnist-png\s+mnist\s+1\s+yes \(1 replica\)\s+http:\/\/\S+\/api\/v1\/svc\/mnist-png\/predict\s/m);
    assert.equal((await json(['deployments', 'mnist-png'])).has_script, true);

    const stats = await json(['stats', 'mnist-png']);
    assert.equal(stats.sandboxes.state, 'running');
    const predict = stats.functions.find((f: Json) => f.function === 'predict');
    assert.equal(predict.count, 2);
    assert.equal(predict.errors, 0);
    assert.match((await ok(['stats', 'mnist-png'])).stdout, /^predict\s+2\s+0\s/m);
  });

  it('deploy --preprocess (JSON text) --labels (a text file) --top-k, deployments shows them; labels <deployment> <file>, preprocess <deployment> <file|none>', async () => {
    const digits = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'];
    await writeFile(join(tmp, 'digits.txt'), `${digits.join('\n')}\n`);
    await writeFile(join(tmp, 'index_to_name.json'), JSON.stringify(Object.fromEntries(digits.map((d, i) => [String(i), ['n' + i, `digit ${d}`]]))));
    await writeFile(join(tmp, 'block.json'), JSON.stringify({ Input3: { fit: 'cover', scale: 1 } }));

    const deployed = await json(['deploy', 'mnist', '--name', 'digits', '--preprocess', '{"Input3": {"fit": "fill", "scale": 1}}', '--labels', join(tmp, 'digits.txt'), '--top-k', '2']);
    assert.deepEqual(deployed.preprocess, { Input3: { fit: 'fill', scale: 1 } });
    assert.deepEqual(deployed.labels, { top_k: 2, scores_set: 'auto', outputs: [{ output: 'Plus214_Output_0', count: 10, scores: 'softmax' }] });
    const token = deployed.access_token as string;
    const answer = await json(['predict', 'digits', '--file', `Input3=${PNG_2}`, '--token', token]);
    assert.deepEqual(answer.result[0].Plus214_Output_0.map((s: Json) => s.label), ['two', answer.result[0].Plus214_Output_0[1].label]);
    assert.equal(answer.result[0].Plus214_Output_0.length, 2);

    const shown = await ok(['deployments', 'digits']);
    assert.match(shown.stdout, /^preprocess: +\{"Input3":\{"fit":"fill","scale":1\}\}$/m);
    assert.match(shown.stdout, /^labels: +Plus214_Output_0: 10 labels \(softmaxed logits\), top_k 2$/m);

    const relabelled = await ok(['labels', 'digits', join(tmp, 'index_to_name.json'), '--top-k', '1']);
    assert.match(relabelled.stdout, /^labels: +Plus214_Output_0: 10 labels \(softmaxed logits\), top_k 1$/m);
    assert.deepEqual((await json(['predict', 'digits', '--file', `Input3=${PNG_2}`, '--token', token])).result, [{ Plus214_Output_0: [{ label: 'digit two', score: answer.result[0].Plus214_Output_0[0].score }] }]);
    const sigmoid = await ok(['labels', 'digits', join(tmp, 'index_to_name.json'), '--scores', 'sigmoid']);
    assert.match(sigmoid.stdout, /^labels: +Plus214_Output_0: 10 labels \(sigmoid of logits, as set\), top_k 1$/m);
    const badScores = await cli(['labels', 'digits', join(tmp, 'index_to_name.json'), '--scores', 'tanh']);
    assert.equal(badScores.code, 2, 'a usage error, before any request');
    assert.match(badScores.stderr, /--scores .*'tanh' is invalid\. Allowed choices are auto, softmax, sigmoid, probabilities/);
    await ok(['labels', 'digits', join(tmp, 'index_to_name.json'), '--scores', 'auto']);
    const listed = await json(['labels', 'digits']);
    assert.deepEqual(listed, { top_k: 1, labels: { Plus214_Output_0: digits.map((d) => `digit ${d}`) } });

    const fromFile = await ok(['preprocess', 'digits', join(tmp, 'block.json')]);
    assert.match(fromFile.stdout, /^preprocess: +\{"Input3":\{"fit":"cover","scale":1\}\}$/m);
    const refused = await cli(['preprocess', 'digits', '{"Input3": {"color": "rgb"}}']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /^error: REQUEST_INVALID: .*preprocess\.Input3\.color: "rgb" makes 3 channels/m);
    assert.match((await ok(['preprocess', 'digits', 'none'])).stdout, /^preprocess: +none/m);
    const tooMany = await cli(['labels', 'digits', join(tmp, 'digits.txt'), '--top-k', '11']);
    assert.equal(tooMany.code, 1);
    assert.match(tooMany.stderr, /top_k must be at most 10/);
    const noFile = await cli(['deploy', 'mnist', '--name', 'x', '--labels', join(tmp, 'missing.txt')]);
    assert.equal(noFile.code, 2);
    assert.match(noFile.stderr, /--labels: cannot read .*missing\.txt: no such file/);
    await ok(['delete', 'deployment', 'digits']);
  });

  it('token: prints a new token; the old one is refused from then on (exit 1, AUTH_INVALID_TOKEN)', async () => {
    const rotated = await ok(['token', 'mnist-png']);
    const fresh = rotated.stdout.trim();
    assert.match(fresh, /^ibx_svc_\S+$/);
    assert.notEqual(fresh, mnistToken);

    const old = await cli(['predict', 'mnist-png', '--file', `Input3=${PNG_2}`, '--token', mnistToken]);
    assert.equal(old.code, 1);
    assert.equal(old.stdout, '');
    assert.match(old.stderr, /^error: AUTH_INVALID_TOKEN: /m);
    assert.deepEqual(await json(['predict', 'mnist-png', '--file', `Input3=${PNG_2}`, '--token', fresh]), { result: [{ Plus214_Output_0: 2 }] });
  });

  it('exit 1 when the server refuses: its code and message, and the field it names', async () => {
    const missing = await cli(['test', 'nope']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^error: MODEL_NOT_FOUND: .*nope/m);
    const notAModel = await cli(['publish', PNG_2, '--name', 'png']);
    assert.equal(notAModel.code, 1);
    assert.match(notAModel.stderr, /^error: MODEL_UNSUPPORTED: .* \(field: file\)$/m);
    const shape = await cli(['predict', 'iris-svc', '--data', '{"X": [{"float_input": [1, 2, 3]}]}']);
    assert.equal(shape.code, 1);
    assert.match(shape.stderr, /^error: INPUT_SHAPE_MISMATCH: input 'float_input' expects \[1,4\], got \[3\]$/m);
    const inUse = await cli(['delete', 'model', 'iris']);
    assert.equal(inUse.code, 1);
    assert.match(inUse.stderr, /^error: MODEL_IN_USE: /m);
    // Dynamic batching needs a free batch dimension; iris fixes it to 1.
    const batching = await cli(['deploy', 'iris', '--name', 'iris-batched', '--max-batch-size', '8', '--max-delay-us', '1000']);
    assert.equal(batching.code, 1);
    assert.match(batching.stderr, /^error: REQUEST_INVALID: max_batch_size 8 needs a model .* \(field: max_batch_size\)$/m);
    // Deadline and queue bound reach the deployment; over the cap is the server's refusal (exit 1).
    const bounded = await json(['deploy', 'iris', '--name', 'iris-bounded', '--request-timeout-ms', '2500', '--max-queue', '0']);
    assert.equal(bounded.request_timeout_ms, 2500);
    assert.equal(bounded.max_queue, 0);
    const capped = await cli(['deploy', 'iris', '--name', 'iris-capped', '--request-timeout-ms', '999999999']);
    assert.equal(capped.code, 1);
    assert.match(capped.stderr, /request_timeout_ms/);
    await ok(['delete', 'deployment', 'iris-bounded']);
  });

  it('exit 2 for usage: an unknown flag or command, a missing option, an unreadable file, bad JSON', async () => {
    const flag = await cli(['models', '--bogus']);
    assert.equal(flag.code, 2);
    assert.match(flag.stderr, /^error: unknown option '--bogus'$/m);
    assert.equal((await cli(['frobnicate'])).code, 2);
    const name = await cli(['publish', IRIS]);
    assert.equal(name.code, 2);
    assert.match(name.stderr, /required option '-n, --name <name>' not specified/);
    const file = await cli(['publish', join(tmp, 'absent.onnx'), '--name', 'x']);
    assert.equal(file.code, 2);
    assert.match(file.stderr, /^error: publish: cannot read .*absent\.onnx: no such file$/m);
    const data = await cli(['predict', 'iris-svc', '--data', '{not json']);
    assert.equal(data.code, 2);
    assert.match(data.stderr, /^error: --data: not JSON/m);
    const png = await cli(['predict', 'mnist-png', '--file', 'Input3']);
    assert.equal(png.code, 2);
    assert.match(png.stderr, /--file Input3: expected <input>=<path>/);
    const help = await cli(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^\s+publish \[options\] <file\.\.\.>/m);
  });

  it('exit 3 when nothing listens at the URL', async () => {
    const port = await closedPort();
    const run = await cli(['models', '--url', `http://127.0.0.1:${port}`]);
    assert.equal(run.code, 3);
    assert.match(run.stderr, new RegExp(`^error: cannot connect to http://127\\.0\\.0\\.1:${port}`, 'm'));
    assert.equal((await cli(['models'], { INFERBOX_URL: `http://127.0.0.1:${port}` })).code, 3);
  });

  it('a progress bar on stderr for an upload over 4 MB (here a file the server then refuses)', async () => {
    const big = join(tmp, 'big.onnx');
    await writeFile(big, new Uint8Array(5 * 2 ** 20));
    const run = await cli(['publish', big, '--name', 'big']);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /^uploading big \[#{24}\] 100%\s+5\.0 MB \/ 5\.0 MB$/m);
    assert.match(run.stderr, /^error: MODEL_/m);
    const quiet = await cli(['publish', big, '--name', 'big', '--no-progress']);
    assert.doesNotMatch(quiet.stderr, /uploading/);
  });

  it('delete: a deployment, then the model it served', async () => {
    assert.equal((await ok(['delete', 'deployment', 'mnist-png'])).stdout.trim(), 'deleted deployment mnist-png');
    assert.equal((await ok(['delete', 'model', 'mnist', '--version', '1'])).stdout.trim(), 'deleted model mnist version 1');
    const gone = await cli(['models', 'mnist']);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /^error: MODEL_NOT_FOUND: /m);
  });

  it('serve: starts the server (port 0, a temp data dir), prints the ready line and answers /healthz', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'inferbox-cli-serve-'));
    const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--grpc-port', '0', '--host', '127.0.0.1', '--data', dataDir, '--admin-token', 'serve-token', '--workers-count', '1', '--log-level', 'warn'], {
      cwd: ROOT,
      env: baseEnv(),
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      let stderr = '';
      const url = await new Promise<string>((resolve, reject) => {
        child.stderr.setEncoding('utf8').on('data', (d: string) => {
          stderr += d;
          const ready = /^inferbox ready: web console and API at (http:\/\/\S+) /m.exec(stderr);
          if (ready) resolve(ready[1]!);
        });
        child.once('exit', (code) => reject(new Error(`inferbox serve exited ${code} before it was ready:\n${stderr}`)));
      });
      assert.match(stderr, new RegExp(`data in ${dataDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
      const res = await fetch(`${url}/healthz`);
      assert.equal(res.status, 200);
      assert.equal(((await res.json()) as { status: string }).status, 'ok');
      const models = await cli(['models', '--json', '--url', url, '--token', 'serve-token']);
      assert.equal(models.code, 0, models.stderr);
      assert.deepEqual(JSON.parse(models.stdout), []);
    } finally {
      child.kill('SIGTERM');
      await exited;
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

describe('the CLI\'s request inputs (src/cli/inputs.ts)', () => {
  it('CSV of numbers: a header skipped, rows as plain rows; one column of targets as a flat list', () => {
    assert.deepEqual(csvTable('a,b,c,d\n5.1,3.5,1.4,0.2\r\n6.7,3.0,5.2,2.3\n\n', 'x.csv', 'x'), [
      [5.1, 3.5, 1.4, 0.2],
      [6.7, 3.0, 5.2, 2.3],
    ]);
    assert.deepEqual(csvTable('0\n2\n1\n', 'y.csv', 'y'), [0, 2, 1]);
    assert.deepEqual(csvTable('1\n2\n', 'x.csv', 'x'), [[1], [2]]);
    assert.throws(() => csvTable('1,2\n3,x\n', 'x.csv', 'x'), /x\.csv: line 2, column 2: "x" is not a number/);
    assert.throws(() => csvTable('1,2\n3\n', 'x.csv', 'x'), /different numbers of columns/);
  });

  it('--data: {"args": ...}, the args themselves, or a list of records as X', () => {
    assert.deepEqual(dataArgs('{"args": {"X": [1]}}'), { X: [1] });
    assert.deepEqual(dataArgs('{"X": [1], "who": "me"}'), { X: [1], who: 'me' });
    assert.deepEqual(dataArgs('[{"a": 1}]'), { X: [{ a: 1 }] });
    assert.throws(() => dataArgs('3'), /--data: expected a JSON object/);
  });
});
