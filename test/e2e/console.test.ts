import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Browser, Page } from 'playwright-core';
import { CONSOLE_DIR } from '../../src/front/routes/console.js';
import { CHROMIUM, collectPageErrors, launchChromium } from '../helpers/browser.js';
import { fixturePath, MNIST_ONNX } from '../helpers/fixtures.js';
import { ADMIN_TOKEN, startTestServer, type TestServer } from '../helpers/server.js';

/**
 * The seed's whole flow in the web console, as a new user does it in a real Chromium: sign in,
 * publish the MNIST model through the upload form, read its overview, submit the stored sample,
 * generate a script and edit it into the seed's PNG-to-digit script, test it as an API with a PNG,
 * deploy it as mnist-svc, call the service with the PNG, then run the generated curl command in a
 * shell and get the digit.
 *
 * Screenshots of each page go to docs/img/ when INFERBOX_SCREENSHOTS=docs (npm run docs:screenshots),
 * else to a temp folder: they are always taken, so that path is tested, but a test run does not
 * rewrite the docs' images.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SHOTS = process.env.INFERBOX_SCREENSHOTS === 'docs' ? join(ROOT, 'docs', 'img') : await mkdtemp(join(tmpdir(), 'inferbox-shots-'));
const MNIST_PNG_DIR = fixturePath('mnist-png');
const DIGITS = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'];
const SAMPLE_X = (JSON.parse(readFileSync(join(ROOT, 'docs/examples/mnist-predict-request.json'), 'utf8')) as { args: { X: unknown[] } }).args.X;

/** The seed's custom script (scripts-examples/mnist-png), with a printed line. */
const PNG_TO_DIGIT = `async function preprocess_files(args) {
  const image = await args.files.Input3.image({ grayscale: true, width: 28, height: 28, layout: 'nchw' });
  console.log('decoded', args.files.Input3.name, 'as', image.shape.join('x'));
  args.X = [{ Input3: image }];
  return args;
}

function postprocess([logits]) {
  return [argmax(logits)];
}
`;

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

/** Replaces the CodeMirror editor's text as a user's paste would. */
async function setEditorText(page: Page, text: string): Promise<void> {
  await page.locator('.cm-content').click();
  await page.keyboard.press('Control+A');
  await page.keyboard.press('Delete');
  await page.keyboard.insertText(text);
}

async function resultJson(page: Page): Promise<unknown> {
  return JSON.parse((await page.getByTestId('result').textContent()) ?? 'null');
}

/**
 * On a developer's machine without Chromium this file is skipped, saying so in the test report; under
 * CI (CI=true, where .ci/run installs Chromium) a missing browser fails the run instead.
 */
const NO_BROWSER = !existsSync(CHROMIUM) && !process.env.CI ? `no Chromium at ${CHROMIUM}: apt-get install -y chromium to run the console's end-to-end tests (CI installs it)` : false;

