import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { fixturePath, IRIS_ONNX } from '../helpers/fixtures.js';
import { deploymentBecomes, KillRig, oneMoreVersion, scriptText, startPublishUpload, whenFile } from '../helpers/kill-restart.js';

/**
 * kill -9 of the front (spawned as `npm start` runs it) in the middle of a publish and of a script
 * switch, each followed by a restart on the same data directory: the store holds the old state or
 * the new one, everything listed serves, and no temp file is left (test/helpers/kill-restart.ts).
 * Each point is found by watching the data directory or the log, not by timing. Each restart costs
 * seconds, so the other kill points (each step of a Keras conversion, varied delays, deployment
 * creation, deletion and version switches) run in npm run test:soak (test/soak/kill-restart.test.ts).
 */
describe('kill -9 of the server mid-change, then a restart on the same data directory (#14)', () => {
  let rig: KillRig;
  before(async () => {
    rig = await KillRig.create();
  });
  after(() => rig?.close());

  it('during a publish, with half the model file on disk', async () => {
    const onnx = await readFile(fixturePath(IRIS_ONNX));
    await rig.cycle(
      'publish mid-upload',
      (s) => startPublishUpload(s.url, 'iris', 'logreg_iris.onnx', onnx, { stopAt: onnx.length >> 1 }).answered,
      (_s, done) => whenFile(rig.dataDir, 'tmp/uploads', (f) => f.size > 0, done),
      oneMoreVersion('iris'),
    );
  });

  it('during a PATCH of the script, once the new sandboxes are built, just before the switch', async () => {
    await rig.cycle(
      'PATCH script',
      (s) => s.client.patchDeployment('scripted', { script: scriptText('B') }),
      (s) => s.waitForLine((l) => l.msg === 'sandboxes ready', s.lines.length),
      deploymentBecomes('scripted', (b) => ({ ...b.deployments.scripted!, script: scriptText('B') })),
    );
  });
});
