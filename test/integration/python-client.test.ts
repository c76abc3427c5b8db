import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ADMIN_TOKEN, startTestServer, type TestServer } from '../helpers/server.js';

/**
 * The Python client (clients/python, issue 13) against a real server: real `python3` processes
 * with PYTHONPATH=clients/python run the seed's DaaS notebook cells, changed only where the
 * notebook hands `publish` a Keras object (here a file path, or a stand-in object whose save(path)
 * writes a fixture, since Keras cannot be installed without PyPI). Each script prints one JSON line,
 * which the test reads. The interpreter is Debian's /usr/bin/python3 where it exists (the one whose
 * apt packages .ci/run installs), else `python3`; `INFERBOX_PYTHON` picks another.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PYTHON = process.env.INFERBOX_PYTHON ?? (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');
const run = promisify(execFile);

type Json = any;

/** The imports every script starts with, and `emit`, which prints the one JSON line the test reads. */
const PRELUDE = String.raw`
import json, os, shutil, sys
from pprint import pprint
from inferbox import Client, InferboxConnectionError, InferboxError

def emit(value):
    print(json.dumps(value))

def caught(call):
    """The InferboxError a call raises, as a dict (None when it succeeds)."""
    try:
        call()
    except InferboxError as e:
        return {'type': type(e).__name__, 'is_exception': isinstance(e, Exception), 'is_inferbox_error': isinstance(e, InferboxError),
                'status': e.status, 'code': e.code, 'message': e.message, 'details': e.details, 'request_id': e.request_id}
    return None
`;

/** The notebook's `requests`; on a python3 without it (Debian's, without python3-requests), its one call on urllib. */
const REQUESTS = String.raw`
try:
    import requests
    HTTP = 'requests'
except ImportError:
    import urllib.request
    HTTP = 'urllib'

    class requests:
        class _Response:
            def __init__(self, body):
                self.body = body

            def json(self):
                return json.loads(self.body)

        @staticmethod
        def post(url, headers, json=None, verify=True):
            data = __import__('json').dumps(json).encode()
            req = urllib.request.Request(url, data=data, headers=dict(headers, **{'Content-Type': 'application/json'}), method='POST')
            with urllib.request.urlopen(req) as res:
                return requests._Response(res.read())
`;

