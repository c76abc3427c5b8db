import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fixturePath } from '../helpers/fixtures.js';
import { deploymentBecomes, KillRig, listFiles, oneMoreVersion, scriptText, startPublishUpload, whenFile, type KillPoint } from '../helpers/kill-restart.js';

/**
 * kill -9 of the front at many points of a publish and of deployment changes, each followed by a
 * restart on the same data directory (test/helpers/kill-restart.ts checks old-or-new, that all
 * serves, and that no temp file is left). A publish is killed at each step of a Keras conversion,
 * found by watching the data directory; the other kill points vary by delay. Which side of the
 * commit each lands on depends on the machine and is only reported, never asserted.
 * test/integration/kill-restart.test.ts kills mid-upload and mid-switch in npm test.
 */
describe('kill -9 of the server at varied points, then a restart on the same data directory (#14)', () => {
  let rig: KillRig;
  const DELAYS_MS = [0, 5, 15, 40, 100, 250];
  before(async () => {
    rig = await KillRig.create();
  });
  after(() => rig?.close());

  it('during a publish of a Keras .h5: staged, converted, manifest written, committed, and at delays after the upload', async () => {
    const h5 = await readFile(fixturePath('keras2-mnist-mlp-h5/mnist.h5'));
    let sent: Promise<void> = Promise.resolve();
    const publish = (s: { url: string }) => {
      const upload = startPublishUpload(s.url, 'mnistk', 'mnist.h5', h5);
      sent = upload.sent;
      return upload.answered;
    };
    const inStaging = (test: (path: string) => boolean): KillPoint => (_s, done) => whenFile(rig.dataDir, 'tmp', (f) => test(f.path), done);
    const committed = new Set<string>();
    const steps: [string, KillPoint][] = [
      // The front moved the upload into a staging folder: the scratch worker detects and converts it.
      ['staged', inStaging((p) => p.endsWith('upload/mnist.h5'))],
      // The converter wrote the TF.js artefacts (the first .h5 of a worker's life starts TF.js first).
      ['converted', inStaging((p) => p.endsWith('weights.bin'))],
      // The front wrote the manifest: the commit's rename comes next.
      ['manifest written', inStaging((p) => p.endsWith('manifest.json'))],
      // The new version folder is in place; the answer may not have left yet.
      ['committed', (_s, done) => whenFile(rig.dataDir, 'models/mnistk', (f) => f.path.endsWith('manifest.json') && !committed.has(f.path), done)],
      ...[0, 20, 80].map((ms): [string, KillPoint] => [`${ms} ms after the upload`, () => sent.then(() => sleep(ms))]),
    ];
    for (const [step, killPoint] of steps) {
      for (const f of await listFiles(rig.dataDir, 'models/mnistk')) committed.add(f.path);
      await rig.cycle(`publish (${step})`, publish, killPoint, oneMoreVersion('mnistk'));
    }
  });

  it('during PATCH switching the model version', async () => {
    const other = (v: string) => (v === '1' ? 2 : 1);
    for (const ms of DELAYS_MS) {
      await rig.cycle(
        'PATCH model_version',
        (s) => s.client.patchDeployment('iris-svc', { model_version: other(rig.current('iris-svc')!.version) }),
        () => sleep(ms),
        deploymentBecomes('iris-svc', (b) => ({ ...b.deployments['iris-svc']!, version: String(other(b.deployments['iris-svc']!.version)) })),
      );
    }
  });

  it('during PATCH switching the script', async () => {
    const other = (script: string | null) => scriptText(script?.includes("'A'") ? 'B' : 'A');
    const patch = (s: KillRig['server']) => s.client.patchDeployment('scripted', { script: other(rig.current('scripted')!.script) });
    const becomes = deploymentBecomes('scripted', (b) => ({ ...b.deployments.scripted!, script: other(b.deployments.scripted!.script) }));
    for (const ms of DELAYS_MS) await rig.cycle('PATCH script', patch, () => sleep(ms), becomes);
  });

  it('during the creation and the deletion of a deployment', async () => {
    for (const ms of DELAYS_MS) {
      const name = `made-${ms}`;
      await rig.cycle('create deployment', (s) => s.client.createDeployment({ deployment_name: name, model_name: 'iris' }), () => sleep(ms), deploymentBecomes(name, () => ({ model: 'iris', version: '2', script: null })));
      if (rig.current(name) === undefined) await rig.server.client.createDeployment({ deployment_name: name, model_name: 'iris' });
      await rig.cycle('delete deployment', (s) => s.client.deleteDeployment(name), () => sleep(ms), deploymentBecomes(name, () => undefined));
    }
  });

  it('reports where the kills landed', (t) => {
    t.diagnostic(`kills that landed before/after the commit: ${JSON.stringify(rig.landed)}`);
  });
});