describe('web console (Chromium)', { skip: NO_BROWSER }, () => {
  let server: TestServer;
  let browser: Browser;
  let page: Page;
  let errors: string[];

  before(async () => {
    assert.ok(existsSync(join(CONSOLE_DIR, 'app.js')), `the console is not built (${CONSOLE_DIR}): npm test builds it first (npm run build)`);
    mkdirSync(SHOTS, { recursive: true });
    server = await startTestServer({ env: { INFERBOX_WORKERS_COUNT: '1' } });
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    errors = collectPageErrors(page);
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  it('serves the console at / with a strict content security policy', async () => {
    const res = await fetch(`${server.url}/`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /text\/html/);
    assert.match(res.headers.get('content-security-policy') ?? '', /script-src 'self'/);
    assert.match(await res.text(), /<script type="module" src="\/console\/app.js">/);
    const js = await fetch(`${server.url}/console/app.js`, { headers: { 'accept-encoding': 'gzip' } });
    assert.equal(js.status, 200);
    const etag = js.headers.get('etag');
    assert.ok(etag);
    // A browser's revalidation. (fetch() adds `Cache-Control: no-cache`, an end-to-end reload, unless the request sets one.)
    assert.equal((await fetch(`${server.url}/console/app.js`, { headers: { 'if-none-match': etag, 'cache-control': 'max-age=0' } })).status, 304);
    assert.equal((await fetch(`${server.url}/console/..%2Fpackage.json`)).status, 404);
  });

  it('refuses a wrong token at sign-in with a readable message, then signs in', async () => {
    await page.goto(server.url);
    await page.getByLabel('Admin token').fill('not-the-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').getByText('That is not the admin token').waitFor();
    await page.getByLabel('Admin token').fill(ADMIN_TOKEN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Models' }).waitFor();
  });

  it('shows the server’s message when an upload is refused (a corrupt model file)', async () => {
    await page.getByTestId('model-files').setInputFiles({ name: 'broken.onnx', mimeType: 'application/octet-stream', buffer: Buffer.from('this is not an ONNX model') });
    await page.getByTestId('model-name').fill('broken');
    await page.getByTestId('publish').click();
    const alert = page.getByRole('alert');
    await alert.waitFor();
    assert.match((await alert.textContent()) ?? '', /MODEL_INVALID/);
    await shot(page, 'publish-refused');
    await page.reload();
  });

  it('publishes the MNIST ONNX model through the upload form, with x_test, and opens its overview', async () => {
    await page.getByTestId('model-files').setInputFiles(fixturePath(MNIST_ONNX));
    await page.getByTestId('model-name').fill('mnist');
    await page.getByText('Test data (optional)').click();
    await page.getByLabel('x_test (JSON)').fill(JSON.stringify(SAMPLE_X));
    await page.getByTestId('publish').click();
    await page.waitForURL(/#\/models\/mnist\/1$/);
    const overview = page.getByTestId('overview');
    await overview.waitFor();
    const text = (await overview.textContent()) ?? '';
    for (const expected of ['Input3', 'float32', '[1, 1, 28, 28]', 'Plus214_Output_0', '[1, 10]', 'onnxruntime-node']) assert.ok(text.includes(expected), `overview shows ${expected}`);
    await shot(page, 'model-overview');
    await page.goto(`${server.url}/#/models`);
    await page.getByTestId('models-table').getByText('mnist').waitFor();
    await shot(page, 'models');
  });

  it('submits the stored sample in the Test tab: ten scores, the highest for 0', async () => {
    await page.goto(`${server.url}/#/models/mnist/1/test`);
    const body = page.getByTestId('json-body');
    await body.waitFor();
    assert.match(await body.inputValue(), /"Input3"/, 'the stored sample is prefilled');
    await page.getByTestId('submit-call').click();
    await page.getByTestId('result').waitFor();
    const result = (await resultJson(page)) as { Plus214_Output_0: number[][] }[];
    const scores = result[0]!.Plus214_Output_0[0]!;
    assert.equal(scores.length, 10);
    assert.equal(scores.indexOf(Math.max(...scores)), 0);
    assert.match((await page.getByTestId('elapsed').textContent()) ?? '', /\d+ ms/);
    await shot(page, 'model-test');
    // Random payload: values of the input's shape, accepted by the model.
    const before = await page.locator('.outcome').getAttribute('data-seq');
    await page.getByRole('button', { name: 'Random payload' }).click();
    await page.getByTestId('submit-call').click();
    await page.locator(`.outcome:not([data-seq="${before}"])`).waitFor();
    await page.getByTestId('result').waitFor();
    assert.equal(await page.getByRole('alert').count(), 0);
  });

  it('generates the script, edits it into the seed’s PNG-to-digit script, and tests it as an API with a PNG', async () => {
    await page.goto(`${server.url}/#/models/mnist/1/script`);
    await page.getByTestId('generate-script').click();
    await page.locator('.cm-content').getByText('function postprocess').waitFor();
    await setEditorText(page, PNG_TO_DIGIT);
    await page.getByTestId('function-name').fill('predict');
    await page.getByLabel('Form (files and text fields)').check();
    assert.equal(await page.getByTestId('form-field-name').first().inputValue(), 'Input3', 'the image input is the first form field');
    await page.getByTestId('form-field-file').first().setInputFiles(join(MNIST_PNG_DIR, 'ps_2.png'));
    await page.getByTestId('submit-call').click();
    await page.getByTestId('result').waitFor();
    assert.deepEqual(await resultJson(page), [{ Plus214_Output_0: 2 }]);
    assert.equal(await page.getByTestId('stdout').textContent(), 'decoded ps_2.png as 1x1x28x28');
    await shot(page, 'model-script');
    await page.getByTestId('save-script').click();
    await page.getByTestId('script-status').getByText('Saved').waitFor();
  });

  it('shows a script error with its code and the line in stderr', async () => {
    await setEditorText(page, 'function postprocess(outputs) {\n  throw new Error("no digit today");\n}\n');
    await page.getByLabel('JSON', { exact: true }).check();
    await page.getByTestId('submit-call').click();
    const alert = page.getByRole('alert');
    await alert.waitFor();
    assert.match((await alert.textContent()) ?? '', /SCRIPT_FAILED.*no digit today/);
    assert.match((await page.getByTestId('stderr').textContent()) ?? '', /:2/);
  });

  it('deploys mnist-svc with the saved script and calls it with the PNG', async () => {
    await page.goto(`${server.url}/#/models/mnist/1/deploy`);
    await page.getByTestId('deployment-name').fill('mnist-svc');
    await page.locator('[data-testid=with-script]:checked').waitFor(); // checked once the saved script has loaded
    await page.getByTestId('deploy').click();
    await page.waitForURL(/#\/deployments\/mnist-svc$/);
    await page.getByTestId('endpoint-url').waitFor();
    assert.equal(await page.getByTestId('endpoint-url').textContent(), `${server.url}/api/v1/svc/mnist-svc/predict`);
    await page.getByRole('button', { name: 'Reveal' }).click();
    assert.match((await page.getByTestId('service-token').textContent()) ?? '', /^ibx_svc_/);
    await page.getByTestId('sandbox-state').getByText('running').waitFor();
    await shot(page, 'deployment');

    await page.goto(`${server.url}/#/deployments/mnist-svc/test`);
    await page.getByLabel('Form (files and text fields)').check();
    await page.getByTestId('form-field-file').first().setInputFiles(join(MNIST_PNG_DIR, 'ps_2.png'));
    await page.getByTestId('submit-call').click();
    await page.getByTestId('result').waitFor();
    assert.deepEqual(await resultJson(page), [{ Plus214_Output_0: 2 }]);
    assert.equal(await page.getByTestId('stdout').textContent(), 'decoded ps_2.png as 1x1x28x28');
  });

  it('generates a curl command that, run in a shell, answers the digit', async () => {
    await page.goto(`${server.url}/#/deployments/mnist-svc/code`);
    await page.getByTestId('code-body').selectOption('file');
    await page.getByTestId('code-file-name').fill('ps_2.png');
    const curl = (await page.getByTestId('generated-code').textContent()) ?? '';
    assert.match(curl, /^curl /);
    await shot(page, 'generated-code');
    const { stdout } = await promisify(execFile)('bash', ['-c', curl], { cwd: MNIST_PNG_DIR });
    assert.deepEqual(JSON.parse(stdout), { result: [{ Plus214_Output_0: 2 }] });

    // The JSON variant runs too: the stored sample is a 0.
    await page.getByTestId('code-body').selectOption('json');
    const { stdout: json } = await promisify(execFile)('bash', ['-c', (await page.getByTestId('generated-code').textContent()) ?? ''], { maxBuffer: 1 << 24 });
    const scores = (JSON.parse(json) as { result: { Plus214_Output_0: number }[] }).result[0]!.Plus214_Output_0;
    assert.equal(typeof scores, 'number', 'the deployed script answers the digit for JSON records too');

    // The Python and JavaScript variants name the same URL and field.
    for (const language of ['python', 'javascript']) {
      await page.getByTestId('code-language').selectOption(language);
      await page.getByTestId('code-body').selectOption('file');
      const code = (await page.getByTestId('generated-code').textContent()) ?? '';
      assert.ok(code.includes(`${server.url}/api/v1/svc/mnist-svc/predict`) && code.includes('Input3') && code.includes('ps_2.png'), code);
    }
  });

  it('counts the service’s calls per function', async () => {
    await page.goto(`${server.url}/#/deployments/mnist-svc/stats`);
    const table = page.getByTestId('stats-table');
    await table.waitFor();
    const row = table.locator('tbody tr').first();
    assert.equal(await row.locator('td').first().textContent(), 'predict');
    assert.equal(Number(await row.locator('td').nth(1).textContent()), 3);
  });

  it('sets a preprocess block and labels on a deployment without a script, shows a refused one next to its field, and the test answers labels', async () => {
    await page.goto(`${server.url}/#/models/mnist/1/deploy`);
    await page.getByTestId('deployment-name').fill('digits');
    await page.locator('[data-testid=with-script]:checked').waitFor();
    await page.getByTestId('with-script').uncheck();
    await page.getByTestId('deploy').click();
    await page.waitForURL(/#\/deployments\/digits$/);
    const block = page.getByTestId('preprocess-card');
    assert.match((await block.getByTestId('preprocess-state').textContent()) ?? '', /^none/);

    // A block the model cannot take: the server's message, under the block's editor.
    await block.getByTestId('preprocess-editor').fill('{ "Input3": { "color": "rgb" } }');
    await block.getByTestId('save-preprocess').click();
    const refused = block.getByRole('alert');
    await refused.waitFor();
    assert.match((await refused.textContent()) ?? '', /REQUEST_INVALID.*preprocess\.Input3\.color: "rgb" makes 3 channels; input 'Input3' \[1,1,28,28\] takes 1/);

    await block.getByTestId('preprocess-editor').fill('{ "Input3": { "fit": "fill", "scale": 1 } }');
    await block.getByTestId('save-preprocess').click();
    await block.getByTestId('preprocess-state').getByText('set for this deployment').waitFor();
    assert.deepEqual((await server.client.getDeployment('digits')).preprocess, { Input3: { fit: 'fill', scale: 1 } });

    const labels = page.getByTestId('labels-card');
    await labels.getByTestId('labels-file').setInputFiles({ name: 'digits.txt', mimeType: 'text/plain', buffer: Buffer.from(`${DIGITS.join('\n')}\n`) });
    await labels.locator('[data-testid=labels-text]').evaluate((el, want) => (el as unknown as { value: string }).value.startsWith(want), 'zero\none').then((ok) => assert.ok(ok, 'the file fills the labels'));
    await labels.getByTestId('top-k').fill('3');
    await labels.getByTestId('save-labels').click();
    await labels.getByTestId('labels-top-k').getByText('3').waitFor();
    // The names come from GET .../labels, loaded after the view: wait for them rather than race them.
    await labels.getByTestId('labels-now').getByText(/\(zero, one, two, three, four, …\)/).waitFor();
    assert.match((await labels.getByTestId('labels-now').textContent()) ?? '', /Plus214_Output_0: 10 labels, scores softmaxed logits \(zero, one, two, three, four, …\)/);

    // top_k over the label count: refused, told under top_k.
    await labels.getByTestId('top-k').fill('11');
    await labels.getByTestId('save-top-k').click();
    const tooMany = labels.getByRole('alert');
    await tooMany.waitFor();
    assert.match((await tooMany.textContent()) ?? '', /REQUEST_INVALID.*top_k must be at most 10/);
    await shot(page, 'deployment-preprocess-labels');

    await page.goto(`${server.url}/#/deployments/digits/test`);
    await page.getByLabel('Form (files and text fields)').check();
    await page.getByTestId('form-field-file').first().setInputFiles(join(MNIST_PNG_DIR, 'ps_2.png'));
    await page.getByTestId('submit-call').click();
    await page.getByTestId('result').waitFor();
    const answer = (await resultJson(page)) as { Plus214_Output_0: { label: string; score: number }[] }[];
    assert.deepEqual(answer[0]!.Plus214_Output_0.map((s) => s.label).slice(0, 1), ['two']);
    assert.equal(answer[0]!.Plus214_Output_0.length, 3);
  });

  it('shows the block a Keras model implies on its version page, and on a deployment that took it', async () => {
    await server.client.publishModel({ name: 'keras-pre', files: [{ name: 'rescale-norm.keras', data: readFileSync(fixturePath('keras-preprocessing/rescale-norm.keras')) }] });
    await page.goto(`${server.url}/#/models/keras-pre/1`);
    const implied = page.getByTestId('implied-preprocess');
    await implied.waitFor();
    assert.deepEqual(JSON.parse((await implied.getByTestId('implied-block').textContent()) ?? ''), { image: { scale: 1 } });
    assert.match((await implied.getByTestId('implied-reason').textContent()) ?? '', /Rescaling "to_unit".*Normalization "standardize".*raw 0\.\.255 pixels/);
    await server.client.createDeployment({ deployment_name: 'keras-pre-svc', model_name: 'keras-pre' });
    await page.goto(`${server.url}/#/deployments/keras-pre-svc`);
    await page.getByTestId('preprocess-state').getByText('the block the model version implies').waitFor();
    assert.deepEqual(JSON.parse(await page.getByTestId('preprocess-editor').inputValue()), { image: { scale: 1 } });
  });

  it('fits a 390x844 phone screen without sideways scrolling', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    for (const hash of ['#/models', '#/models/mnist/1', '#/models/mnist/1/script', '#/deployments/mnist-svc', '#/deployments/digits']) {
      await page.goto(`${server.url}/${hash}`);
      await page.locator('main h1').waitFor();
      // A string: this file is type-checked without the DOM library (it runs in the page).
      const overflow = (await page.evaluate('document.documentElement.scrollWidth - window.innerWidth')) as number;
      assert.ok(overflow <= 0, `${hash} is ${overflow}px wider than the screen`);
    }
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  it('had no uncaught error or console error in the page', () => {
    assert.deepEqual(errors, []);
  });
});