describe('the Python client (clients/python) runs the seed notebook against a real server', () => {
  let server: TestServer;
  /** The token deploy() answered for keras-iris-svc, for the rotation test. */
  let irisToken = '';

  before(async () => {
    server = await startTestServer({ env: { INFERBOX_WORKERS_COUNT: '1' } });
  });
  after(() => server.close());

  /** Runs `code` in python3 from the repository root and answers the JSON of its last stdout line. */
  async function python(code: string, env: Record<string, string> = {}): Promise<Json> {
    let stdout: string;
    try {
      ({ stdout } = await run(PYTHON, ['-c', PRELUDE + code], {
        cwd: ROOT,
        timeout: 120_000,
        maxBuffer: 1 << 26,
        env: {
          ...process.env,
          PYTHONPATH: join(ROOT, 'clients/python'),
          PYTHONDONTWRITEBYTECODE: '1',
          INFERBOX_URL: server.url,
          INFERBOX_TOKEN: ADMIN_TOKEN,
          NO_PROXY: '127.0.0.1,localhost',
          no_proxy: '127.0.0.1,localhost',
          ...env,
        },
      }));
    } catch (err) {
      const e = err as { message: string; stdout?: string; stderr?: string };
      throw new Error(`${PYTHON} failed: ${e.message}\n--- stdout\n${e.stdout ?? ''}\n--- stderr\n${e.stderr ?? ''}`);
    }
    const last = stdout.trim().split('\n').at(-1) ?? '';
    return JSON.parse(last) as Json;
  }

  /** A URL where nothing listens: a port the kernel gave and took back. */
  async function deadUrl(): Promise<string> {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as { port: number };
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    return `http://127.0.0.1:${port}`;
  }

  it("passes the package's own offline checks (multipart, numpy-like values, Keras saving, errors, standard library only)", async () => {
    try {
      const { stderr } = await run(PYTHON, ['-m', 'unittest', 'discover', '-s', 'clients/python/tests'], {
        cwd: ROOT,
        timeout: 120_000,
        env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1', NO_PROXY: '127.0.0.1,localhost', no_proxy: '127.0.0.1,localhost' },
      });
      assert.match(stderr, /\nOK/);
    } catch (err) {
      const e = err as { message: string; stderr?: string };
      throw new Error(`the Python unit tests failed: ${e.message}\n${e.stderr ?? ''}`);
    }
  });

  it('installs offline with pip (--no-build-isolation) into a virtual environment and works from there', async (t) => {
    // Needs pip, setuptools (61+) and wheel beside the interpreter: on Debian python3-pip, python3-setuptools, python3-wheel.
    try {
      await run(PYTHON, ['-c', 'import importlib.util, sys; sys.exit(any(importlib.util.find_spec(m) is None for m in ("pip", "setuptools", "wheel", "venv")))']);
    } catch {
      t.skip(`${PYTHON} lacks pip, setuptools or wheel (Debian: apt-get install python3-pip python3-setuptools python3-wheel)`);
      return;
    }
    const dir = await mkdtemp(join(tmpdir(), 'inferbox-pip-'));
    try {
      // A copy, since pip builds in the source tree (build/, *.egg-info).
      await cp(join(ROOT, 'clients/python'), join(dir, 'src'), { recursive: true, filter: (p) => !p.includes('__pycache__') });
      await run(PYTHON, ['-m', 'venv', '--without-pip', '--system-site-packages', join(dir, 'venv')]);
      const venvPython = join(dir, 'venv/bin/python');
      await run(venvPython, ['-m', 'pip', 'install', '--no-build-isolation', '--no-index', '--no-deps', '--quiet', join(dir, 'src')], { cwd: dir, timeout: 120_000 });
      const env = { ...process.env, INFERBOX_URL: server.url, INFERBOX_TOKEN: ADMIN_TOKEN, NO_PROXY: '127.0.0.1,localhost', no_proxy: '127.0.0.1,localhost', PYTHONPATH: '' };
      const code = 'import json, inferbox; print(json.dumps({"file": inferbox.__file__, "version": inferbox.__version__, "health": inferbox.Client().health()["status"]}))';
      const { stdout } = await run(venvPython, ['-c', code], { cwd: dir, env });
      const out = JSON.parse(stdout) as { file: string; version: string; health: string };
      assert.ok(out.file.startsWith(join(dir, 'venv')), `imported from the venv: ${out.file}`);
      assert.equal(out.version, '0.1.0');
      assert.equal(out.health, 'ok');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('publish, test, deploy: the notebook cells, with the iris classifier as a file where the notebook had a Keras object', async () => {
    const out = await python(
      REQUESTS +
        String.raw`
client = Client()  # INFERBOX_URL, INFERBOX_TOKEN

# The notebook trains a Keras iris model; here the scikit-learn iris classifier, as an ONNX file.
model = 'test/fixtures/onnx-skl-logreg-iris-zipmap/logreg_iris.onnx'
# As the notebook has them: X_test plain rows (a numpy matrix), y_test one-hot (to_categorical).
try:
    import numpy as np
    X_test = np.array([[5.7, 4.4, 1.5, 0.4], [6.7, 3.0, 5.2, 2.3]])
    y_test = np.eye(3)[[0, 2]]
except ImportError:
    from array import array
    X_test = [array('d', [5.7, 4.4, 1.5, 0.4]), array('d', [6.7, 3.0, 5.2, 2.3])]
    y_test = [array('l', [1, 0, 0]), array('l', [0, 0, 1])]  # as with numpy: anything with .tolist() is sent as a JSON list

publish_resp = client.publish(model,
                              name='keras-iris',
                              mining_function='classification',
                              x_test=X_test,
                              y_test=y_test,
                              description='A Keras classification model')
pprint(publish_resp)

test_resp = client.test(publish_resp['model_name'],
                        model_version=publish_resp['model_version'])
pprint(test_resp)

response = requests.post(test_resp['endpoint_url'],
                         headers={'Authorization': 'Bearer {token}'.format(token=test_resp['access_token'])},
                         json=test_resp['payload'],
                         verify=False)
test_result = response.json()
pprint(test_result)

deploy_resp = client.deploy(model_name='keras-iris',
                            deployment_name='keras-iris-svc',
                            model_version=publish_resp['model_version'],
                            replicas=1)
pprint(deploy_resp)

response = requests.post(deploy_resp['endpoint_url'],
                         headers={'Authorization': 'Bearer {token}'.format(token=deploy_resp['access_token'])},
                         json=deploy_resp['payload'],
                         verify=False)
svc_result = response.json()
pprint(svc_result)

emit({'http': HTTP, 'y_test': type(y_test).__module__, 'publish_resp': publish_resp, 'test_resp': test_resp, 'test_result': test_result,
      'deploy_resp': deploy_resp, 'svc_result': svc_result,
      'predict': client.predict('keras-iris-svc', X=X_test), 'run_test': client.run_test('keras-iris', X=X_test[1:])})
`,
    );
    const sample = { float_input: [5.7, 4.4, 1.5, 0.4] };
    const evaluation = { metric: 'accuracy', value: 1, samples: 2, y_test_kind: 'one_hot' };
    assert.deepEqual(out.publish_resp, { model_name: 'keras-iris', model_version: '1', evaluation });
    assert.deepEqual(out.test_resp, {
      access_token: ADMIN_TOKEN,
      endpoint_url: `${server.url}/api/v1/test`,
      payload: { args: { X: [sample], model_name: 'keras-iris', model_version: '1' } },
    });
    assert.deepEqual(Object.keys(out.test_result).sort(), ['result', 'stderr', 'stdout']);
    assert.deepEqual(out.test_result.result[0].output_label, [0]);
    assert.ok(out.test_result.result[0].output_probability[0]['0'] > 0.5);

    assert.equal(out.deploy_resp.deployment_name, 'keras-iris-svc');
    assert.equal(out.deploy_resp.model_version, '1');
    assert.equal(out.deploy_resp.replicas, 1);
    assert.match(out.deploy_resp.access_token, /^ibx_svc_/);
    assert.equal(out.deploy_resp.endpoint_url, `${server.url}/api/v1/svc/keras-iris-svc/predict`);
    assert.deepEqual(out.deploy_resp.payload, { args: { X: [sample] } });
    assert.deepEqual(Object.keys(out.svc_result), ['result']);
    assert.deepEqual(out.svc_result.result[0].output_label, [0]);
    irisToken = out.deploy_resp.access_token;

    assert.deepEqual(out.predict.result.map((r: Json) => r.output_label), [[0], [2]]);
    assert.deepEqual(out.run_test.result.map((r: Json) => r.output_label), [[2]]);
    assert.deepEqual(out.run_test.stdout, []);

    // What the server stored from the Python call: the sample, the labels scored, the metadata.
    const meta = await server.client.getVersion('keras-iris', '1');
    assert.deepEqual(meta.sample, sample);
    assert.deepEqual(meta.evaluation, evaluation, 'one-hot y_test scored as the labels it encodes');
    assert.equal(meta.mining_function, 'classification');
    assert.equal(meta.description, 'A Keras classification model');
    console.log(`seed cells ran with ${out.http} (y_test from ${out.y_test})`);
  });

  it('publishes a "Keras model" object by its save(path): HDF5 from Keras 2, .keras from Keras 3, and an ONNX ModelProto', async () => {
    const out = await python(String.raw`
class KerasModelStandIn:
    """Stands in for a keras.Model, which cannot be installed here (no PyPI): publish() calls
    model.save(path) as it would on Keras, and this copies a real saved model to that path.
    Standalone Keras 2 writes HDF5 whatever the extension; Keras 3 writes a .keras zip."""

    def __init__(self, saved_file):
        self.saved_file = saved_file
        self.save_calls = []

    def save(self, filepath):
        self.save_calls.append(os.path.basename(filepath))
        shutil.copyfile(self.saved_file, filepath)


class OnnxModelStandIn:
    """Stands in for an onnx.ModelProto (the notebook's onnxmltools.convert_keras(model) result)."""
    graph = object()

    def SerializeToString(self):
        with open('test/fixtures/onnx-mnist8-cntk/mnist-8.onnx', 'rb') as f:
            return f.read()


client = Client()
model = KerasModelStandIn('test/fixtures/keras2-mnist-mlp-h5/mnist.h5')
x_test = [{'flatten_3_input': [[0.0] * 28] * 28}]
publish_resp = client.publish(model,
                              name='keras-mnist',
                              mining_function='classification',
                              x_test=x_test,
                              description='A tf.Keras classification model')
pprint(publish_resp)
test_resp = client.test(publish_resp['model_name'], model_version=publish_resp['model_version'])
tested = client.run_test(publish_resp['model_name'], model_version=publish_resp['model_version'])

keras3 = KerasModelStandIn('test/fixtures/keras3-mnist-mlp/mnist-sequential.keras')
publish3 = client.publish(keras3, name='keras3-mnist')

onnx_model = OnnxModelStandIn()
publish_onnx = client.publish(onnx_model,
                              name='keras-mnist-onnx',
                              mining_function='classification',
                              description='A tf.Keras classification model in ONNX')

def stored(name):
    meta = client.version(name)
    return {'source_format': meta['source_format'], 'uploads': [f['name'] for f in meta['files'] if f['name'].startswith('upload/')],
            'files': [f['name'] for f in meta['files']]}

emit({'publish_resp': publish_resp, 'save_calls': model.save_calls, 'payload': test_resp['payload'], 'tested': tested,
      'publish3': publish3, 'save_calls3': keras3.save_calls, 'publish_onnx': publish_onnx,
      'keras2': stored('keras-mnist'), 'keras3': stored('keras3-mnist'), 'onnx': stored('keras-mnist-onnx')})
`);
    assert.deepEqual(out.publish_resp, { model_name: 'keras-mnist', model_version: '1' });
    assert.deepEqual(out.save_calls, ['model.keras'], 'saved once, as .keras first');
    assert.equal(out.keras2.source_format, 'keras-h5');
    assert.deepEqual(out.keras2.uploads, ['upload/model.h5'], 'HDF5 bytes are uploaded as .h5, whatever the extension Keras was given');
    assert.deepEqual(out.payload.args.model_name, 'keras-mnist');
    assert.equal(out.payload.args.X[0].flatten_3_input.length, 28, 'the payload holds the stored sample');
    assert.equal(out.tested.result[0].dense_7.flat(Infinity).length, 10);

    assert.deepEqual(out.publish3, { model_name: 'keras3-mnist', model_version: '1' });
    assert.deepEqual(out.save_calls3, ['model.keras']);
    assert.equal(out.keras3.source_format, 'keras3');
    assert.deepEqual(out.keras3.uploads, ['upload/model.keras']);

    assert.deepEqual(out.publish_onnx, { model_name: 'keras-mnist-onnx', model_version: '1' });
    assert.equal(out.onnx.source_format, 'onnx');
    assert.deepEqual(out.onnx.files, ['model.onnx']);
  });

  it('custom deployment: the mnist-png script, a PNG upload in, the digit out (path, file object, bytes; saved or inline script)', async () => {
    const out = await python(String.raw`
client = Client()
publish_resp = client.publish('test/fixtures/onnx-mnist8-cntk/mnist-8.onnx', name='mnist', mining_function='classification')
template = client.script_template('mnist', model_version=publish_resp['model_version'])
saved = client.save_script('mnist', 'scripts-examples/mnist-png/script.js', model_version=publish_resp['model_version'])
script_text = client.get_script('mnist')
tested = client.test_script('mnist', files={'Input3': 'test/fixtures/mnist-png/ps_2.png'})

deploy_resp = client.deploy(model_name='mnist', deployment_name='mnist-svc',
                            model_version=publish_resp['model_version'],
                            script='scripts-examples/mnist-png/script.js')
by_path = client.predict('mnist-svc', files={'Input3': 'test/fixtures/mnist-png/ps_2.png'}, debug=True)
with open('test/fixtures/mnist-png/ps_7.png', 'rb') as f:
    by_file = client.predict('mnist-svc', files={'Input3': f})
with open('test/fixtures/mnist-png/ps_3.png', 'rb') as f:
    png = f.read()
by_bytes = client.predict(deploy_resp['deployment_name'], files={'Input3': png}, token=deploy_resp['access_token'])

saved_deploy = client.deploy(model_name='mnist', deployment_name='mnist-saved', script=True)
by_saved = client.predict('mnist-saved', files={'Input3': ('five.png', open('test/fixtures/mnist-png/ps_5.png', 'rb').read(), 'image/png')})

emit({'publish_resp': publish_resp, 'template_names_input': 'Input3' in template, 'saved': saved,
      'same_script': script_text == open('scripts-examples/mnist-png/script.js').read(), 'tested': tested,
      'deploy_resp': {k: deploy_resp[k] for k in ('deployment_name', 'has_script', 'endpoint_url')},
      'by_path': by_path, 'by_file': by_file, 'by_bytes': by_bytes, 'saved_has_script': saved_deploy['has_script'], 'by_saved': by_saved,
      'deployment_script_is_the_file': client.deployment_script('mnist-svc') == script_text})
`);
    assert.deepEqual(out.publish_resp, { model_name: 'mnist', model_version: '1' });
    assert.equal(out.template_names_input, true);
    assert.deepEqual(out.saved, { model_name: 'mnist', model_version: '1', functions: ['preprocess_files', 'postprocess'], bytes: out.saved.bytes });
    assert.equal(out.same_script, true);
    assert.deepEqual(out.tested, { result: [{ Plus214_Output_0: 2 }], stdout: [], stderr: [] });
    assert.deepEqual(out.deploy_resp, { deployment_name: 'mnist-svc', has_script: true, endpoint_url: `${server.url}/api/v1/svc/mnist-svc/predict` });
    assert.deepEqual(out.by_path, { result: [{ Plus214_Output_0: 2 }], stdout: [], stderr: [] });
    assert.deepEqual(out.by_file, { result: [{ Plus214_Output_0: 7 }] });
    assert.deepEqual(out.by_bytes, { result: [{ Plus214_Output_0: 3 }] });
    assert.equal(out.saved_has_script, true);
    assert.deepEqual(out.by_saved, { result: [{ Plus214_Output_0: 5 }] });
    assert.equal(out.deployment_script_is_the_file, true);
  });

  it('labels without a script: deploy(labels=, top_k=), put_labels from a text file and an index_to_name.json, update_deployment(labels=False)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ibx-labels-'));
    writeFileSync(join(dir, 'digits.txt'), 'zero\none\ntwo\nthree\nfour\nfive\nsix\nseven\neight\nnine\n');
    writeFileSync(join(dir, 'index_to_name.json'), JSON.stringify(Object.fromEntries(Array.from({ length: 10 }, (_, i) => [String(i), ['n' + i, 'digit ' + i]]))));
    const out = await python(
      String.raw`
client = Client()
names = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine']
deployed = client.deploy(model_name='mnist', deployment_name='mnist-labels', labels=names, top_k=2)
by_list = client.predict('mnist-labels', files={'Input3': 'test/fixtures/mnist-png/ps_4.png'})
from_text = client.put_labels('mnist-labels', os.path.join(os.environ['LABELS_DIR'], 'digits.txt'), top_k=1)
from_json = client.put_labels('mnist-labels', os.path.join(os.environ['LABELS_DIR'], 'index_to_name.json'))
by_json = client.predict('mnist-labels', files={'Input3': 'test/fixtures/mnist-png/ps_8.png'})
removed = client.update_deployment('mnist-labels', labels=False)
client.delete_deployment('mnist-labels')
emit({'deployed': deployed['labels'], 'by_list': by_list, 'from_text': from_text['labels'], 'from_json': from_json['labels'],
      'by_json': by_json, 'removed': 'labels' in removed})
`,
      { LABELS_DIR: dir },
    );
    await rm(dir, { recursive: true });
    const view = (topK: number) => ({ top_k: topK, scores_set: 'auto', outputs: [{ output: 'Plus214_Output_0', count: 10, scores: 'softmax' }] });
    assert.deepEqual(out.deployed, view(2));
    assert.deepEqual(out.by_list.result[0].Plus214_Output_0.map((s: { label: string }) => s.label)[0], 'four');
    assert.equal(out.by_list.result[0].Plus214_Output_0.length, 2);
    assert.deepEqual(out.from_text, view(1));
    assert.deepEqual(out.from_json, view(1));
    assert.deepEqual(out.by_json.result[0].Plus214_Output_0.map((s: { label: string }) => s.label), ['digit 8']);
    assert.equal(out.removed, false);
  });

  it('preprocess blocks: deploy(preprocess=), update_deployment(preprocess=dict and False), a refused block as InferboxError', async () => {
    const out = await python(String.raw`
client = Client()
deployed = client.deploy(model_name='mnist', deployment_name='mnist-block', preprocess={'Input3': {'fit': 'fill', 'scale': 1}})
answer = client.predict('mnist-block', files={'Input3': 'test/fixtures/mnist-png/ps_3.png'})
changed = client.update_deployment('mnist-block', preprocess={'Input3': {'fit': 'cover'}})
refused = caught(lambda: client.update_deployment('mnist-block', preprocess={'Input3': {'color': 'rgb'}}))
removed = client.update_deployment('mnist-block', preprocess=False)
client.delete_deployment('mnist-block')
emit({'deployed': [deployed['preprocess'], deployed['preprocess_inferred']], 'answer': answer, 'changed': changed['preprocess'],
      'refused': refused, 'removed': [removed['preprocess'], removed['preprocess_inferred']]})
`);
    assert.deepEqual(out.deployed, [{ Input3: { fit: 'fill', scale: 1 } }, false]);
    assert.equal(out.answer.result.length, 1);
    assert.deepEqual(out.changed, { Input3: { fit: 'cover' } });
    assert.deepEqual([out.refused.type, out.refused.status, out.refused.code], ['InferboxError', 400, 'REQUEST_INVALID']);
    assert.match(out.refused.message, /preprocess\.Input3\.color: "rgb" makes 3 channels/);
    assert.deepEqual(out.removed, [null, false]);
  });

  it('raises InferboxError with the server code, status, details and request id; InferboxConnectionError without a server', async () => {
    const out = await python(
      String.raw`
client = Client()
emit({
    'shape': caught(lambda: client.predict('keras-iris-svc', X=[{'float_input': [5.7, 4.4, 1.5]}])),
    'no_model': caught(lambda: client.test('no-such-model')),
    'bad_token': caught(lambda: Client(token='not-the-token').models()),
    'in_use': caught(lambda: client.delete_model('keras-iris')),
    'not_a_model': caught(lambda: client.publish('test/fixtures/mnist-png/ps_2.png', name='png')),
    'no_server': caught(lambda: Client(url=os.environ['DEAD_URL'], timeout=5).models()),
    'ok': caught(lambda: client.models()),
})
`,
      { DEAD_URL: await deadUrl() },
    );
    assert.equal(out.shape.type, 'InferboxError');
    assert.equal(out.shape.is_exception, true);
    assert.equal(out.shape.status, 422);
    assert.equal(out.shape.code, 'INPUT_SHAPE_MISMATCH');
    assert.deepEqual(out.shape.details, { input: 'float_input', expected: [1, 4], got: [3] });
    assert.match(out.shape.message, /expects \[1,4\]/);
    assert.match(out.shape.request_id, /^[0-9a-f-]{36}$/);
    assert.deepEqual([out.no_model.status, out.no_model.code], [404, 'MODEL_NOT_FOUND']);
    assert.deepEqual([out.bad_token.status, out.bad_token.code], [401, 'AUTH_INVALID_TOKEN']);
    assert.deepEqual([out.in_use.status, out.in_use.code], [409, 'MODEL_IN_USE']);
    assert.deepEqual([out.not_a_model.status, out.not_a_model.code, out.not_a_model.details], [422, 'MODEL_UNSUPPORTED', { field: 'file' }]);
    assert.equal(out.no_server.type, 'InferboxConnectionError');
    assert.equal(out.no_server.is_inferbox_error, true);
    assert.deepEqual([out.no_server.status, out.no_server.code], [null, 'CONNECTION_FAILED']);
    assert.equal(out.ok, null);
  });

  it('rotate_token: a new token answers, the old one is refused with AUTH_INVALID_TOKEN', async () => {
    assert.match(irisToken, /^ibx_svc_/, 'the notebook test ran first');
    const out = await python(
      String.raw`
client = Client()
old = os.environ['OLD_TOKEN']
X = [{'float_input': [6.7, 3.0, 5.2, 2.3]}]
before = client.predict('keras-iris-svc', X=X, token=old)
rotated = client.rotate_token('keras-iris-svc')
emit({'before': before, 'rotated': rotated, 'old_refused': caught(lambda: client.predict('keras-iris-svc', X=X, token=old)),
      'remembered': client.predict('keras-iris-svc', X=X),
      'deployment_client': Client(token=rotated['access_token']).predict('keras-iris-svc', X=X)})
`,
      { OLD_TOKEN: irisToken },
    );
    assert.deepEqual(out.before.result[0].output_label, [2]);
    assert.equal(out.rotated.deployment_name, 'keras-iris-svc');
    assert.match(out.rotated.access_token, /^ibx_svc_/);
    assert.notEqual(out.rotated.access_token, irisToken);
    assert.deepEqual([out.old_refused.status, out.old_refused.code], [401, 'AUTH_INVALID_TOKEN']);
    assert.deepEqual(out.remembered.result[0].output_label, [2]);
    assert.deepEqual(out.deployment_client.result[0].output_label, [2]);
    // The same from the TypeScript client: the new token works, the old one does not.
    await server.client.withToken(out.rotated.access_token).predict('keras-iris-svc', { X: [{ float_input: [5.7, 4.4, 1.5, 0.4] }] });
    await assert.rejects(server.client.withToken(irisToken).predict('keras-iris-svc', { X: [{ float_input: [5.7, 4.4, 1.5, 0.4] }] }), { code: 'AUTH_INVALID_TOKEN' });
  });

  it('lists, reads, changes and deletes models, versions and deployments; stats and health', async () => {
    const out = await python(String.raw`
client = Client()
listed = client.models()
model = client.model('keras-iris')
second = client.publish(['test/fixtures/tfjs-layers-embedding-gru/model.json', 'test/fixtures/tfjs-layers-embedding-gru/weights.bin'], name='gru')
folder = client.publish('test/fixtures/tfjs-layers-embedding-gru', name='gru')
versions = [v['model_version'] for v in client.versions('gru')]
client.delete_version('gru', '1')
after_delete = [v['model_version'] for v in client.versions('gru')]
updated = client.update_deployment('keras-iris-svc', timeout_ms=2000)
# Its model fixes the batch dimension to 1: dynamic batching is refused.
batched = caught(lambda: client.update_deployment('keras-iris-svc', max_batch_size=8, max_delay_us=500))
deployments = [d['deployment_name'] for d in client.deployments()]
one = client.deployment('keras-iris-svc')
stats = client.stats('keras-iris-svc')
client.delete_deployment('keras-iris-svc')
client.delete_model('keras-iris')
emit({'listed': [m['model_name'] for m in listed], 'model_versions': [v['model_version'] for v in model['versions']],
      'second': second, 'folder': folder, 'versions': versions, 'after_delete': after_delete, 'gru_format': client.version('gru')['source_format'],
      'updated_timeout': updated['timeout_ms'], 'batching': batched, 'deployments': deployments, 'one': one['deployment_name'], 'has_token': 'access_token' in one,
      'stats': stats, 'gone': caught(lambda: client.model('keras-iris')), 'gone_deployment': caught(lambda: client.deployment('keras-iris-svc')),
      'health': client.health()['status']})
`);
    assert.deepEqual(out.listed, ['keras-iris', 'keras-mnist', 'keras-mnist-onnx', 'keras3-mnist', 'mnist']);
    assert.deepEqual(out.model_versions, ['1']);
    assert.deepEqual(out.second, { model_name: 'gru', model_version: '1' });
    assert.deepEqual(out.folder, { model_name: 'gru', model_version: '2' });
    assert.deepEqual(out.versions, ['1', '2']);
    assert.deepEqual(out.after_delete, ['2']);
    assert.equal(out.gru_format, 'tfjs-layers', 'a folder with model.json, its weights and other files is a TF.js model');
    assert.equal(out.updated_timeout, 2000);
    assert.equal(out.batching.code, 'REQUEST_INVALID');
    assert.match(out.batching.message, /^max_batch_size 8 needs a model .*fixed first dimension \(1\)/);
    assert.deepEqual(out.deployments, ['keras-iris-svc', 'mnist-saved', 'mnist-svc']);
    assert.equal(out.one, 'keras-iris-svc');
    assert.equal(out.has_token, false);
    assert.equal(out.stats.deployment_name, 'keras-iris-svc');
    const predict = out.stats.functions.find((f: Json) => f.function === 'predict');
    assert.ok(predict.count >= 3 && predict.errors >= 1, JSON.stringify(predict));
    assert.deepEqual([out.gone.status, out.gone.code], [404, 'MODEL_NOT_FOUND']);
    assert.deepEqual([out.gone_deployment.status, out.gone_deployment.code], [404, 'DEPLOYMENT_NOT_FOUND']);
    assert.equal(out.health, 'ok');
  });
});
